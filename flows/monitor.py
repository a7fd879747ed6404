"""The monitoring step: evaluate the rules, open/update/resolve alerts, deliver their notifications.

It runs at the end of every ops refresh (every 5 minutes, ``flows/ops.py``) at the refresh's
scheduled time. The rules and the alert updates take one warehouse turn; the notifications go
out after the turn is released (network I/O never holds the warehouse), and their outcomes are
recorded in a second short turn. The Prefect failure hook :func:`alert_failed_run` sends a
failed flow run through the same alerts and delivery at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.runtime import flow_run as current_run

from flows import alerts
from flows.locks import warehouse_step
from flows.rule_spec import Firing, RuleSpec
from flows.rules import HOOK_SOURCE, configured_rules, evaluate
from roi.core.errors import UserInputError
from roi.core.redact import one_line_error
from roi.core.settings import get_settings


def naive_utc(ts: Any) -> datetime:
    value = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts))
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def scheduled_now() -> datetime:
    """The running flow's scheduled time (naive UTC): the monitor's logical now."""
    scheduled = current_run.scheduled_start_time
    if scheduled is None:
        raise UserInputError("the monitor needs a flow run's scheduled time: it has none")
    return naive_utc(scheduled)


def alert_urls() -> list[str]:
    return alerts.split_urls(get_settings().alert_urls.get_secret_value())


def _deliver_pending(todo: list[alerts.Alert], now: datetime) -> dict[str, int]:
    """Send outside any turn, then record the outcomes in a short turn of their own."""
    if not todo:
        return {"sent": 0, "undelivered": 0}
    urls = alert_urls()
    outcomes = alerts.deliver(todo, urls)
    with warehouse_step("monitor: record deliveries") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            alerts.record_delivery(cur, outcomes, now, configured=bool(urls))
        finally:
            cur.close()
    sent = sum(1 for e in outcomes.values() if e is None)
    return {"sent": sent, "undelivered": len(outcomes) - sent}


def run_monitor(now: datetime, specs: dict[str, RuleSpec] | None = None) -> dict[str, Any]:
    """One evaluation at logical ``now``: alerts updated, pending notifications delivered.

    Returns the counts and the rules that errored (their alerts are left as they were).
    """
    specs = specs if specs is not None else configured_rules()
    with warehouse_step("monitor: evaluate rules") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            results = evaluate(cur, now, specs)
            cur.execute("begin transaction")
            try:
                counts = alerts.apply(cur, specs, results, now)
                cur.execute("commit")
            except Exception:
                cur.execute("rollback")
                raise
            todo = alerts.pending(cur)
        finally:
            cur.close()
    errors = {rule: r for rule, r in results.items() if isinstance(r, str)}
    for rule, why in errors.items():
        print(f"monitor: rule {rule} could not be evaluated (its alerts are unchanged): {why}")
    return {**counts, **_deliver_pending(todo, now), "rule_errors": len(errors)}


def alert_failed_run(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_failure``/``on_crashed`` hook: the ``failed_flow_run`` alert of this flow, now.

    The same alert (dedupe key ``failed_flow_run:<flow>``) the monitor's rule keeps, and the same
    delivery. A hook must never raise: anything that goes wrong is printed, and the next
    evaluation of the rule still sees the failed run in ``audit.pipeline_runs``.
    """
    try:
        when = getattr(flow_run, "expected_start_time", None) or getattr(flow_run, "start_time", None)
        now = naive_utc(when) if when is not None else scheduled_now()
        name = str(getattr(flow, "name", "flow"))
        why = one_line_error(Exception(str(getattr(state, "message", "") or "failed")))
        numbers = {
            "flow": name,
            "flow_run": str(getattr(flow_run, "name", "")),
            "state": str(getattr(state, "type", "")),
            "source": HOOK_SOURCE,
        }
        firing = Firing(
            "failed_flow_run", name, f"{name}: run {numbers['flow_run']} failed: {why[:200]}", numbers
        )
        spec = configured_rules()["failed_flow_run"]
        with warehouse_step("alert: failed run") as warehouse:
            cur = warehouse.connection().cursor()
            try:
                alerts.open_now(cur, firing, spec, now)
                todo = alerts.pending(cur)
            finally:
                cur.close()
        _deliver_pending(todo, now)
    except Exception as exc:  # the run has failed already; the hook must not hide why
        print(f"failure alert not recorded: {one_line_error(exc)}")


@task(timeout_seconds=300)
def monitor_alerts() -> dict[str, Any]:
    """Task of the ops refresh: the rules at the run's scheduled time (takes its own turns)."""
    return run_monitor(scheduled_now())
