"""``roi alerts [--open] [--days N]`` and ``roi alerts ack ID``: the monitoring's alerts.

``roi alerts`` lists the alerts not resolved and those resolved in the last N days (of the
monitor's logical time: the latest evaluation, not the wall clock); ``--open`` only the former.
``roi alerts ack ID`` acknowledges an open alert: no more reminders; it still resolves, with its
notification. See docs/monitoring.md and docs/runbooks/.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from roi.cli.common import console, warehouse_turn
from roi.core.errors import UserInputError
from roi.core.warehouse import get_warehouse

app = typer.Typer(
    help="Monitoring alerts: list them, acknowledge one (docs/monitoring.md).",
    invoke_without_command=True,
    no_args_is_help=False,
)

MAX_DAYS = 3660
MAX_ID = 2**63 - 1


def _when(ts: datetime | None) -> str:
    return ts.isoformat(sep=" ", timespec="minutes") if ts else "–"


def _table(rows: list[Any], title: str) -> Table:
    table = Table(title=title)
    for col in (
        "id",
        "rule",
        "key",
        "severity",
        "status",
        "opened",
        "updated",
        "notified",
        "delivery",
        "summary",
    ):
        table.add_column(col, overflow="fold")
    for a in rows:
        delivery = a.delivery_status + (f" ({a.delivery_attempts} tries)" if a.delivery_attempts > 1 else "")
        table.add_row(
            str(a.alert_id),
            a.rule,
            a.key,
            a.severity,
            a.status if a.status != "resolved" else f"resolved {_when(a.resolved_at)}",
            _when(a.opened_at),
            _when(a.updated_at),
            f"{a.notify_kind or '–'} {_when(a.last_notified_at)}",
            delivery,
            a.summary,
            a.runbook,
        )
    return table


@app.callback()
def alerts(
    ctx: typer.Context,
    only_open: Annotated[bool, typer.Option("--open", help="Only alerts not resolved.")] = False,
    days: Annotated[int, typer.Option("--days", help="Resolved alerts of this many days back too.")] = 7,
) -> None:
    """The alerts not resolved, and those resolved in the last N days; each names its runbook."""
    if ctx.invoked_subcommand is not None:
        return
    if not 1 <= days <= MAX_DAYS:
        raise UserInputError(f"--days {days} is out of range: use 1 to {MAX_DAYS}")
    from flows.alerts import latest_evaluation, recent  # start-up time (docs/architecture.md)

    with get_warehouse().session("roi alerts") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            latest = latest_evaluation(cur)
            since = (latest or datetime.now(UTC).replace(tzinfo=None)) - timedelta(days=days)
            rows = recent(cur, only_open, since)
        finally:
            cur.close()
    if not rows:
        console.print(
            "no open alerts" if only_open else f"no alerts open or resolved in the last {days} days"
        )
        return
    title = "open alerts" if only_open else f"alerts open, or resolved in the last {days} days"
    console.print(_table(rows, title))


@app.command("ack")
def ack(
    alert_id: Annotated[int, typer.Argument(help="The alert's id (first column of `roi alerts`).")],
) -> None:
    """Acknowledge an open alert: it gets no more reminders; its resolution is still notified."""
    if not 1 <= alert_id <= MAX_ID:
        raise UserInputError(f"no alert {alert_id}: ids are positive; see `roi alerts`")
    from flows.alerts import acknowledge, latest_evaluation  # start-up time (docs/architecture.md)

    with warehouse_turn("alerts ack") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            # acked_at on the monitor's clock (its latest evaluation), as the alert's other times
            now = latest_evaluation(cur) or datetime.now(UTC).replace(tzinfo=None)
            a = acknowledge(cur, alert_id, now)
        finally:
            cur.close()
    console.print(
        f"alert {a.alert_id} ({a.rule} {a.key}) acknowledged: no more reminders. "
        f"numbers: {json.dumps(a.numbers, sort_keys=True)}; runbook: {a.runbook}",
        highlight=False,
        soft_wrap=True,
    )
