"""``roi bootstrap``, ``roi run``, ``roi backfill``, ``roi serve``: the flows, on demand or on schedule.

Each command takes its turn on the warehouse through ``warehouse_turn`` (roi/cli/common.py), so
it works beside ``roi serve``; the flows take theirs step by step (flows/locks.py).

Each command imports its flow when it runs, not with this module: Prefect, dlt and dbt take
seconds to load, and every ``roi`` command (``--help`` included) imports this module. The
warehouse is checked first, so missing credentials fail in one line before Prefect starts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from flows.prefect_api import prefect_api
from roi.cli.common import console, parse_date, parse_ts, print_roi, warehouse_turn
from roi.core.errors import UserInputError
from roi.core.warehouse import get_warehouse


def bootstrap() -> None:
    """Create the warehouse schemas and audit tables (idempotent) and record the run."""
    get_warehouse()  # settings and credentials fail here in one line, before Prefect starts
    from flows.bootstrap import bootstrap_warehouse  # start-up time (module docstring)

    run_id = bootstrap_warehouse()
    console.print(f"warehouse ready (run {run_id})")


def run(
    start: Annotated[str, typer.Option("--start", help="Window start (ISO-8601, UTC if no zone).")],
    end: Annotated[str, typer.Option("--end", help="Window end, exclusive: the run's logical time.")],
) -> None:
    """One incremental run over [start, end): ads, new landing files, models, attribution, mart, checks."""
    window_start, window_end = parse_ts(start, "--start"), parse_ts(end, "--end")
    if window_start >= window_end:
        raise UserInputError(
            f"--start {start} is not before --end {end}: the window is half-open [start, end)"
        )
    with warehouse_turn("run") as warehouse:
        warehouse.bootstrap()
    from flows.pipeline import hourly_incremental  # start-up time (module docstring)

    run_id = hourly_incremental(window_start=window_start, window_end=window_end)
    console.print(f"hourly_incremental run {run_id} succeeded")
    print_roi((window_end - timedelta(microseconds=1)).date())


def backfill(
    start: Annotated[str, typer.Option("--start", help="First UTC day (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--end", help="Last UTC day, included.")],
) -> None:
    """Rebuild whole UTC days [start, end] in daily steps; never moves incremental state."""
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    if last < first:
        raise UserInputError(f"--end {end} is before --start {start}: both days are included, start first")
    with warehouse_turn("backfill") as warehouse:
        warehouse.bootstrap()
    from flows.pipeline import backfill as backfill_flow  # start-up time (module docstring)

    run_id = backfill_flow(start=first, end=last)
    console.print(f"backfill run {run_id} succeeded")
    print_roi(last)


def serve() -> None:
    """Run every flow on its schedule (Prefect serve); starts a Prefect server unless PREFECT_API_URL is set."""
    with warehouse_turn("serve") as warehouse:
        warehouse.bootstrap()
        folder = warehouse.duckdb_path.parent / "prefect-server"
    # The flows' processes take turns on the warehouse; this one holds it no longer.
    with prefect_api(folder) as url:
        console.print(f"Prefect API: {url}")
        from flows.serve import serve_all  # start-up time (module docstring); after the API is set

        serve_all()
