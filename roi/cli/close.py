"""``roi close --date D [--reason ...]`` and ``roi close status [--days N]``: the finance close.

``roi close --date D`` runs the close flow for UTC day D now (the gates, then the snapshot);
exit 1 with one line naming the failing gate and its numbers when it is blocked. A day already
closed is closed again, as version N+1 beside the earlier ones, only with ``--reason``.
``roi close status`` shows per day: closed (version, when), blocked (which gate), late, or not
attempted. See docs/close.md.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from roi.cli.common import console, parse_date, warehouse_turn
from roi.core.errors import RoiError, UserInputError
from roi.core.runs import last_succeeded_window_end
from roi.core.warehouse import get_warehouse

app = typer.Typer(
    help="Finance close of a UTC day: gated, immutable, with dated adjustments (docs/close.md).",
    invoke_without_command=True,
    no_args_is_help=True,
)

MAX_REASON = 500
MAX_DAYS = 3660


class CloseBlockedError(RoiError):
    """The close was blocked by a gate (exit 1)."""


def _reason(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text or not text.isprintable():
        raise UserInputError("--reason must be one printable line of text, e.g. --reason 'Meta restated'")
    if len(text) > MAX_REASON:
        raise UserInputError(f"--reason is {len(text)} characters long: keep it under {MAX_REASON}")
    return text


@app.callback()
def close(
    ctx: typer.Context,
    date_: Annotated[
        str | None, typer.Option("--date", help="The UTC day to close (YYYY-MM-DD), usually yesterday.")
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Why the day is closed again: makes close version N+1 beside the others."
        ),
    ] = None,
) -> None:
    """Close a UTC day: run every gate on its built data, freeze its published mart rows if all pass."""
    if ctx.invoked_subcommand is not None:
        if date_ is not None or reason is not None:
            raise UserInputError(
                f"--date and --reason belong to `roi close`, not to `roi close {ctx.invoked_subcommand}`"
            )
        return
    if date_ is None:
        raise UserInputError("pass --date YYYY-MM-DD: the UTC day to close")
    day = parse_date(date_, "--date")
    why = _reason(reason)
    with warehouse_turn("close") as warehouse:
        warehouse.bootstrap()
    from flows.close import close_daily  # start-up time: the flow loads Prefect (architecture.md)

    outcome = close_daily(day=day, reason=why)
    if outcome["outcome"] in ("blocked", "late"):
        raise CloseBlockedError(outcome["message"])
    console.print(outcome["message"], highlight=False, soft_wrap=True)


@app.command("status")
def status(
    days: Annotated[int, typer.Option("--days", help="How many UTC days back to show (from yesterday).")] = 7,
) -> None:
    """Per UTC day: closed (version, when), blocked (which gate, its numbers), late or not attempted."""
    if not 1 <= days <= MAX_DAYS:
        raise UserInputError(f"--days {days} is out of range: use 1 to {MAX_DAYS}")
    from flows.close_store import recent_status  # start-up time, as the flows (architecture.md)

    now = last_succeeded_window_end()
    with get_warehouse().session("roi close status") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            rows = recent_status(cur, days, now)
        finally:
            cur.close()
    table = Table(title="finance close by UTC day")
    for col in ("date", "state", "version", "closed at (logical)", "attempts", "detail"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r.report_date.isoformat(),
            r.state,
            str(r.version) if r.version is not None else "–",
            r.closed_at.isoformat(sep=" ", timespec="minutes") if r.closed_at else "–",
            str(r.attempts),
            r.detail,
        )
    console.print(table)
