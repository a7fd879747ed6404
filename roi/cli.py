"""The ``roi`` command line (typer + rich).

Every command exits 0 only on success. Errors a user can cause (bad option, bad date, unknown
platform, missing credentials, unreadable file) print one line ``error: ...`` and exit
non-zero; a traceback means a bug.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import roi.core
from connector_sdk.exceptions import ConnectorConfigError, ConnectorError, InvalidRunError
from roi.core.errors import RoiError, UserInputError
from roi.core.settings import get_settings
from roi.core.warehouse import get_warehouse

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="roi",
    help="StreamRide marketing ROI pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"roi {roi.core.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """StreamRide marketing ROI pipeline: ads, events, attribution, the daily ROI mart."""
    # Settings are validated before any command runs, so a bad ROI_* value is one line.
    get_settings()


@app.command()
def bootstrap() -> None:
    """Create the warehouse schemas and audit tables (idempotent) and record the run."""
    from flows.bootstrap import bootstrap_warehouse

    get_warehouse()  # missing credentials fail here, in one line, before Prefect starts
    run_id = bootstrap_warehouse()
    console.print(f"warehouse ready (run {run_id})")


def _parse_ts(value: str, option: str) -> datetime:
    """ISO-8601 timestamp or date (``Z`` allowed; naive means UTC) or a one-line error."""
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserInputError(
            f"{option} {value!r} is not a timestamp: use e.g. 2026-11-20T06:00:00Z"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UserInputError(f"{option} {value!r} is not a date: use YYYY-MM-DD") from None


@app.command()
def run(
    start: Annotated[str, typer.Option("--start", help="Window start (ISO-8601, UTC if no zone).")],
    end: Annotated[str, typer.Option("--end", help="Window end, exclusive: the run's logical time.")],
) -> None:
    """One incremental run over [start, end): ads, new landing files, models, attribution, mart, checks."""
    window_start, window_end = _parse_ts(start, "--start"), _parse_ts(end, "--end")
    if window_start >= window_end:
        raise UserInputError(
            f"--start {start} is not before --end {end}: the window is half-open [start, end)"
        )
    get_warehouse().bootstrap()
    from flows.pipeline import hourly_incremental

    run_id = hourly_incremental(window_start=window_start, window_end=window_end)
    console.print(f"hourly_incremental run {run_id} succeeded")
    _print_roi((window_end - timedelta(microseconds=1)).date())


@app.command()
def backfill(
    start: Annotated[str, typer.Option("--start", help="First UTC day (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--end", help="Last UTC day, included.")],
) -> None:
    """Rebuild whole UTC days [start, end] in daily steps; never moves incremental state."""
    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    if last < first:
        raise UserInputError(f"--end {end} is before --start {start}: both days are included, start first")
    get_warehouse().bootstrap()
    from flows.pipeline import backfill as backfill_flow

    run_id = backfill_flow(start=first, end=last)
    console.print(f"backfill run {run_id} succeeded")
    _print_roi(last)


@app.command()
def serve() -> None:
    """Run every flow on its schedule in this one process (embedded DuckDB mode)."""
    get_warehouse().bootstrap()
    from flows.serve import serve_all

    serve_all()


@app.command()
def demo(
    days: Annotated[int, typer.Option("--days", help="Simulated days (the last one is reported).")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="World seed.")] = 7,
    scale: Annotated[float, typer.Option("--scale", help="1.0 = a StreamRide peak day.")] = 0.002,
    world: Annotated[
        Path | None, typer.Option("--world", help="World folder (default .roi/demo/world).")
    ] = None,
) -> None:
    """Simulate a world, serve its ad APIs on 127.0.0.1, run the flows through time, print the ROI table."""
    from roi.demo import run_demo

    last_day = run_demo(days=days, seed=seed, scale=scale, world=world, console=console)
    _print_roi(last_day)


@app.command()
def restatements(
    platform: Annotated[str, typer.Option("--platform", help="google_ads, meta_ads, tiktok_ads, ...")],
    day: Annotated[str, typer.Option("--date", help="Report date (account-local; Apple and Impact UTC).")],
    account: Annotated[str | None, typer.Option("--account", help="One account id (default: all).")] = None,
) -> None:
    """How a day was restated: its spend at every pull, with each pull's load id (before/after)."""
    import connectors  # noqa: F401  (registers every connector)
    from connector_sdk.restatement import before_after, restatement_report

    report_date = _parse_date(day, "--date")
    cur = get_warehouse().connection().cursor()
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
        table.add_row(
            p.load_id, f"{p.pulled_at:%Y-%m-%d %H:%M}" if p.pulled_at else "–", str(p.rows), f"{p.spend:,.2f}"
        )
    console.print(table)
    pair = before_after(pulls)
    if pair is not None:
        before, after = pair
        console.print(
            f"restated: {before.spend:,.2f} (load {before.load_id}) -> {after.spend:,.2f} (load {after.load_id}), "
            f"change {after.spend - before.spend:+,.2f}"
        )


def _print_roi(report_date: date) -> None:
    from flows.report import roi_table

    # Piped or in CI the console is 80 columns; the ROI table needs ~130 to stay readable.
    out = console if console.is_terminal else Console(width=140)
    out.print(roi_table(report_date))


# Sub-commands of other areas register here, one line each.
from simulator.cli import app as _simulate_app  # noqa: E402

app.add_typer(_simulate_app, name="simulate")

from connector_sdk.cli import app as _connector_app  # noqa: E402

app.add_typer(_connector_app, name="connector")
app.command(name="checks")(__import__("flows.checks", fromlist=["checks_command"]).checks_command)

# --- attribution (the engine imports nothing of ours, so its commands live here) -------------
_attribution_app = typer.Typer(help="Attribution runs and versions.", no_args_is_help=True)
app.add_typer(_attribution_app, name="attribution")


@_attribution_app.command("run")
def attribution_run(
    start: Annotated[str, typer.Option("--start", help="First sign-up day (YYYY-MM-DD, UTC).")],
    end: Annotated[str, typer.Option("--end", help="Last sign-up day, included.")],
    config: Annotated[
        str | None,
        typer.Option("--config", help="Config name (e.g. linear_v1) or YAML path; default last_touch_v1."),
    ] = None,
) -> None:
    """Re-attribute the sign-ups of [start, end] and replace that version's rows for those days."""
    from rich.table import Table

    from attribution.config import load_config
    from attribution.errors import AttributionInputError
    from attribution.errors import ConfigError as AttributionConfigError
    from attribution.store import run_attribution

    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    if last < first:
        raise UserInputError(f"--end {end} is before --start {start}: both days are included, start first")
    try:
        load_config(config)  # a bad name fails before the warehouse is opened
        with console.status(f"attributing sign-ups of {first} .. {last}"):
            s = run_attribution(get_warehouse().connection(), first, last, config)
    except (AttributionConfigError, AttributionInputError) as exc:
        raise UserInputError(str(exc)) from None
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
    console.print(table)


@_attribution_app.command("versions")
def attribution_versions() -> None:
    """List the packaged attribution configs with their model and attribution_version."""
    from rich.table import Table

    from attribution.config import CONFIG_DIR, config_names, load_config
    from attribution.errors import ConfigError as AttributionConfigError

    table = Table(title=f"attribution configs ({CONFIG_DIR})")
    for col in ("config", "model", "attribution_version"):
        table.add_column(col)
    for path in config_names():
        try:
            cfg = load_config(path)
            table.add_row(path.stem, cfg.model, cfg.attribution_version)
        except AttributionConfigError as exc:
            table.add_row(path.stem, "invalid", str(exc))
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn user errors into one line and an exit code."""
    # Flow progress is shown by our own rich output; Prefect's INFO lines would bury it.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    try:
        # Without standalone mode click returns a typer.Exit's code instead of raising it.
        rv = app(args=argv, standalone_mode=False, prog_name="roi")
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("error: aborted")
        return 130
    except typer.TyperException as exc:
        # typer vendors click; its usage errors carry the context for help and the exit code.
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            console.print(ctx.get_help())
            return 0
        fmt = getattr(exc, "format_message", None)
        msg = (fmt() if fmt else str(exc)).replace("\n", " ").strip()
        where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        err_console.print(f"error: {msg}{where}", highlight=False, soft_wrap=True)
        return int(getattr(exc, "exit_code", 2))
    except RoiError as exc:
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except ConnectorError as exc:
        # The SDK cannot import roi; its errors are already one line saying what to do.
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        return 2 if isinstance(exc, ConnectorConfigError | InvalidRunError) else 1
    except KeyboardInterrupt:
        err_console.print("error: interrupted")
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
