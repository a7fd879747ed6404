"""The monitor in the real flows (Prefect's local API): at the end of ops_refresh, and the failure hook.

The ops refresh's load steps are replaced by no-op tasks (the landing is not the subject); the
monitor step, its warehouse turns and the delivery are the real ones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from prefect import task

import flows.ops
from flows.pipeline import backfill
from tests.monitoring.conftest import Receiver
from tests.monitoring.helpers import add_runs, run_row


@task
def _no_events() -> dict[str, Any]:
    return {"loaded": 0, "load_ids": []}


@task
def _no_ops(load_ids: list[str], now: datetime) -> int:
    return 0


def test_ops_refresh_ends_with_the_monitor(
    prefect_harness: None, wh: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flows.ops, "load_events", _no_events)
    monkeypatch.setattr(flows.ops, "refresh_ops", _no_ops)
    # a failed hourly run just before now (the flow's scheduled time is about the wall clock here)
    recent = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=30)
    add_runs(wh, [run_row("hourly_incremental", recent, "failed", error="dbt failed")])
    flows.ops.ops_refresh()
    assert receiver.titles() == ["[error] OPEN: failed_flow_run hourly_incremental"]
    counts = wh.rows("select row_counts from audit.pipeline_runs where flow_name = 'ops_refresh'")
    assert counts == [('{"alerts_opened": 1, "events_loaded": 0, "ops_rows": 0}',)]


def test_a_failed_flow_run_alerts_through_its_prefect_hook(
    prefect_harness: None, wh: Any, receiver: Receiver
) -> None:
    with pytest.raises(Exception, match="before its start"):
        backfill(start=date(2026, 11, 3), end=date(2026, 11, 1))  # fails before its audit row
    assert receiver.titles() == ["[error] OPEN: failed_flow_run backfill"]
    assert "before its start" in receiver.received[0]["message"]
    assert wh.rows("select rule, alert_key, status, delivery_status from audit.alerts") == [
        ("failed_flow_run", "backfill", "open", "sent")
    ]
