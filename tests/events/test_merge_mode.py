"""Appending vs merging: batches whose rows replace nothing are appended, the rest merge on
``event_id``; either way the tables keep one row per event id."""

from __future__ import annotations

from pathlib import Path

from connectors.product_events import load_events
from tests.events import dirty
from tests.events.conftest import PEPPER, make_warehouse


def test_one_row_per_event_id_when_a_copy_has_another_event_date(tmp_path: Path) -> None:
    d1, d3 = "2026-01-05", "2026-01-07"
    first = {
        f"events/dt={d1}/hour=10/part-a.jsonl.gz": [
            dirty.Line(dirty.ev("x1", "landing", f"{d1}T10:00:01Z", f"{d1}T10:00:02Z", anonymous_id="a"), ""),
            dirty.Line(dirty.ev("x2", "landing", f"{d1}T10:00:03Z", f"{d1}T10:00:04Z", anonymous_id="a"), ""),
        ]
    }
    # a copy of x1 whose event time (so event_date) differs: outside the date range the batch
    # compares against, so only the key merge can keep x1 unique
    late = {
        f"events/dt={d3}/hour=10/part-b.jsonl.gz": [
            dirty.Line(dirty.ev("x1", "landing", f"{d3}T10:00:01Z", f"{d3}T10:00:02Z", anonymous_id="a"), ""),
            dirty.Line(dirty.ev("x3", "landing", f"{d3}T10:00:05Z", f"{d3}T10:00:06Z", anonymous_id="a"), ""),
        ]
    }
    landing = tmp_path / "landing"
    dirty.write(landing, first, 1_700_000_000)
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline("pe_merge_mode", "raw_events")
    s1 = load_events(pipe, str(landing), PEPPER)
    dirty.write(landing, late, 1_700_100_000)
    s2 = load_events(pipe, str(landing), PEPPER)
    rows = wh.connection().cursor().sql("select event_id from raw_events.events order by 1").fetchall()
    assert [r[0] for r in rows] == ["x1", "x2", "x3"]
    assert (s1.loaded, s2.loaded) == (2, 2)
