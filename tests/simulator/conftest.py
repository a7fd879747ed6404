"""Fixtures of the simulator tests. Each side adds its own fixtures here, with distinct names."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from simulator.ads import generate_ads
from simulator.ads.common import local_midnight_utc
from simulator.ads.state import AdsWorld
from simulator.server import SimServer
from simulator.world import generate_world, read_sim_env

# --- ad side (simulator/ads, simulator/server.py) -----------------------------------------

ADS_START = date(2026, 10, 24)  # local days 24 Oct .. 1 Nov: EU falls back 25 Oct, US 1 Nov
ADS_DAYS = 9
ADS_SEED = 4242
ADS_SCALE = 0.01


@pytest.fixture(scope="session")
def ads_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small ad world crossing both daylight-saving changes (generated once per session)."""
    out = tmp_path_factory.mktemp("ads_world")
    generate_ads(out, ADS_START, ADS_DAYS, ADS_SEED, ADS_SCALE)
    return out


@pytest.fixture(scope="session")
def ads_env(ads_world: Path) -> dict[str, str]:
    """The credentials of ``ads_world`` as ``sim.env`` exports them."""
    return read_sim_env(ads_world / "sim.env")


@pytest.fixture(scope="session")
def _ads_server_session(ads_world: Path) -> Iterator[SimServer]:
    with SimServer(ads_world, port=0) as srv:
        yield srv


@pytest.fixture
def ads_server(_ads_server_session: SimServer) -> Iterator[SimServer]:
    """The session's API server for ``ads_world``, reset (as-of = world end, no faults) for each test."""
    srv = _ads_server_session
    default = srv.world.end_utc
    srv.clear_faults()
    srv.set_page_size(None)
    srv.ctx.as_of = default
    srv.ctx.retry_after_seconds = 1.0
    yield srv
    srv.clear_faults()
    srv.set_page_size(None)
    srv.ctx.as_of = default


@pytest.fixture(scope="session")
def ads_truth(ads_world: Path) -> pl.DataFrame:
    """``truth/spend_final.parquet`` of ``ads_world``."""
    return pl.read_parquet(ads_world / "truth" / "spend_final.parquet")


@pytest.fixture(scope="session")
def ads_state(ads_world: Path) -> AdsWorld:
    """The loaded ad state of ``ads_world`` (entities, cells, changes) for choosing test cases."""
    return AdsWorld(ads_world)


@pytest.fixture(scope="session")
def ads_truth_local_day(ads_truth: pl.DataFrame) -> Callable[[str, str, date], pl.DataFrame]:
    """``f(account_id, time_zone, day)`` -> truth rows whose UTC hour falls in that local day."""

    def rows(account_id: str, tz: str, day: date) -> pl.DataFrame:
        lo = datetime.fromtimestamp(local_midnight_utc(day, tz), UTC)
        hi = datetime.fromtimestamp(local_midnight_utc(day + timedelta(days=1), tz), UTC)
        utc = pl.col("spend_date").cast(pl.Datetime("us", "UTC")) + pl.duration(
            hours=pl.col("spend_hour").fill_null(0)
        )
        return (
            ads_truth.filter(pl.col("account_id") == account_id)
            .with_columns(utc.alias("utc"))
            .filter(pl.col("utc").is_between(lo, hi, closed="left"))
        )

    return rows


# --- end of ad side -------------------------------------------------------------------------


# --- event side (simulator/events, simulator/world.py) ---------------------------------------

EVENTS_START = date(2026, 10, 22)  # 12 days: crosses EU (25 Oct) and US (1 Nov) daylight-saving changes
EVENTS_DAYS = 12
EVENTS_SEED = 11
EVENTS_SCALE = 0.002


@pytest.fixture(scope="session")
def events_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small whole world (ads + events) over 12 days crossing both DST changes, built once."""
    out = tmp_path_factory.mktemp("events_world")
    generate_world(out, EVENTS_START, EVENTS_DAYS, seed=EVENTS_SEED, scale=EVENTS_SCALE, show_progress=False)
    return out


@pytest.fixture(scope="session")
def events_lines(events_world: Path) -> list[tuple[str, int, datetime, str, dict[str, Any] | None]]:
    """Every landing line of ``events_world``: key, line_no, arrival_ts, raw, parsed (dict or None)."""
    manifest = pl.read_parquet(events_world / "landing_manifest.parquet")
    rows = []
    for key, arrival in manifest.select("key", "arrival_ts").iter_rows():
        text = gzip.decompress((events_world / "landing" / key).read_bytes()).decode()
        for i, raw in enumerate(text.splitlines()):
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            rows.append((key, i, arrival, raw, obj))
    return rows


# --- end of event side ------------------------------------------------------------------------
