"""New fields named like a contract column but for case or separators (``event_ID``) never stop a
load: their lines are dead letters with a reason, and spellings of one new field share a column."""

from __future__ import annotations

from pathlib import Path

from connectors.product_events import load_events
from tests.events import dirty
from tests.events.conftest import PEPPER, make_warehouse

DAY = "2026-01-05"
KEY = f"events/dt={DAY}/hour=10/part-clash.jsonl.gz"


def _line(n: int, **fields: object) -> str:
    return dirty.ev(
        f"c{n}", "landing", f"{DAY}T10:00:{n:02d}Z", f"{DAY}T10:01:{n:02d}Z", anonymous_id="a", **fields
    )


def test_case_clashing_fields_are_dead_letters_and_the_rest_loads(tmp_path: Path) -> None:
    lines = [
        _line(1),
        _line(2, event_ID="other", email="Clash.Person@example.com"),  # clashes with event_id
        _line(3, promoCode="p3"),
        _line(4, Event_Type="landing"),  # clashes with event_type
        _line(5, PromoCode="p5"),  # another spelling of promoCode: same column
        _line(6, promoCode="a", PromoCode="b"),  # two spellings on one line: ambiguous
        _line(7, eventId="x"),  # the warehouse column would be event_id too
        _line(8),
    ]
    landing = tmp_path / "landing"
    dirty.write(landing, {KEY: [dirty.Line(x, "") for x in lines]}, 1_700_000_000)
    wh = make_warehouse(tmp_path)
    s = load_events(wh.dlt_pipeline("pe_clash", "raw_events"), str(landing), PEPPER)
    cur = wh.connection().cursor()

    loaded = cur.sql("select event_id, promo_code from raw_events.events order by 1").fetchall()
    assert loaded == [("c1", None), ("c3", "p3"), ("c5", "p5"), ("c8", None)]
    dead = cur.sql("select line_no, reason, line from raw_events.dead_letters order by 1").fetchall()
    assert [(n, r) for n, r, _ in dead] == [
        (2, "field_name_clash:event_ID"),
        (4, "field_name_clash:Event_Type"),
        (6, "field_name_clash:PromoCode,promoCode"),
        (7, "field_name_clash:eventId"),
    ]
    assert "Clash.Person" not in dead[0][2] and '"event_ID": "other"' in dead[0][2]
    man = cur.sql(
        "select lines_read, loaded, duplicates_dropped, dead_letters, erased_dropped "
        "from raw_events.landing_manifest"
    ).fetchall()
    assert man == [(8, 4, 0, 4, 0)]
    assert (s.loaded, s.dead_letters) == (4, 4)
    wh.close()
