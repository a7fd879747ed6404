"""Erasure requests and tombstones without a world: the command's input, what a request stores,
the monitoring rule on overdue requests, and the ingest filter's keyed matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from connectors.product_events import helpers, pii
from roi.core.errors import ConfigError, UserInputError

KEY = b"tombstone-key-for-tests-0123456789"
PEPPER = b"pepper-for-tests-0123456789"
T0 = datetime(2026, 11, 12, 7, tzinfo=UTC)


def _main(args: list[str]) -> int:
    from roi.cli.root import main

    return main(args)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--email", "a@b.c", "--user-id", "u1"], "exactly one subject"),
        ([], "exactly one subject"),
        (["--email", "not-an-email"], "needs an @"),
        (["--phone", "12"], "at least 5 digits"),
        (["--email", "a@b.c", "--country", "GB"], "--country goes with --phone"),
        (["--phone", "020 7946 0958", "--country", "GBR"], "two-letter"),
        (["--user-id", "u1", "--request-id", "bad id!"], "--request-id"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], says: str, fresh_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(["privacy", "erase", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    assert not fresh_warehouse.exists()  # nothing was started


def test_no_tombstone_key_is_exit_3(
    fresh_warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from roi.core.settings import reset_settings

    monkeypatch.delenv("ROI_TOMBSTONE_KEY", raising=False)
    reset_settings()
    assert _main(["privacy", "erase", "--user-id", "u1"]) == 3
    assert "ROI_TOMBSTONE_KEY is not set" in capsys.readouterr().err


def test_a_request_stores_no_plaintext_is_due_in_72_hours_and_the_rule_sees_it(fresh_warehouse: Path) -> None:
    from flows.erasure_requests import Subject, open_requests, record_request
    from flows.rule_spec import RuleSpec
    from flows.rules import erasure_overdue
    from roi.core.warehouse import get_warehouse

    wh = get_warehouse()
    wh.bootstrap()
    with wh.session("test"):
        cur = wh.connection().cursor()
        subject = Subject("phone", "020 7946 0958", "GB")
        kw = {"received_at": T0, "pepper": PEPPER, "key": KEY, "key_id": "k1"}
        rid = record_request(cur, subject, request_id="t-1", **kw)
        assert record_request(cur, subject, request_id="t-1", **kw) == rid  # a retry is the same request
        with pytest.raises(UserInputError, match="another subject"):
            record_request(cur, Subject("user_id", "u1"), request_id="t-1", **kw)
        row = cur.execute("select * from audit.erasure_requests").fetchall()
        text = repr(row)
        for clear in ("7946", "+442079460958", "020 7946 0958"):
            assert clear not in text
        assert pii.hmac_one(KEY, "+442079460958") in text
        (req,) = open_requests(cur)
        assert (
            req.lookup["phone_hash"]
            == pii.subject_hashes(PEPPER, phone="020 7946 0958", country="GB")["phone_hash"]
        )
        due = cur.execute("select due_at from audit.erasure_requests").fetchone()[0]
        assert due - T0 == timedelta(hours=72)
        spec = RuleSpec("erasure_overdue", {"max_open_hours": 48})
        assert erasure_overdue(cur, T0 + timedelta(hours=47), spec) == []
        (fired,) = erasure_overdue(cur, T0 + timedelta(hours=49), spec)
        assert fired.key == "t-1"


def _tombs(rows: list[tuple[str, str]], key_id: str = "k1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "subject_type": [r[0] for r in rows],
            "subject_id": [r[1] for r in rows],
            "key_id": [key_id] * len(rows),
        }
    )


def test_keyed_tombstones_match_emails_and_phones_in_any_spelling_whatever_the_pepper() -> None:
    """The tombstone hashes the canonical form under its own key: a national phone with its
    country, an e-mail in another case, match; the pepper is not involved."""
    erased = _tombs(
        [("email", pii.hmac_one(KEY, "alice@example.com")), ("phone", pii.hmac_one(KEY, "+442079460958"))]
    )
    parsed = pl.DataFrame(
        {
            "email": ["  Alice@Example.COM ", "bob@example.com", None],
            "phone": [None, "+1 415 555 0123", "020 7946 0958"],
            "country": ["US", "US", "GB"],
        }
    )
    assert helpers.keyed_erased_pii(parsed, erased, KEY, "k1").to_list() == [True, False, True]
    assert helpers.keyed_erased_pii(parsed, erased, KEY, "other").to_list() == [False, False, False]


def test_keyed_tombstones_match_user_device_and_anonymous_ids_in_every_column() -> None:
    erased = _tombs([("user_id", pii.hmac_one(KEY, "u1")), ("device_id", pii.hmac_one(KEY, "d9"))])
    valid = pl.DataFrame(
        {
            "user_id": ["u1", None, "u2", None],
            "to_user_id": [None, "u1", None, None],
            "device_id": [None, None, None, "d9"],
        }
    )
    assert helpers.keyed_erased_ids(valid, erased, KEY, "k1").to_list() == [True, True, False, True]
    # plain-text tombstones are not matched as hashes, nor keyed ones as plain text
    assert valid.filter(helpers.erased_mask(valid, erased)).height == 0


def test_a_keyed_tombstone_without_its_key_stops_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.product_events import tombstone_key
    from roi.core.settings import get_settings, reset_settings

    erased = _tombs([("user_id", "abc")], key_id="k-old")
    monkeypatch.delenv("ROI_TOMBSTONE_KEY", raising=False)
    reset_settings()
    with pytest.raises(ConfigError, match="ROI_TOMBSTONE_KEY is not set"):
        tombstone_key(erased)
    monkeypatch.setenv("ROI_TOMBSTONE_KEY", KEY.decode())
    reset_settings()
    with pytest.raises(ConfigError, match="another ROI_TOMBSTONE_KEY"):
        tombstone_key(erased)
    _, key_id = get_settings().require_tombstone_key()
    assert tombstone_key(_tombs([("user_id", "abc")], key_id=key_id)) == (KEY, key_id)
    assert tombstone_key(erased.with_columns(key_id=pl.lit(None, pl.String))) is None
    reset_settings()
