"""One built warehouse per session: the hand-made raw world, dbt facts, attribution, the mart.

dbt costs seconds per invocation, so the build happens once and the tests assert many things
on it; the tests that mutate tables restore what they change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.sql_models.raw_world import build_raw_world


@pytest.fixture(scope="session")
def built(session_dir: Path) -> Iterator[Any]:
    """The DuckDB connection of a fully built warehouse (facts, attribution, mart, dbt tests green)."""
    from roi.settings import reset_settings
    from roi.warehouse import get_warehouse, reset_warehouse

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
