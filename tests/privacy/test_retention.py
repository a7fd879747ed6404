"""Retention over a sparse 14-month world: exactly what is older than 13 months goes.

The real flow runs as a Prefect flow run scheduled at a fixed time (its logical now). It must
delete every raw, dead-letter, merge, user-level fact and attribution row and every landing file
dated before the cutoff (the day before the cutoff gone, the cutoff day kept), leave the
aggregates byte for byte, record what it did, delete nothing on a rerun, and make a backfill of
an expired range refuse in one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect import get_client
from prefect.flow_engine import run_flow
from prefect.states import Pending, Scheduled

from flows.monitor import alert_failed_run
from flows.pipeline import backfill
from flows.retention import LANDING_FILES, months_before, retention, retention_cutoff
from roi.cli.root import main
from roi.core.errors import UserInputError
from roi.core.settings import reset_settings
from roi.core.warehouse import Warehouse, get_warehouse
from tests.privacy import retention_world as W


@pytest.fixture
def world(fresh_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh warehouse holding the sparse world; its landing folder."""
    landing = tmp_path / "landing"
    monkeypatch.setenv("ROI_LANDING_URL", str(landing))
    reset_settings()
    wh = get_warehouse()
    wh.bootstrap()
    with wh.session("test world"):
        cur = wh.connection().cursor()
        try:
            W.build(cur, landing)
        finally:
            cur.close()
    yield landing
    reset_settings()


def _rows(wh: Warehouse, table: str) -> list[tuple[Any, ...]]:
    with wh.session("test read"):
        cur = wh.connection().cursor()
        try:
            where = " where flow_name <> 'retention'" if table == "audit.pipeline_runs" else ""
            return sorted(cur.execute(f"select * from {table}{where}").fetchall(), key=repr)
        finally:
            cur.close()


def _snapshot(wh: Warehouse, landing: Path) -> dict[str, Any]:
    tables = {t: _rows(wh, t) for t in (*W.DATED, *W.AGGREGATES)}
    files = sorted(str(p.relative_to(landing)) for p in landing.rglob("*.jsonl.gz"))
    return {"tables": tables, "files": files}


def _scheduled_run(at: datetime) -> dict[str, Any]:
    """The real flow, as a Prefect flow run scheduled at ``at`` (its logical now).

    ``at`` lies ahead of the wall clock: the run is moved on to Pending at once (forced), else
    Prefect's engine would wait for its scheduled time. Its expected start time stays ``at``.
    """
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(retention, state=Scheduled(scheduled_time=at))
        client.set_flow_run_state(flow_run.id, Pending(), force=True)
        flow_run = client.read_flow_run(flow_run.id)
    assert flow_run.expected_start_time == at
    result = run_flow(retention, flow_run=flow_run)
    assert isinstance(result, dict)
    return result


def _retention_runs(wh: Warehouse) -> list[tuple[Any, ...]]:
    with wh.session("test read"):
        cur = wh.connection().cursor()
        try:
            return cur.execute(
                "select status, window_start, window_end, row_counts from audit.pipeline_runs "
                "where flow_name = 'retention' order by started_at"
            ).fetchall()
        finally:
            cur.close()


def test_calendar_months_clamp_to_the_month_end() -> None:
    assert retention_cutoff(W.NOW) == W.CUTOFF
    assert months_before(date(2026, 3, 31), 13) == date(2025, 2, 28)
    assert months_before(date(2028, 3, 31), 1) == date(2028, 2, 29)
    assert months_before(date(2026, 1, 15), 13) == date(2024, 12, 15)
    assert months_before(date(1, 6, 1), 13) == date.min


def test_retention_deletes_exactly_what_is_older_than_13_months(prefect_harness: None, world: Path) -> None:
    wh = get_warehouse()
    before = _snapshot(wh, world)
    written = W.rows_by_table()

    result = _scheduled_run(W.NOW)
    after = _snapshot(wh, world)

    assert result["cutoff"] == W.CUTOFF.isoformat()
    for table in W.DATED:
        kept = [r for r in written[table] if W.row_day(table, r) >= W.CUTOFF]
        if table == "raw_events.identity_map":  # an old merge still needed by a retained event
            kept += [r for r in written[table] if r[0] == W.KEPT_EDGE_USER]
        assert after["tables"][table] == sorted(kept, key=repr), table
        assert result["deleted"][table] == len(before["tables"][table]) - len(kept), table
    # the day before the cutoff is gone, the cutoff day is kept (files and rows alike)
    days_left = {W.row_day("raw_events.events", r) for r in after["tables"]["raw_events.events"]}
    assert min(days_left) == W.CUTOFF
    assert after["files"] == sorted(k for d in W.DAYS if d >= W.CUTOFF for k in W.landing_keys(d))
    assert not (world / f"events/dt={W.DAYS[1]}").exists()
    assert result["deleted"][LANDING_FILES] == 4
    for table in W.AGGREGATES:
        assert after["tables"][table] == before["tables"][table], f"{table} changed"

    # the run audit records the cutoff and the counts
    ((status, window_start, window_end, counts),) = _retention_runs(wh)
    assert (status, window_start.date(), window_end) == ("succeeded", W.CUTOFF, None)
    assert json.loads(counts) == result["deleted"]

    # a rerun at the same scheduled time deletes nothing and changes nothing
    again = _scheduled_run(W.NOW)
    assert set(again["deleted"].values()) == {0}
    assert _snapshot(wh, world) == after

    # a backfill reaching before the retained period refuses in one line, before any work
    with pytest.raises(UserInputError) as refused:
        backfill(start=W.DAYS[1], end=W.CUTOFF)
    message = str(refused.value)
    assert "\n" not in message and f"data before {W.CUTOFF} is deleted" in message
    assert f"start on {W.CUTOFF} or later" in message
    assert len(_retention_runs(wh)) == 2
    assert _rows(wh, "audit.pipeline_runs") == before["tables"]["audit.pipeline_runs"]


def test_roi_retention_by_hand_takes_the_data_now_and_never_runs_ahead_of_it(
    prefect_harness: None, world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wh = get_warehouse()
    with wh.session("test hourly run"):
        # the data's logical now: an hourly run that ended at 03:00 on NOW's day
        wh.connection().execute(
            "insert into audit.pipeline_runs (run_id, flow_name, window_start, window_end, status, "
            "started_at, code_version) values ('h1', 'hourly_incremental', ?, ?, 'succeeded', ?, 'test')",
            [datetime(2027, 1, 10, 2), datetime(2027, 1, 10, 3), datetime(2027, 1, 10, 3, 1)],
        )
    files = sorted(world.rglob("*.jsonl.gz"))

    assert main(["retention", "--as-of", "2027-02-11T00:00:00Z"]) == 2  # a month ahead of the data
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "retention never runs ahead of the data" in err, err
    assert sorted(world.rglob("*.jsonl.gz")) == files and not _retention_runs(wh)

    assert main(["retention"]) == 0
    assert f"data before {W.CUTOFF} deleted: landing_files 4," in capsys.readouterr().out
    assert sorted(world.rglob("*.jsonl.gz")) == [
        f for f in files if f"dt={W.DAYS[0]}" not in str(f) and f"dt={W.DAYS[1]}" not in str(f)
    ]

    assert main(["backfill", "--start", str(W.DAYS[1]), "--end", str(W.CUTOFF)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"start on {W.CUTOFF} or later" in err, err


def test_a_failed_retention_run_alerts_like_every_scheduled_flow() -> None:
    assert alert_failed_run in retention.on_failure_hooks
    assert alert_failed_run in retention.on_crashed_hooks
