"""One small simulated world run through the real flows, shared by the close tests.

Three UTC days (2026-10-24..26) at scale 0.0005, run by two hourly runs in coarse steps (as the
e2e tests advance time): to 10-25 04:00, then to 10-27 04:00. Closing 10-26 at 05:00 is then the production
situation; the tests that mutate tables restore what they change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.world import read_sim_env

START = date(2026, 10, 24)
DAYS = 3
SCALE = 0.0005
SEED = 5
T0 = datetime.combine(START, datetime.min.time(), UTC)
# (window start, window end) of each hourly run
PLAN = (
    (T0, T0 + timedelta(days=1, hours=4)),
    (T0 + timedelta(days=1, hours=4), T0 + timedelta(days=3, hours=4)),
)


@dataclass
class World:
    """The built world: its folder, the simulator, the warehouse."""

    root: Path
    server: Any
    warehouse: Any

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """All rows of one query (in the warehouse's turn)."""
        with self.warehouse.session("test"):
            cur = self.warehouse.connection().cursor()
            try:
                return cur.execute(sql, params or []).fetchall()
            finally:
                cur.close()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        """Run one statement."""
        self.rows(sql, params)


@pytest.fixture(scope="module")
def world(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The world, built once per module through ``restatement_lookback`` and ``hourly_incremental``."""
    from flows.pipeline import hourly_incremental
    from roi.core.settings import reset_settings
    from roi.core.warehouse import get_warehouse, reset_warehouse
    from simulator.server import SimServer
    from simulator.world import generate_world, publish

    base = tmp_path_factory.mktemp("close")
    root = base / "world"
    generate_world(root, START, DAYS, seed=SEED, scale=SCALE, show_progress=False)
    saved = dict(os.environ)
    with SimServer(root, port=0, as_of=T0) as srv:
        os.environ.update(read_sim_env(root / "sim.env"))
        os.environ["ROI_DUCKDB_PATH"] = str(base / "warehouse.duckdb")
        os.environ["ROI_LANDING_URL"] = str(base / "landing")
        os.environ["ROI_API_BASE_URL"] = srv.url
        reset_settings()
        reset_warehouse()
        get_warehouse().bootstrap()
        try:
            for start, end in PLAN:
                srv.set_as_of(end)
                publish(root, str(base / "landing"), end)
                hourly_incremental(window_start=start, window_end=end)
            yield World(root=root, server=srv, warehouse=get_warehouse())
        finally:
            reset_warehouse()
            os.environ.clear()
            os.environ.update(saved)
            reset_settings()
