"""``roi attribution``: re-attribute a range of sign-up days, list the packaged configs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from attribution.config import CONFIG_DIR, config_names, load_config
from attribution.errors import AttributionInputError
from attribution.store import RunSummary, run_attribution
from roi.cli.common import console, parse_date, warehouse_turn
from roi.core.errors import ConfigError, UserInputError
from roi.core.settings import get_settings

app = typer.Typer(help="Attribution runs and versions.", no_args_is_help=True)


@app.command("run")
def attribution_run(
    start: Annotated[str, typer.Option("--start", help="First sign-up day (YYYY-MM-DD, UTC).")],
    end: Annotated[str, typer.Option("--end", help="Last sign-up day, included.")],
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Config name (e.g. linear_v1) or YAML path; default ROI_DEFAULT_ATTRIBUTION_CONFIG (last_touch_v1).",
        ),
    ] = None,
) -> None:
    """Re-attribute the sign-ups of [start, end] and replace that version's rows for those days."""
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    config = config or get_settings().default_attribution_config
    if last < first:
        raise UserInputError(f"--end {end} is before --start {start}: both days are included, start first")
    try:
        load_config(config)  # a bad name fails before the warehouse is opened
    except ConfigError as exc:
        raise UserInputError(str(exc)) from None
    except (OSError, ValueError) as exc:  # a path the OS refuses, a file that is not text
        raise UserInputError(f"--config {config!r} cannot be read: {exc}") from None
    try:
        with (
            warehouse_turn("attribution run") as warehouse,
            console.status(f"attributing sign-ups of {first} .. {last}"),
        ):
            summary = run_attribution(
                warehouse.connection(),
                first,
                last,
                config,
                signup_definition=get_settings().published_signup_definition,
            )
    except (ConfigError, AttributionInputError) as exc:
        raise UserInputError(str(exc)) from None
    console.print(_summary_table(summary))


def _summary_table(s: RunSummary) -> Table:
    table = Table(title=f"attribution run {s.attribution_run_id}")
    table.add_column("field")
    table.add_column("value", justify="right")
    for field, value in (
        ("version", s.attribution_version),
        ("sign-up days", f"{s.start_date} .. {s.end_date}"),
        ("sign-ups in", f"{s.signups_in:,}"),
        ("touches in", f"{s.touches_in:,}"),
        ("SKAN rows in", f"{s.skan_rows_in:,}"),
        ("rows out", f"{s.rows_out:,}"),
        ("deterministic credit", f"{s.deterministic_credit:,.2f}"),
        ("SKAN-modeled credit", f"{s.skan_modeled_credit:,.2f}"),
        ("unattributed credit", f"{s.unattributed_credit:,.2f}"),
        ("seconds", f"{(s.finished_at - s.started_at).total_seconds():.1f}"),
    ):
        table.add_row(field, value)
    return table


@app.command("versions")
def attribution_versions() -> None:
    """List the packaged attribution configs with their model and attribution_version."""
    table = Table(title=f"attribution configs ({CONFIG_DIR})")
    for col in ("config", "model", "attribution_version"):
        table.add_column(col)
    for path in config_names():
        try:
            cfg = load_config(path)
            table.add_row(path.stem, cfg.model, cfg.attribution_version)
        except ConfigError as exc:
            table.add_row(path.stem, "invalid", str(exc))
    console.print(table)
