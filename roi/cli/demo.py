"""``roi demo``: a simulated StreamRide world run through the real pipeline, end to end.

The demo is the one place (with ``roi simulate``) where the pipeline and the simulator meet
in one process, and only as the real systems do: the simulator serves its ad APIs on
127.0.0.1 and copies landing files into the landing folder as simulated time advances; the
pipeline sees nothing but ``ROI_API_BASE_URL``, the credentials in ``sim.env`` and the
landing folder.

Timeline: coarse steps (12 h) over the first days, then hourly through the last hours of the
last day, with the daily restatement lookback at 04:00 UTC of each day, so restatements
and late files show up as they would in production.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from roi.cli.common import console as default_console
from roi.cli.common import print_roi
from roi.core.errors import UserInputError
from roi.core.settings import reset_settings
from roi.core.warehouse import get_warehouse, reset_warehouse
from simulator.server import SimServer
from simulator.world import generate_world, publish, read_sim_env, read_world

DEMO_PEPPER = "demo-pepper-not-for-production-0001"
DEMO_DIR = Path(".roi/demo")
# With --days 4 or more the world crosses the US clock change (1 Nov 2026).
DEMO_START = date(2026, 10, 29)
# Written into every world folder the demo generates: the only folders it ever deletes.
DEMO_MARKER = ".roi-demo-world"
MAX_DAYS = 366


@dataclass
class DemoPlan:
    """The simulated times at which the demo runs a flow."""

    steps: list[tuple[str, datetime, datetime]] = field(default_factory=list)  # (flow, start, end)


def plan_steps(start: date, days: int, coarse_hours: int = 12, hourly_tail: int = 6) -> DemoPlan:
    """Hourly-incremental windows (coarse, then hourly at the end), and the lookback at 04:00 UTC daily.

    Coarse boundaries fall on 04:00 and 16:00 so that the lookback runs right after the
    incremental run that reaches 04:00, with simulated time only moving forward.
    """
    t0 = datetime.combine(start, datetime.min.time(), UTC)
    end = t0 + timedelta(days=days)
    tail_start = end - timedelta(hours=hourly_tail)
    bounds = [t0, t0 + timedelta(hours=4)]
    while bounds[-1] < end:
        last = bounds[-1]
        nxt = (
            min(last + timedelta(hours=coarse_hours), tail_start)
            if last < tail_start
            else last + timedelta(hours=1)
        )
        bounds.append(min(nxt, end))
    plan = DemoPlan()
    for a, b in pairwise(bounds):
        plan.steps.append(("hourly_incremental", a, b))
        if b.hour == 4 and b.minute == 0 and b >= t0 + timedelta(days=1):
            plan.steps.append(("restatement_lookback", b, b))
    return plan


def _world_start(world: Path, days: int, seed: int, scale: float, console: Console) -> date:
    """The first day of the world in ``world``: reused when it was made with these options, else generated.

    Generating replaces the folder only when the demo made it (its marker file): a folder with
    anything else in it is refused, never emptied.
    """
    meta = _world_meta(world)
    if meta is not None and (meta.get("days"), meta.get("seed"), meta.get("scale")) == (days, seed, scale):
        return date.fromisoformat(str(meta["start"]))
    _claim(world)
    console.print(f"[bold]generating[/bold] a {days}-day world (seed {seed}, scale {scale}) in {world}")
    generate_world(world, DEMO_START, days, seed=seed, scale=scale)
    return DEMO_START


def _world_meta(world: Path) -> dict[str, object] | None:
    """``world.json`` of ``world``, or None when there is none (or it cannot be read)."""
    try:
        return read_world(world) if (world / "world.json").is_file() else None
    except (OSError, ValueError):
        return None


def _claim(world: Path) -> None:
    """Make ``world`` an empty folder of the demo's (with its marker); refuse a folder the demo did not make."""
    try:
        if world.exists() and not world.is_dir():
            raise UserInputError(f"--world {world} is a file: pick an empty folder or one the demo made")
        if world.is_dir() and any(world.iterdir()):
            if not (world / DEMO_MARKER).is_file():
                raise UserInputError(
                    f"--world {world} holds files the demo did not make: pick an empty folder or one "
                    f"the demo made (it writes {DEMO_MARKER}); nothing was deleted"
                )
            shutil.rmtree(world)
        world.mkdir(parents=True, exist_ok=True)
        (world / DEMO_MARKER).write_text("made by `roi demo`: it may delete and regenerate this folder\n")
    except OSError as exc:  # a path the OS refuses: too long, no access, a file on the way
        raise UserInputError(f"--world {world}: {exc.strerror or exc}") from None


def _point_pipeline_at(world: Path, base: Path) -> Path:
    """Start from an empty warehouse and landing folder fed by ``world``; returns the landing folder.

    As an operator would with ``source sim.env``: the pipeline sees only these variables.
    """
    landing = base / "landing"
    warehouse = base / "warehouse.duckdb"
    for path in (landing, warehouse, warehouse.with_suffix(".duckdb.wal"), base / "dlt", base / "dbt"):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    os.environ.update(read_sim_env(world / "sim.env"))
    os.environ["ROI_DUCKDB_PATH"] = str(warehouse)
    os.environ["ROI_LANDING_URL"] = str(landing)
    os.environ.setdefault("ROI_PII_PEPPER", DEMO_PEPPER)
    # the simulated platforms restate within 7 days: longer production windows re-pull nothing new
    os.environ.setdefault("ROI_RESTATEMENT_DAYS", "{}")
    return landing


def _run_plan(plan: DemoPlan, world: Path, landing: Path, start: date, console: Console) -> None:
    """Serve the world's APIs and run each planned flow with the simulated clock at its window end."""
    with SimServer(world, port=0, as_of=datetime.combine(start, datetime.min.time(), UTC)) as srv:
        os.environ["ROI_API_BASE_URL"] = srv.url
        reset_settings()
        reset_warehouse()
        get_warehouse().bootstrap()
        # Imported here, not with the CLI: Prefect, dlt and dbt take seconds to load.
        from flows.pipeline import hourly_incremental, restatement_lookback

        with Progress(
            TextColumn("{task.description:<44}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} runs"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task_id = bar.add_task("starting Prefect", total=len(plan.steps))
            for flow_name, w_start, w_end in plan.steps:
                bar.update(task_id, description=f"{flow_name} until {w_end:%a %d %b %H:%M} UTC")
                srv.set_as_of(w_end)
                publish(world, str(landing), w_end)
                if flow_name == "hourly_incremental":
                    hourly_incremental(window_start=w_start, window_end=w_end)
                else:
                    restatement_lookback(window_end=w_end)
                bar.advance(task_id)


def run_demo(
    days: int = 3,
    seed: int = 7,
    scale: float = 0.002,
    world: Path | None = None,
    console: Console | None = None,
) -> date:
    """Generate (or reuse) a world, serve it, run the flows through simulated time; returns the last full day."""
    console = console or Console()
    if not 2 <= days <= MAX_DAYS:
        raise UserInputError(f"--days must be 2 to {MAX_DAYS} (one day to fill, one to report), got {days}")
    if not 0 < scale <= 10:
        raise UserInputError(f"--scale must be in (0, 10], got {scale}")
    if not 0 <= seed < 2**63:
        raise UserInputError(f"--seed must be 0 to 2**63 - 1, got {seed}")
    base = DEMO_DIR.resolve()
    world = (world or base / "world").resolve()
    start = _world_start(world, days, seed, scale, console)
    landing = _point_pipeline_at(world, base)
    plan = plan_steps(start, days)
    t_start = time.perf_counter()
    _run_plan(plan, world, landing, start, console)
    console.print(f"[dim]{len(plan.steps)} flow runs in {time.perf_counter() - t_start:.0f} s[/dim]")
    return start + timedelta(days=days - 1)


def demo(
    days: Annotated[int, typer.Option("--days", help="Simulated days (the last one is reported).")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="World seed.")] = 7,
    scale: Annotated[float, typer.Option("--scale", help="1.0 = a StreamRide peak day.")] = 0.002,
    world: Annotated[
        Path | None, typer.Option("--world", help="World folder (default .roi/demo/world).")
    ] = None,
) -> None:
    """Simulate a world, serve its ad APIs on 127.0.0.1, run the flows through time, print the ROI table."""
    last_day = run_demo(days=days, seed=seed, scale=scale, world=world, console=default_console)
    print_roi(last_day)
