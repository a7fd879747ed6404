"""A simulated world loaded by the real connectors, run through the pipeline as time advances.

Checkpoints mimic the daily flows: at each logical time every ad connector re-pulls its
restatement window (``lookback``), the landing files that have arrived are published and
loaded, then facts (incremental, the flows' window), attribution and the mart. The last
checkpoint is an operator's settle-up after every restatement window closed: a ``backfill``
re-pull of all days and an incremental rebuild of their dates.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

START = date(2026, 10, 24)
DAYS = 10
SEED = 7
SCALE = 0.001
AD_SOURCES = ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads", "impact", "fx_rates")
# (logical time, connector mode, dbt window start): a daily-lookback run, then the settle-up.
# (The hourly history with every daily lookback is exercised end to end in tests/e2e.)
CHECKPOINTS = (
    (datetime(2026, 10, 28, 6, tzinfo=UTC), "lookback", date(2026, 10, 23)),
    (datetime(2026, 11, 12, 6, tzinfo=UTC), "backfill", date(2026, 10, 23)),
)
LAST_DAY = START + timedelta(days=DAYS)  # the last UTC date with spend (local days end later)


@dataclass
class SimRun:
    """What the session built: the world folder, the warehouse and the timings per step."""

    world: Path
    warehouse: Any
    timings: dict[str, list[float]] = field(default_factory=dict)
    dbt_runs: list[Any] = field(default_factory=list)

    def time(self, step: str, seconds: float) -> None:
        """Record one step's duration."""
        self.timings.setdefault(step, []).append(seconds)


def run_world(root: Path, warehouse: Any) -> SimRun:
    """Generate the world into ``root/world`` and run every checkpoint into ``warehouse``."""
    import connectors
    from attribution.store import run_attribution
    from connectors.product_events import load_events
    from flows.dbt_runner import build_facts, build_mart
    from simulator.server import SimServer
    from simulator.world import generate_world, publish, read_sim_env

    world = root / "world"
    t = time.perf_counter()
    generate_world(world, START, DAYS, seed=SEED, scale=SCALE, show_progress=False)
    run = SimRun(world, warehouse)
    run.time("generate", time.perf_counter() - t)
    os.environ.update(read_sim_env(world / "sim.env"))
    pepper = os.environ["ROI_PII_PEPPER"].encode()
    landing = root / "landing"
    with SimServer(world, port=0, as_of=CHECKPOINTS[0][0]) as srv:
        for logical, mode, first in CHECKPOINTS:
            srv.set_as_of(logical)
            t = time.perf_counter()
            for name in AD_SOURCES:
                pipe = warehouse.dlt_pipeline(f"{name}_sqlm", "raw_ads")
                span = {"start": START - timedelta(days=1), "end": LAST_DAY} if mode == "backfill" else {}
                connectors.run_connector(
                    name, pipe, mode=mode, logical_time=logical, base_url=srv.url, **span
                )
            run.time("ads", time.perf_counter() - t)
            t = time.perf_counter()
            publish(world, str(landing), logical)
            load_events(warehouse.dlt_pipeline("product_events_sqlm", "raw_events"), str(landing), pepper)
            run.time("events", time.perf_counter() - t)
            end = min(logical.date() + timedelta(days=1), LAST_DAY + timedelta(days=1))
            t = time.perf_counter()
            run.dbt_runs.append(build_facts(first, end))
            run.time("build_facts", time.perf_counter() - t)
            t = time.perf_counter()
            run_attribution(warehouse.connection(), first, end - timedelta(days=1))
            run.time("attribution", time.perf_counter() - t)
            t = time.perf_counter()
            run.dbt_runs.append(build_mart(first, end))
            run.time("build_mart", time.perf_counter() - t)
    return run
