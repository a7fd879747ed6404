"""One small simulated world for the ``roi explain`` tests, built once by the real pipeline pieces.

The world (4 days, scale 0.001) is served on 127.0.0.1 and pulled by the real connectors, its
landing files loaded by the product-events connector, and the facts, attribution and mart
built by dbt and the attribution engine (the same calls the flows make, without Prefect's
start-up), once the restatement windows have passed. About 30 s on a quiet 2-core machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

START = date(2026, 10, 24)
DAYS = 4
SEED = 7
SCALE = 0.001
AD_SOURCES = ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads", "impact", "fx_rates")
LAST_DAY = START + timedelta(days=DAYS)
# (logical time, connector mode, first date rebuilt): one settle-up after every restatement
# window closed (tests/sql_models and tests/e2e cover the incremental history; explain reads
# whatever the tables hold).
CHECKPOINTS = ((datetime(2026, 11, 6, 6, tzinfo=UTC), "backfill", START - timedelta(days=1)),)


@dataclass
class World:
    """The generated world's folder and the warehouse built from it."""

    root: Path
    warehouse: Any

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """All rows of a query on the warehouse."""
        cur = self.warehouse.connection().cursor()
        try:
            return list(cur.execute(sql, params or []).fetchall())
        finally:
            cur.close()


def _run(root: Path, warehouse: Any) -> None:
    import connectors
    from attribution.store import run_attribution
    from connectors.product_events import load_events
    from flows.dbt_runner import build_facts, build_mart
    from simulator.server import SimServer
    from simulator.world import generate_world, publish, read_sim_env

    world = root / "world"
    generate_world(world, START, DAYS, seed=SEED, scale=SCALE, show_progress=False)
    os.environ.update(read_sim_env(world / "sim.env"))
    pepper = os.environ["ROI_PII_PEPPER"].encode()
    with SimServer(world, port=0, as_of=CHECKPOINTS[0][0]) as srv:
        for logical, mode, first in CHECKPOINTS:
            srv.set_as_of(logical)
            span: dict[str, Any] = (
                {"start": START - timedelta(days=1), "end": LAST_DAY} if mode == "backfill" else {}
            )
            for name in AD_SOURCES:
                pipe = warehouse.dlt_pipeline(f"{name}_explain", "raw_ads")
                connectors.run_connector(
                    name, pipe, mode=mode, logical_time=logical, base_url=srv.url, **span
                )
            publish(world, str(root / "landing"), logical)
            load_events(
                warehouse.dlt_pipeline("product_events_explain", "raw_events"), str(root / "landing"), pepper
            )
            end = min(logical.date() + timedelta(days=1), LAST_DAY + timedelta(days=1))
            build_facts(first, end)
            run_attribution(warehouse.connection(), first, end - timedelta(days=1))
            build_mart(first, end)


@pytest.fixture(scope="session")
def world(session_dir: Path) -> Iterator[World]:
    """The built world (session-wide: every explain test reads it; those that write restore it)."""
    from roi.core.settings import reset_settings
    from roi.core.warehouse import get_warehouse, reset_warehouse

    root = session_dir / "explain"
    saved = dict(os.environ)
    os.environ["ROI_DUCKDB_PATH"] = str(root / "warehouse.duckdb")
    reset_settings()
    reset_warehouse()
    wh = get_warehouse()
    wh.bootstrap()
    _run(root, wh)
    reset_settings()  # the world's sim.env changed the environment the settings read
    yield World(root, wh)
    reset_warehouse()
    os.environ.clear()
    os.environ.update(saved)
    reset_settings()
