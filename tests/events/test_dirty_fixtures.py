"""Every kind of dirt, line by line, against the outcome written beside each fixture line."""

from __future__ import annotations

import hashlib
import hmac

import polars as pl

from connectors.product_events import load_events
from tests.events import dirty
from tests.events.conftest import PEPPER, Loaded, erase

COUNTS = ["lines_read", "loaded", "duplicates_dropped", "dead_letters", "erased_dropped", "replaced_earlier"]


def _manifest(loaded: Loaded) -> dict[str, dict[str, int]]:
    m = loaded.sql("select * from raw_events.landing_manifest")
    return {r["file_key"]: {c: r[c] for c in COUNTS} for r in m.iter_rows(named=True)}


def test_manifest_counts_match_every_line_outcome(dirty_loaded: Loaded) -> None:
    expected = dirty.expected_counts(dirty.files() | dirty.late_files())
    assert _manifest(dirty_loaded) == expected


def test_reconciliation_holds_per_file_and_against_tables(dirty_loaded: Loaded) -> None:
    m = dirty_loaded.sql("select * from raw_events.landing_manifest")
    assert (
        m["lines_read"] == m["loaded"] + m["duplicates_dropped"] + m["dead_letters"] + m["erased_dropped"]
    ).all()
    rows = sum(
        dirty_loaded.sql(f"select count(*) n from raw_events.{t}")["n"][0]
        for t in ("events", "mmp_touches", "skan_postbacks")
    )
    assert rows == m["loaded"].sum() - m["replaced_earlier"].sum()
    dead = dirty_loaded.sql("select file_key, count(*) n from raw_events.dead_letters group by 1")
    assert dict(dead.iter_rows()) == {k: v for k, v in zip(m["file_key"], m["dead_letters"]) if v}


def test_event_ids_unique_and_the_lowest_received_copy_wins(dirty_loaded: Loaded) -> None:
    ev = dirty_loaded.sql("select * from raw_events.events")
    assert ev["event_id"].is_unique().all()
    by_id = {r["event_id"]: r for r in ev.iter_rows(named=True)}
    # e2: in-file retry dropped; e1: later copy in another file dropped
    assert by_id["e2"]["received_at"].second == 1 and by_id["e1"]["received_at"].second == 2
    # e3: the late file's copy was received earlier: it replaced the loaded one
    assert by_id["e3"]["received_at"].microsecond == 500_000
    assert by_id["e3"]["_file_key"].endswith("part-20260107T0900Z.jsonl.gz")
    # e10: the late file's copy was received later: the first load's row stays
    assert by_id["e10"]["_file_key"].endswith("part-20260105T1010Z.jsonl.gz")


def test_each_dead_letter_has_the_expected_reason(dirty_loaded: Loaded) -> None:
    dl = dirty_loaded.sql("select file_key, line_no, reason, line from raw_events.dead_letters")
    got = {(r["file_key"], r["line_no"]): r["reason"] for r in dl.iter_rows(named=True)}
    want = {
        (k, i + 1): line.outcome.removeprefix("dead:")
        for k, lines in (dirty.files() | dirty.late_files()).items()
        for i, line in enumerate(lines)
        if line.outcome.startswith("dead:")
    }
    assert set(got) == set(want)
    assert all(got[k].startswith(want[k]) for k in want)
    assert dl["reason"].null_count() == 0


def test_late_file_in_old_hour_folder_is_loaded(dirty_loaded: Loaded) -> None:
    late = next(iter(dirty.late_files()))
    assert late.split("/")[2] == "hour=10"  # the same folder as wave 1
    ev = dirty_loaded.sql(f"select event_id from raw_events.events where _file_key = '{late}'")
    assert set(ev["event_id"]) == {"e20", "e3", "e21", "e22"}


def test_rerun_adds_nothing(dirty_loaded: Loaded) -> None:
    s3 = dirty_loaded.summaries[2]
    assert (s3.files_loaded, s3.lines_read, s3.load_ids) == (0, 0, [])
    assert dirty_loaded.sql("select count(*) n from raw_events.landing_manifest")["n"][0] == 3


def test_schema_v1_and_v2_side_by_side_with_new_columns(dirty_loaded: Loaded) -> None:
    ev = dirty_loaded.sql(
        "select event_id, schema_version, app_version, consent, user_agent from raw_events.events"
    )
    rows = {r["event_id"]: r for r in ev.iter_rows(named=True)}
    assert rows["e10"]["schema_version"] == 2 and rows["e10"]["app_version"] == "5.13.0"
    assert '"marketing":false' in rows["e10"]["consent"].replace(" ", "")
    assert rows["e2"]["schema_version"] == 1 and rows["e2"]["app_version"] is None
    # a field whose type changes between batches (string, then number) does not stop the load
    assert rows["e22"]["app_version"] == "5140"
    assert "new_flag" in dirty_loaded.sql("select * from raw_events.events limit 0").columns


def test_mmp_skan_and_identity_tables(dirty_loaded: Loaded) -> None:
    mmp = dirty_loaded.sql("select * from raw_events.mmp_touches")
    assert mmp["event_id"].to_list() == ["e14"] and mmp["touch_type"][0] == "click"
    skan = dirty_loaded.sql("select * from raw_events.skan_postbacks")
    assert skan["postback_id"].to_list() == ["p1"] and skan["conversion_value"][0] is None
    idm = dirty_loaded.sql("select from_user_id, canonical_user_id from raw_events.identity_map order by 1")
    # u2 -> u1 came first; u1 -> u7 arrived in a later file: both resolve to u7
    assert idm.rows() == [("u1", "u7"), ("u2", "u7")]


def test_pii_is_hashed_and_normalised(dirty_loaded: Loaded) -> None:
    ev = dirty_loaded.sql("select event_id, email_hash, phone_hash from raw_events.events")
    h = {r["event_id"]: r for r in ev.iter_rows(named=True)}

    def mac(v: str) -> str:
        return hmac.new(PEPPER, v.encode(), hashlib.sha256).hexdigest()

    assert h["e2"]["email_hash"] == mac("alice.smith@example.com")
    assert h["e2"]["phone_hash"] == mac("+14155550101")
    assert h["e3"]["phone_hash"] == mac("+447700900123")  # GB national, trunk 0 dropped
    assert h["e10"]["phone_hash"] == mac("+4915123456789") and h["e10"]["email_hash"] == mac(
        "dora@example.com"
    )
    assert h["e12"]["phone_hash"] == mac("+34612345678")  # ES has no trunk prefix
    cols = dirty_loaded.sql("select * from raw_events.events limit 0").columns
    assert "email" not in cols and "phone" not in cols


def test_dead_letters_have_pii_masked(dirty_loaded: Loaded) -> None:
    lines = "\n".join(dirty_loaded.sql("select line from raw_events.dead_letters")["line"].drop_nulls())
    assert "carl@example.de" not in lines and "0151 2345" not in lines and "x@y.de" not in lines
    assert "12345" not in lines  # a phone of the wrong type is still masked
    assert '"event_id":"e4"' in lines  # but the rest of the line is kept for debugging


def test_summaries_add_up(dirty_loaded: Loaded) -> None:
    s1, s2, _ = dirty_loaded.summaries
    assert s1.batches == 2 and s2.batches == 1  # batch_files=1: one package per file
    assert s1.lines_read + s2.lines_read == sum(len(v) for v in (dirty.files() | dirty.late_files()).values())
    assert pl.Series(s1.load_ids).is_unique().all()


# mutates the shared warehouse: keep last
def test_erased_user_is_never_loaded_even_when_a_file_is_replayed(dirty_loaded: Loaded) -> None:
    ev = dirty_loaded.sql("select user_id from raw_events.events")
    assert "u_erased" not in ev["user_id"].to_list()
    # erase u5 now, delete its rows (the erasure feature's job) and replay its old file
    wh = dirty_loaded.warehouse
    erase(wh, "user_id", "u5")
    key = next(k for k, lines in dirty.files().items() if any('"u5"' in x.text for x in lines))
    cur = wh.connection().cursor()
    cur.execute("delete from raw_events.events where user_id = 'u5'")
    cur.execute("delete from raw_events.landing_manifest where file_key = ?", [key])
    s = load_events(dirty_loaded.pipeline, str(dirty_loaded.landing), PEPPER)
    assert s.files_loaded == 1 and s.erased_dropped == 3  # u_erased x2 and u5
    assert dirty_loaded.sql("select count(*) n from raw_events.events where user_id = 'u5'")["n"][0] == 0
    m = _manifest(dirty_loaded)[key]
    assert m["lines_read"] == m["loaded"] + m["duplicates_dropped"] + m["dead_letters"] + m["erased_dropped"]
    # the replayed file's other rows were already there: counted as loaded, not duplicated
    assert dirty_loaded.sql("select count(*) n from raw_events.events where event_id = 'e13'")["n"][0] == 1
