"""One built warehouse per session: the hand-made raw world, dbt facts, attribution, the mart.

dbt costs seconds per invocation, so the build happens once and the tests assert many things
on it; the tests that mutate tables restore what they change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.sql_models.raw_world import build_raw_world


@pytest.fixture(scope="session")
def built(session_dir: Path) -> Iterator[Any]:
    """The DuckDB connection of a fully built warehouse (facts, attribution, mart, dbt tests green)."""
    from roi.core.settings import reset_settings
    from roi.core.warehouse import get_warehouse, reset_warehouse

    old = os.environ.get("ROI_DUCKDB_PATH")
    os.environ["ROI_DUCKDB_PATH"] = str(session_dir / "sql_models" / "warehouse.duckdb")
    reset_settings()
    reset_warehouse()
    from attribution.store import run_attribution
    from flows.dbt_runner import build_facts, build_mart

    wh = get_warehouse()
    wh.bootstrap()
    build_raw_world().write(wh.connection())
    facts = build_facts(full_refresh=True)
    run_attribution(wh.connection(), date(2024, 10, 25), date(2024, 11, 6))
    mart = build_mart(full_refresh=True)
    wh.dbt_runs = (facts, mart)  # type: ignore[attr-defined]
    yield wh
    reset_warehouse()
    if old is None:
        os.environ.pop("ROI_DUCKDB_PATH", None)
    else:
        os.environ["ROI_DUCKDB_PATH"] = old
    reset_settings()


def rows(wh: Any, sql: str) -> list[tuple[Any, ...]]:
    """All rows of a query on the warehouse."""
    cur = wh.connection().cursor()
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


@pytest.fixture(scope="session")
def sim(session_dir: Path) -> Iterator[Any]:
    """A simulated 10-day world loaded by the real connectors and run through incremental
    checkpoints (tests/sql_models/sim_world.py), then snapshotted into schema ``incr`` and
    rebuilt by a full refresh, so the tests compare the two table for table."""
    from attribution.store import run_attribution
    from flows.checks import run_all_checks
    from flows.dbt_runner import build_facts, build_mart
    from roi.core.settings import reset_settings
    from roi.core.warehouse import get_warehouse, reset_warehouse
    from tests.sql_models import sim_world

    root = session_dir / "sql_models_sim"
    old = {k: os.environ.get(k) for k in ("ROI_DUCKDB_PATH",)}
    os.environ["ROI_DUCKDB_PATH"] = str(root / "warehouse.duckdb")
    reset_settings()
    reset_warehouse()
    wh = get_warehouse()
    wh.bootstrap()
    run = sim_world.run_world(root, wh)
    con = wh.connection()
    con.execute("create schema if not exists incr")
    for t in SIM_COMPARED:
        con.execute(f"create or replace table incr.{t} as select * from analytics.{t}")
    run.checks = run_all_checks(sim_world.START, sim_world.LAST_DAY + timedelta(days=1))
    import time

    t0 = time.perf_counter()
    run.full_facts = build_facts(full_refresh=True)
    run.time("build_facts_full", time.perf_counter() - t0)
    run_attribution(con, sim_world.START - timedelta(days=1), sim_world.LAST_DAY)
    t0 = time.perf_counter()
    run.full_mart = build_mart(full_refresh=True)
    run.time("build_mart_full", time.perf_counter() - t0)
    yield run
    reset_warehouse()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    reset_settings()


# the incremental tables compared with a full refresh (fact_attribution is the engine's, rerun)
SIM_COMPARED = (
    "fact_ad_spend",
    "fact_signups",
    "fact_touchpoints",
    "dim_campaign",
    "mart_marketing_roi_daily",
)
