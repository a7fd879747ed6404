"""Pure functions: phone/email normalisation, masking, identity resolution, batching, parsing."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
from datetime import UTC, datetime

import polars as pl
import pytest

from connectors.product_events import identity, load_events, pii
from connectors.product_events.discovery import batches
from connectors.product_events.parse import UnreadableFile, gunzip, parse_lines, split_lines
from roi.core.errors import ConfigError
from roi.core.settings import Settings


@pytest.mark.parametrize(
    ("phone", "country", "e164"),
    [
        ("+1 415 555 0123", "US", "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("1-415-555-0123", "US", "+14155550123"),
        ("07700 900123", "GB", "+447700900123"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("612 345 678", "ES", "+34612345678"),
        ("06 1234 5678", "IT", "+390612345678"),  # Italy keeps its leading 0
        ("06-12345678", "NL", "+31612345678"),
        ("0049 151 23456789", "DE", "+4915123456789"),
        ("+44 7700 900123", "US", "+447700900123"),  # international wins over country
    ],
)
def test_phone_to_e164(phone: str, country: str, e164: str) -> None:
    assert pii.canonical_phone(phone, country) == e164


def test_email_normalised_and_hash_over_distinct_values() -> None:
    df = pl.DataFrame({"email": [" A@B.com", "a@b.COM ", None], "phone": [None, None, None]})
    out = pii.hash_pii(df, b"p" * 16)
    assert out["email_hash"][0] == out["email_hash"][1] and out["email_hash"][2] is None
    assert "email" not in out.columns and len(out["email_hash"][0]) == 64


def test_pii_hashed_per_distinct_value_equals_hashing_every_row() -> None:
    """Normalisation and HMAC run once per distinct (value, country): the same national number
    in two countries is two people, a missing country stays a key of its own, and extra fields
    named like email/phone are hashed, other extra text masked, exactly as row by row."""
    pep = b"p" * 16
    df = pl.DataFrame(
        {
            "email": [" A@B.com", "a@b.COM ", None, "c@d.fr", None],
            "phone": ["0151 23456789", "0151 23456789", "0151 23456789", None, "+1 415 555 0123"],
            "country": ["DE", "GB", None, "FR", "DE"],
            "backup_email": ["X@Y.com", None, "x@y.com ", None, None],
            "work_phone": ["06 12 34 56 78", None, None, "06 12 34 56 78", None],
            "note": ["mail me at a@b.com", None, "call +49 151 2345678", "ok", "ok"],
        }
    )
    out = pii.hash_extra_pii(pii.hash_pii(df, pep), ["backup_email", "work_phone", "note"], pep)

    def hashed(values: pl.Series) -> list[str | None]:
        return [None if v is None else hmac.new(pep, v.encode(), hashlib.sha256).hexdigest() for v in values]

    def emails(col: str) -> pl.Series:
        return pl.Series([pii.canonical_email(v) for v in df[col]], dtype=pl.String)

    def phones(col: str) -> pl.Series:
        forms = [pii.canonical_phone(v, c) for v, c in zip(df[col], df["country"], strict=True)]
        return pl.Series(forms, dtype=pl.String)

    assert out["email_hash"].to_list() == hashed(emails("email"))
    assert out["phone_hash"].to_list() == hashed(phones("phone"))
    assert len(set(out["phone_hash"].to_list()[:3])) == 3  # DE, GB and unknown country differ
    assert out["backup_email"].to_list() == hashed(emails("backup_email"))
    assert out["work_phone"].to_list() == hashed(phones("work_phone"))
    assert out["note"].to_list() == pii.mask_lines(df["note"]).to_list()
    assert out["note"][0] == "mail me at [email]" and "+49" not in out["note"][2]


def test_mask_lines_removes_emails_and_phones_even_in_broken_json() -> None:
    lines = pl.Series(
        [
            '{"email":"Jo.Doe@mail.example.com","phone":"+1 415 555 0123","x":1}',
            '{"event_id":"e","phone":"07700 9001',
            '{"phone": 4155550123, "device_id":"abc"}',
            "free text jo@x.io and (415) 555-0123 and 0151 23456789",
        ]
    )
    out = pii.mask_lines(lines).to_list()
    joined = "\n".join(out)
    for s in ("Jo.Doe", "555 0123", "07700", "4155550123", "abc", "jo@x.io", "555-0123", "23456789"):
        assert s not in joined
    assert '"x":1' in out[0] and '"event_id":"e"' in out[1]


def _edges(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "from_user_id": [r[0] for r in rows],
            "to_user_id": [r[1] for r in rows],
            "merged_at": [datetime(2026, 1, 1, r[2], tzinfo=UTC) for r in rows],
            "event_id": [f"m{i}" for i in range(len(rows))],
        },
        schema=identity.EDGE_SCHEMA,
    )


def test_identity_chains_resolve_transitively() -> None:
    out = identity.resolve(_edges([("a", "b", 1), ("b", "c", 2), ("c", "d", 3), ("x", "y", 1)]))
    assert dict(out.select("from_user_id", "canonical_user_id").iter_rows()) == {
        "a": "d",
        "b": "d",
        "c": "d",
        "x": "y",
    }


def test_identity_latest_merge_of_a_user_wins_and_cycles_break_at_the_oldest_edge() -> None:
    out = identity.resolve(_edges([("a", "b", 1), ("a", "c", 2), ("c", "a", 3), ("d", "c", 4)]))
    # a->b superseded by a->c; cycle a->c (t2), c->a (t3): the oldest edge (a->c) goes, a is canonical
    assert dict(out.select("from_user_id", "canonical_user_id").iter_rows()) == {"c": "a", "d": "a"}


def test_batches_respect_file_and_byte_limits() -> None:
    files = pl.DataFrame(
        {"file_key": [f"k{i}" for i in range(7)], "size_bytes": [10, 10, 50, 10, 200, 10, 10]}
    )
    got = [b["file_key"].to_list() for b in batches(files, max_files=3, max_bytes=60)]
    assert got == [["k0", "k1"], ["k2", "k3"], ["k4"], ["k5", "k6"]]
    assert sum(len(b) for b in got) == 7


def _gunzip(data: bytes) -> bytes:
    return bytes(gunzip(io.BytesIO(data), max_bytes=2**30))


def test_a_truncated_gzip_is_unreadable_never_read_in_part() -> None:
    data = gzip.compress(b'{"a":1}\n' * 2000 + b'{"b":2}\n')
    with pytest.raises(UnreadableFile, match="truncated"):
        _gunzip(data[: len(data) // 2 + 10])
    assert len(split_lines("k", _gunzip(data)).lines) == 2001


def test_gunzip_reads_what_the_standard_library_reads() -> None:
    """The streaming ISA-L inflate gives gzip.decompress's bytes: several members (a sink that
    appends), an empty file; a stream with garbage after it or a corrupted body is unreadable
    (a file is loaded whole or not at all), an error that names no content."""
    body = b"".join(b'{"a":%d}\n' % i for i in range(3000))
    one = gzip.compress(body)
    assert len(one) > 2000
    for data in (one, one + gzip.compress(b'{"b":2}\n'), b""):
        assert _gunzip(data) == gzip.decompress(data)
    for damaged in (one + b"junk", one[:1000] + bytes(64) + one[1064:], b"not gzip"):
        with pytest.raises(UnreadableFile) as exc:
            _gunzip(damaged)
        assert str(exc.value).startswith("unreadable gzip") and "junk" not in str(exc.value)


def test_parse_gives_one_reason_per_bad_line_and_keeps_line_numbers() -> None:
    good = (
        '{"event_id":"x","event_type":"purchase","event_ts":"2026-01-01T00:00:00.000Z",'
        '"received_at":"2026-01-01T00:00:01.000Z","schema_version":1,"user_id":"u","revenue":1}'
    )
    text = "\n".join(
        [
            good,
            "{oops",
            good.replace('"purchase"', '"ping"'),
            good.replace("2026-01-01T00:00:00.000Z", "soon"),
        ]
    )
    parsed = parse_lines([split_lines("f", (text + "\n").encode())])
    assert parsed.valid["_line_no"].to_list() == [1]
    assert parsed.dead.select("_line_no", "reason").rows() == [
        (2, "malformed_json"),
        (3, "unknown_event_type:event_type"),
        (4, "wrong_type:event_ts"),
    ]


def test_missing_pepper_is_one_line_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as exc:
        Settings(pii_pepper=None).require_pepper()
    assert "ROI_PII_PEPPER" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ConfigError) as exc2:
        load_events(object(), str(tmp_path), b"")
    assert "ROI_PII_PEPPER" in str(exc2.value) and "\n" not in str(exc2.value)
