"""Which event loads an hourly run folds into the facts: every load not folded yet, whoever loaded it."""

from __future__ import annotations

from pathlib import Path


def _loads(con, *load_ids: str) -> None:
    con.execute(
        "create table if not exists raw_events._dlt_loads (load_id varchar, schema_name varchar,"
        " status bigint, inserted_at timestamp)"
    )
    for load_id in load_ids:
        con.execute("insert into raw_events._dlt_loads values (?, 'roi_product_events', 0, now())", [load_id])


def test_pending_loads_are_those_not_folded_by_a_finished_run(fresh_warehouse: Path) -> None:
    from flows.pipeline import mark_event_loads_folded, pending_event_loads
    from roi.core.warehouse import get_warehouse

    wh = get_warehouse()
    wh.bootstrap()
    con = wh.connection()
    assert pending_event_loads() == []  # nothing loaded yet (no _dlt_loads table)
    # an hourly run's load, then two ops_refresh loads before the next hourly run
    _loads(con, "1795000000.1")
    assert pending_event_loads() == ["1795000000.1"]
    mark_event_loads_folded(["1795000000.1"], "run-1")
    _loads(con, "1795000300.2", "1795000600.3")
    # a run that fails before its models finish folds nothing: the next one takes them all
    assert pending_event_loads() == ["1795000300.2", "1795000600.3"]
    assert pending_event_loads() == ["1795000300.2", "1795000600.3"]
    mark_event_loads_folded(["1795000300.2", "1795000600.3"], "run-2")
    assert pending_event_loads() == []
    folded = con.execute(
        "select run_id, count(*) from audit.facts_event_loads group by all order by 1"
    ).fetchall()
    assert folded == [("run-1", 1), ("run-2", 2)]
