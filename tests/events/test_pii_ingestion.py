"""PII hardening at ingestion (issue 17, item 4): each leak the probes found, loaded through
``load_events`` into a warehouse, then looked for in every text column of every table.

1. a personal field spelled otherwise (``Phone``) is a ``field_name_clash`` dead letter whose
   line must still be masked;
2. a dead letter's ``reason`` never quotes the line (an e-mail as ``event_type``);
3. new fields named like personal data (``mobile``, ``msisdn``, ``ip``, ``user_agent``,
   ``first_name``, ``idfa``, an address) are hashed, generalised or dropped, never kept;
4. JSON-escaped values (``\\u0040``) are masked as the decoded text they are;
5. one phone written two ways hashes once (``phonenumbers``, E.164 in the event's country), and
   e-mails are canonicalised (NFKC, trim, lower-case) before hashing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from connectors.product_events import load_events, pii
from simulator.events import ids as sim_ids
from tests.events import dirty
from tests.events.conftest import PEPPER, make_warehouse

DAY = "2026-01-05"
KEY = f"events/dt={DAY}/hour=10/part-pii.jsonl.gz"
TS, RX = f"{DAY}T10:00:00Z", f"{DAY}T10:00:01Z"

CLASH_PHONE = "447700900456"  # digits alone: no value mask knows it
TYPE_EMAIL = "bob.probe.with.a.rather.long.local.part@example-domain.com"
TYPE_NAME = "Jane Probe-Doe"
EXTRAS = {
    "mobile": "+49 151 99988877",
    "msisdn": "4915199988866",
    "ip": "203.0.113.77",
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Mobile Safari/604.1",
    "first_name": "Zebedee",
    "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
    "home_address": "12 Probe Street, London",
    "e_mail": "Extra.Probe@Example.com",
}
UNKNOWN_FIELD_VALUES = {"note": "reach me at nested.probe@example.net or +44 20 7946 0111"}
# an escaped "@" and escaped spaces, as a JSON writer may emit them (json.dumps escapes non-ASCII)
ESCAPED_EMAIL = "carol\\u0040probe.example"
ESCAPED_PHONE = "+44\\u00207700\\u0020900789"


def _line(event_id: str, event_type: str, **fields: object) -> str:
    return dirty.ev(event_id, event_type, TS, RX, 1, **fields)


def _signup(event_id: str, user: str, **fields: object) -> str:
    return _line(
        event_id, "user_signup", user_id=user, anonymous_id=f"a-{user}", device_platform="web", **fields
    )


def _lines() -> list[str]:
    escaped_dead = (
        '{"event_id":"d4","event_type":"landing","event_ts":"' + TS + '","received_at":"' + RX + '",'
        '"schema_version":1,"note":"' + ESCAPED_EMAIL + '","memo":"' + ESCAPED_PHONE + '"}'
    )
    escaped_loaded = (
        '{"event_id":"l4","event_type":"landing","event_ts":"' + TS + '","received_at":"' + RX + '",'
        '"schema_version":1,"anonymous_id":"a4","note":"' + ESCAPED_EMAIL + '"}'
    )
    return [
        _signup("d1", "u1", country="GB", Phone=CLASH_PHONE),  # 1: dead, field_name_clash
        _line("d2", TYPE_EMAIL),  # 2: dead, unknown type
        _line("d3", TYPE_NAME),
        _line("l3", "landing", anonymous_id="a3", country="DE", **EXTRAS, **UNKNOWN_FIELD_VALUES),  # 3
        escaped_dead,  # 4: dead (landing without anonymous_id)
        escaped_loaded,
        _signup(
            "p1", "u5", country="GB", phone="+44 (0) 20 7946 0958", email="Ｅｖｅ.Probe@Example.com"
        ),  # 5
        _signup("p2", "u6", country="GB", phone="020 7946 0958", email=" eve.probe@example.com"),
        _signup("p3", "u7", country="JP", phone="090-1234-5678"),
    ]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("events_pii")
    path = root / "landing" / KEY
    path.parent.mkdir(parents=True)
    dirty.write(root / "landing", {KEY: [dirty.Line(t, "") for t in _lines()]}, 1767607800)
    wh = make_warehouse(root)
    s = load_events(wh.dlt_pipeline("product_events", "raw_events"), str(root / "landing"), PEPPER)
    assert (s.loaded, s.dead_letters) == (5, 4)
    yield wh
    wh.close()


def _sql(wh: Any, q: str) -> pl.DataFrame:
    df: pl.DataFrame = wh.connection().cursor().sql(q).pl()
    return df


def _all_text(wh: Any) -> str:
    """Every text value of every raw_events table, one string."""
    cur = wh.connection().cursor()
    cols = cur.sql(
        "select table_name, column_name from information_schema.columns where table_schema = 'raw_events' "
        "and data_type = 'VARCHAR'"
    ).fetchall()
    out = []
    for table, col in cols:
        out += [str(v) for v in cur.sql(f'select "{col}" from raw_events."{table}"').pl().to_series()]
    return "\n".join(out)


def _mac(v: str) -> str:
    return hmac.new(PEPPER, v.encode(), hashlib.sha256).hexdigest()


def _digits(v: str) -> str:
    return "".join(c for c in v if c.isdigit())


def _dead(wh: Any) -> dict[str, tuple[str, str]]:
    df = _sql(wh, "select line_no, reason, line from raw_events.dead_letters order by line_no")
    ids = {i + 1: json.loads(t)["event_id"] if t.startswith("{") else "" for i, t in enumerate(_lines())}
    return {ids[r[0]]: (r[1], r[2]) for r in df.iter_rows()}


def test_a_personal_field_spelled_otherwise_is_masked_in_its_dead_letter(loaded: Any) -> None:
    reason, line = _dead(loaded)["d1"]
    assert reason == "field_name_clash:Phone"
    assert _digits(CLASH_PHONE)[-6:] not in _digits(line)
    assert '"event_id": "d1"' in line  # the rest of the line is kept for debugging


@pytest.mark.parametrize(
    "name", ["Phone", "PHONE", "phone_number", "phone-number", "e_mail", "E-Mail", "userAgent"]
)
def test_personal_keys_are_masked_whatever_their_case_or_separators(name: str) -> None:
    line = json.dumps({"event_id": "x", name: "Some One 447700900456"}, separators=(",", ":"))
    masked = pii.mask_lines(pl.Series([line]))[0]
    assert "900456" not in masked and "Some" not in masked and '"event_id":"x"' in masked


def test_a_dead_letter_reason_never_quotes_the_line(loaded: Any) -> None:
    dead = _dead(loaded)
    assert dead["d2"][0] == dead["d3"][0] == "unknown_event_type:event_type"
    reasons = _sql(loaded, "select reason from raw_events.dead_letters")["reason"].to_list()
    assert not any(s in r for r in reasons for s in ("bob", "probe", "Jane", "Doe", "[email]"))


def test_new_personal_fields_are_hashed_generalised_or_dropped(loaded: Any) -> None:
    text = _all_text(loaded)
    for v in (*EXTRAS.values(), "Extra.Probe", "extra.probe", "nested.probe", "7946 0111", "203.0.113"):
        assert v not in text
    for v in ("99988877", "99988866", "0113", "Zebedee", "zebedee", "76104861", "76104861e7dc"):
        assert v not in text
    row = _sql(loaded, "select * from raw_events.events where event_id = 'l3'").row(0, named=True)
    assert row["mobile"] == _mac("+4915199988877")  # E.164 in the event's country
    assert row["msisdn"] == _mac("+4915199988866")  # an MSISDN is international without '+'
    assert row["ip"] == _mac("203.0.113.77")
    assert row["first_name"] == _mac("zebedee")
    assert row["idfa"] == _mac(EXTRAS["idfa"].lower())
    assert row["e_mail"] == _mac("extra.probe@example.com")
    assert row["user_agent"] == "iOS/Safari"  # generalised: a fingerprint otherwise
    assert "home_address" not in row  # dropped: a hash of an address serves nothing
    assert row["note"] == "reach me at [email] or [phone]"


def test_json_escaped_values_are_masked_as_decoded(loaded: Any) -> None:
    text = _all_text(loaded)
    for v in (ESCAPED_EMAIL, "carol@probe", "carol", "900789", ESCAPED_PHONE):
        assert v not in text
    reason, line = _dead(loaded)["d4"]
    assert reason == "missing_field:anonymous_id" and "[email]" in line and "[phone]" in line
    note = _sql(loaded, "select note from raw_events.events where event_id = 'l4'")["note"][0]
    assert note == "[email]"


def test_one_phone_written_two_ways_hashes_once_and_emails_are_canonical(loaded: Any) -> None:
    h = {
        r[0]: r[1:]
        for r in _sql(loaded, "select event_id, phone_hash, email_hash from raw_events.events").rows()
    }
    assert h["p1"][0] == h["p2"][0] == _mac("+442079460958")
    assert h["p3"][0] == _mac("+819012345678")  # any country phonenumbers knows, not a fixed table
    assert h["p1"][1] == h["p2"][1] == _mac("eve.probe@example.com")  # NFKC folds the full-width letters


@pytest.mark.parametrize(
    ("phone", "country", "e164"),
    [
        ("+44 (0) 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "gb", "+442079460958"),
        ("0049 151 23456789", None, "+4915123456789"),  # 00 is the international prefix
        ("0151 23456789", None, "015123456789"),  # national, no country: its digits
        ("n/a", "US", None),  # nothing to hash
    ],
)
def test_phone_canonical_form(phone: str, country: str | None, e164: str | None) -> None:
    assert pii.canonical_phone(phone, country) == e164


def test_email_canonical_form() -> None:
    assert pii.canonical_email("  Ａlice.Smith@Example.COM\u3000") == "alice.smith@example.com"
    assert pii.canonical_email("   ") is None


def test_subject_hashes_include_the_legacy_normalisation(tmp_path: Path) -> None:
    """Hashes stored before the phonenumbers change stay findable for erasure."""
    got = pii.subject_hashes(PEPPER, phone="+44 (0) 20 7946 0958", country="GB")
    assert _mac("+442079460958") in got["phone_hash"] and _mac("+4402079460958") in got["phone_hash"]
    assert pii.subject_hashes(PEPPER, email=" Eve@X.com")["email_hash"] == [_mac("eve@x.com")]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Phone", "phone"),
        ("phone_number", "phone"),
        ("phone-number", "phone"),
        ("MobileNumber", "phone"),
        ("MSISDN", "msisdn"),
        ("e_mail", "email"),
        ("EMailAddress", "email"),
        ("clientIP", "id"),
        ("ip_address", "id"),
        ("customer_first_name", "id"),
        ("IDFA", "id"),
        ("gaid", "id"),
        ("UserAgent", "user_agent"),
        ("billing_address", "drop"),
        ("zip", "drop"),
        ("date_of_birth", "drop"),
        ("campaign_name", None),
        ("ad_id", None),  # the contract's ad, not an advertising id
        ("user_id", None),
        ("app_version", None),
        ("promoCode", None),
    ],
)
def test_field_names_are_classified_whatever_their_case_or_separators(name: str, kind: str | None) -> None:
    assert pii.field_kind(name) == kind


def test_flags_named_like_personal_fields_are_not_hashed() -> None:
    df = pl.DataFrame({"is_mobile": ["true", "+44 7700 900123"], "email_opt_in": ["false", "a@b.co"]})
    out = pii.hash_extra_pii(df, ["is_mobile", "email_opt_in"], PEPPER)
    assert out["is_mobile"].to_list() == ["true", _mac("+447700900123")]
    assert out["email_opt_in"].to_list() == ["false", _mac("a@b.co")]


def test_the_simulators_phones_and_emails_hash_as_before() -> None:
    """Ordinary data: the new canonical forms equal the old ones, so stored hashes, the
    simulator's truth and every comparison built on them are unchanged."""
    rng = np.random.default_rng(17)
    country = pl.Series(rng.choice(["US", "GB", "DE", "FR"], 5000))
    phones = sim_ids.phones(rng, country, rng.random(5000) < 0.5)
    emails = sim_ids.emails(rng, country, rng.random(5000) < 0.05)
    # the old normalisation over the whole frame at once (legacy_phone_e164 is one value a frame)
    legacy = pl.DataFrame({"v": phones, "c": country}).select(
        pii._legacy_phone_expr(pl.col("v"), pl.col("c"))
    )
    for p, c, old in zip(phones, country, legacy.to_series(), strict=True):
        assert pii.canonical_phone(p, c) == old
    for e in emails:
        assert pii.canonical_email(e) == e.strip().lower()
