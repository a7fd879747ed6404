"""``roi restatements``: how a day was restated, its spend at every pull."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from roi.cli.common import console, parse_date, warehouse_turn
from roi.core.errors import UserInputError


def restatements(
    platform: Annotated[str, typer.Option("--platform", help="google_ads, meta_ads, tiktok_ads, ...")],
    day: Annotated[str, typer.Option("--date", help="Report date (account-local; Apple and Impact UTC).")],
    account: Annotated[str | None, typer.Option("--account", help="One account id (default: all).")] = None,
) -> None:
    """How a day was restated: its spend at every pull, with each pull's load id (before/after)."""
    # Imported when the command runs (loading every connector and dlt takes seconds); importing
    # the package registers each connector, where restatement_report looks the platform up.
    import connectors  # noqa: F401
    from connector_sdk.registry import get_connector
    from connector_sdk.restatement import before_after, restatement_report

    report_date = parse_date(day, "--date")
    get_connector(platform)  # an unknown platform is a one-line error naming the known ones
    with warehouse_turn("restatements") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            pulls = restatement_report(cur, platform, report_date, account_id=account)
        finally:
            cur.close()
    if not pulls:
        raise UserInputError(
            f"no pulls of {platform} for {report_date} in raw_ads: load that day first (roi run)"
        )
    table = Table(title=f"{platform} {report_date}: spend at every pull (account currency)")
    for col in ("load id", "pulled at", "rows", "spend"):
        table.add_column(col, justify="right" if col in ("rows", "spend") else "left")
    for p in pulls:
        pulled_at = f"{p.pulled_at:%Y-%m-%d %H:%M}" if p.pulled_at else "–"
        table.add_row(p.load_id, pulled_at, str(p.rows), f"{p.spend:,.2f}")
    console.print(table)
    pair = before_after(pulls)
    if pair is not None:
        before, after = pair
        console.print(
            f"restated: {before.spend:,.2f} (load {before.load_id}) -> {after.spend:,.2f} (load {after.load_id}), "
            f"change {after.spend - before.spend:+,.2f}"
        )
