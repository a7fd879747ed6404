"""The alert lifecycle through the real monitor step and Apprise, against a receiver on 127.0.0.1.

Open -> one notification; still firing -> no second before the cooldown, a reminder after it;
resolved -> one; an acknowledged alert gets no reminder; a receiver that is down leaves the
notification pending and it is delivered at the next evaluation once the receiver is back.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from flows.alerts import acknowledge
from flows.close import close_daily
from flows.monitor import alert_failed_run, run_monitor
from flows.ops import ops_refresh
from flows.pipeline import backfill, hourly_incremental, restatement_lookback
from flows.rules import configured_rules
from roi.core.settings import reset_settings
from roi.core.warehouse import get_warehouse
from tests.monitoring.conftest import Receiver
from tests.monitoring.helpers import NOW, add_runs, run_row

COOLDOWN = configured_rules()["failed_flow_run"].cooldown()


def _alerts(wh: Any) -> list[tuple[Any, ...]]:
    return wh.rows(
        "select alert_id, rule, alert_key, status, notify_kind, delivery_status, delivery_attempts "
        "from audit.alerts order by alert_id"
    )


def _fail_hourly(wh: Any) -> None:
    add_runs(wh, [run_row("hourly_incremental", NOW - timedelta(minutes=10), "failed", error="dbt failed")])


def test_open_once_reminder_after_cooldown_resolved_once(wh: Any, receiver: Receiver) -> None:
    _fail_hourly(wh)
    assert run_monitor(NOW)["opened"] == 1
    assert receiver.titles() == ["[error] OPEN: failed_flow_run hourly_incremental"]
    body = receiver.received[0]["message"]
    assert "runbook: docs/runbooks/failed_flow_run.md" in body and "dbt failed" in body
    for minutes in (5, 10, COOLDOWN.total_seconds() / 60 - 5):  # still failing, before the cooldown
        run_monitor(NOW + timedelta(minutes=minutes))
    assert len(receiver.received) == 1
    assert [r[1:4] for r in _alerts(wh)] == [("failed_flow_run", "hourly_incremental", "open")]
    run_monitor(NOW + COOLDOWN)
    assert receiver.titles()[1:] == ["[error] STILL OPEN: failed_flow_run hourly_incremental"]
    run_monitor(NOW + COOLDOWN + timedelta(minutes=5))
    assert len(receiver.received) == 2  # the next reminder waits a cooldown again
    add_runs(wh, [run_row("hourly_incremental", NOW + COOLDOWN)])  # a later run succeeds
    assert run_monitor(NOW + COOLDOWN + timedelta(minutes=10))["resolved"] == 1
    run_monitor(NOW + COOLDOWN + timedelta(minutes=15))
    assert receiver.titles()[2:] == ["[error] RESOLVED: failed_flow_run hourly_incremental"]
    assert [r[3:6] for r in _alerts(wh)] == [("resolved", "resolved", "sent")]


def test_an_acknowledged_alert_gets_no_reminder_but_its_resolution(wh: Any, receiver: Receiver) -> None:
    _fail_hourly(wh)
    run_monitor(NOW)
    with get_warehouse().session("test ack"):
        cur = get_warehouse().connection().cursor()
        a = acknowledge(cur, 1, NOW + timedelta(minutes=1))
        cur.close()
    assert a.status == "acknowledged" and a.acked_at == NOW + timedelta(minutes=1)
    run_monitor(NOW + 3 * COOLDOWN)
    assert len(receiver.received) == 1
    add_runs(wh, [run_row("hourly_incremental", NOW + 3 * COOLDOWN)])
    run_monitor(NOW + 4 * COOLDOWN)
    assert receiver.titles()[1:] == ["[error] RESOLVED: failed_flow_run hourly_incremental"]


def test_firing_again_after_resolution_opens_a_new_alert(wh: Any, receiver: Receiver) -> None:
    _fail_hourly(wh)
    run_monitor(NOW)
    add_runs(wh, [run_row("hourly_incremental", NOW + timedelta(hours=1))])
    run_monitor(NOW + timedelta(hours=1, minutes=30))
    add_runs(wh, [run_row("hourly_incremental", NOW + timedelta(hours=2), "failed")])
    run_monitor(NOW + timedelta(hours=2, minutes=30))
    assert [r[0:4] for r in _alerts(wh)] == [
        (1, "failed_flow_run", "hourly_incremental", "resolved"),
        (2, "failed_flow_run", "hourly_incremental", "open"),
    ]
    assert len(receiver.received) == 3


def test_a_receiver_down_does_not_fail_the_step_and_gets_it_when_back(wh: Any, receiver: Receiver) -> None:
    receiver.stop()
    _fail_hourly(wh)
    summary = run_monitor(NOW)
    assert summary["opened"] == 1 and summary["undelivered"] == 1
    run_monitor(NOW + timedelta(minutes=5))
    assert [r[4:7] for r in _alerts(wh)] == [("opened", "pending", 2)]
    receiver.start()
    assert run_monitor(NOW + timedelta(minutes=10))["sent"] == 1
    assert receiver.titles() == ["[error] OPEN: failed_flow_run hourly_incremental"]
    assert [r[4:7] for r in _alerts(wh)] == [("opened", "sent", 3)]
    run_monitor(NOW + timedelta(minutes=15))
    assert len(receiver.received) == 1


def test_without_urls_alerts_are_recorded_not_retried(wh: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROI_ALERT_URLS", raising=False)
    reset_settings()
    _fail_hourly(wh)
    assert run_monitor(NOW)["undelivered"] == 1
    run_monitor(NOW + timedelta(minutes=5))
    assert [r[5:7] for r in _alerts(wh)] == [("failed", 1)]


def test_the_prefect_failure_hook_alerts_at_once_and_the_rule_keeps_it(wh: Any, receiver: Receiver) -> None:
    flow = SimpleNamespace(name="close_daily")
    run = SimpleNamespace(name="brave-fox", expected_start_time=NOW)
    state = SimpleNamespace(type="CRASHED", message="killed by the OOM killer")
    alert_failed_run(flow, run, state)
    assert receiver.titles() == ["[error] OPEN: failed_flow_run close_daily"]
    assert "killed by the OOM killer" in receiver.received[0]["message"]
    # no audit row of the crash: the rule keeps the alert open (no resolution), no second notification
    run_monitor(NOW + timedelta(minutes=5))
    assert [r[1:4] for r in _alerts(wh)] == [("failed_flow_run", "close_daily", "open")]
    assert len(receiver.received) == 1


def test_the_scheduled_flows_carry_the_failure_hook() -> None:
    for f in (hourly_incremental, restatement_lookback, backfill, close_daily, ops_refresh):
        assert alert_failed_run in f.on_failure_hooks and alert_failed_run in f.on_crashed_hooks, f.name
