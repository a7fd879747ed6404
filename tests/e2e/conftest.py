"""End-to-end fixtures: one simulated world run through the real flows, once per module.

The world crosses both daylight-saving changes (EU 25 Oct, US 1 Nov 2026). Simulated time
advances in coarse steps (a Prefect flow run costs about a second plus dbt's start-up), with
the daily restatement lookback at 04:00 UTC, as production runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.world import read_sim_env
from tests.e2e.hashes import base_tables, table_hash

WORLD_START = date(2026, 10, 24)
WORLD_DAYS = 10
WORLD_SCALE = 0.0005
WORLD_SEED = 5

# Columns that name a run rather than describe data: excluded when comparing tables.
RUN_COLUMNS = ("attribution_run_id", "updated_at", "_dlt_load_id", "_load_id", "_extracted_at")


@dataclass
class Timeline:
    """The running pipeline of one world: server, folders, and what ran so far."""

    world: Path
    landing: Path
    server: Any
    runs: list[tuple[str, datetime, datetime, float]] = field(default_factory=list)
    closes: list[dict[str, Any]] = field(default_factory=list)

    def advance(self, flow_name: str, start: datetime, end: datetime) -> str:
        """Move simulated time to ``end`` (APIs and landing) and run one flow."""
        import time

        from flows.pipeline import hourly_incremental, restatement_lookback
        from simulator.world import publish

        self.server.set_as_of(end)
        publish(self.world, str(self.landing), end)
        t0 = time.perf_counter()
        if flow_name == "hourly_incremental":
            run_id = hourly_incremental(window_start=start, window_end=end)
        else:
            run_id = restatement_lookback(window_end=end)
        self.runs.append((flow_name, start, end, time.perf_counter() - t0))
        return run_id

    def close(self, at: datetime) -> dict[str, Any]:
        """The daily close at ``at`` (05:00 UTC in production) of the UTC day before it."""
        from flows.close import close_daily

        self.server.set_as_of(at)
        outcome = close_daily(logical_time=at)
        self.closes.append(outcome)
        return outcome


def table_hashes(con: Any, schema: str = "analytics") -> dict[str, tuple[int, str]]:
    """Row count and a hash of the sorted rows of every result table in ``schema``.

    ``int_*__affected`` tables are left out: they are each run's scratch list of the keys it
    re-derives (their content is the run's window by design), not results.
    """
    tables = [t for t in base_tables(con, schema) if not (t.startswith("int_") and t.endswith("__affected"))]
    return {t: table_hash(con, schema, t, RUN_COLUMNS) for t in tables}


@pytest.fixture(scope="module")
def timeline(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Timeline]:
    """A world served on 127.0.0.1, the pipeline pointed at it, its warehouse empty."""
    from roi.core.settings import reset_settings
    from roi.core.warehouse import get_warehouse, reset_warehouse
    from simulator.server import SimServer
    from simulator.world import generate_world

    base = tmp_path_factory.mktemp("e2e")
    world = base / "world"
    generate_world(world, WORLD_START, WORLD_DAYS, seed=WORLD_SEED, scale=WORLD_SCALE, show_progress=False)
    saved = dict(os.environ)
    t0 = datetime.combine(WORLD_START, datetime.min.time(), UTC)
    with SimServer(world, port=0, as_of=t0) as srv:
        os.environ.update(read_sim_env(world / "sim.env"))
        os.environ["ROI_DUCKDB_PATH"] = str(base / "warehouse.duckdb")
        os.environ["ROI_LANDING_URL"] = str(base / "landing")
        os.environ["ROI_API_BASE_URL"] = srv.url
        reset_settings()
        reset_warehouse()
        get_warehouse().bootstrap()
        try:
            yield Timeline(world=world, landing=base / "landing", server=srv)
        finally:
            reset_warehouse()
            os.environ.clear()
            os.environ.update(saved)
            reset_settings()


# Days (counted from the world's start) whose 04:00 UTC run is followed by the daily lookback.
# Production runs it every day; the suite runs it mid-way (restatements replace values) and on
# the last three days (each day's final pull), which is what the truth comparison needs.
LOOKBACK_DAYS = (4, 8, 9, 10)


def close_times(plan: list[tuple[str, datetime, datetime]]) -> list[datetime]:
    """05:00 UTC after each day's 04:00 runs from the second day on: the close of the day before."""
    t0 = datetime.combine(WORLD_START, datetime.min.time(), UTC)
    return sorted({end + timedelta(hours=1) for _, _, end in plan if end - t0 >= timedelta(days=2)})


def daily_plan(
    days: int, lookback_days: tuple[int, ...] = LOOKBACK_DAYS
) -> list[tuple[str, datetime, datetime]]:
    """One incremental run a day up to 04:00 UTC, then (on ``lookback_days``) the lookback."""
    t0 = datetime.combine(WORLD_START, datetime.min.time(), UTC)
    steps = []
    prev = t0
    for d in range(1, days + 1):
        at = t0 + timedelta(days=d, hours=4)
        steps.append(("hourly_incremental", prev, at))
        if d in lookback_days:
            steps.append(("restatement_lookback", at, at))
        prev = at
    return steps
