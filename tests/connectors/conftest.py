"""Session fixtures for the connector tests: one small simulated world and one API server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date
from pathlib import Path

import pytest

import connectors  # noqa: F401  (registers every connector)
from connector_sdk.testing import SimulatorHandle
from simulator.ads import generate_ads
from simulator.server import SimServer
from simulator.world import credentials_by_source, read_sim_env

WORLD_START = date(2026, 10, 20)  # crosses the EU (Oct 25) daylight-saving change
WORLD_DAYS = 10
WORLD_SCALE = 0.002
WORLD_SEED = 11


@pytest.fixture(scope="session")
def sim_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ad side of a small world (scale 0.002, 10 days), generated once per session."""
    out = tmp_path_factory.mktemp("ads_world")
    generate_ads(out, WORLD_START, WORLD_DAYS, WORLD_SEED, WORLD_SCALE)
    return out


@pytest.fixture(scope="session")
def sim_server(sim_world: Path) -> Iterator[SimServer]:
    """The simulated ad APIs of that world on 127.0.0.1."""
    with SimServer(sim_world) as srv:
        yield srv


@pytest.fixture(scope="session")
def sim(sim_server: SimServer, sim_world: Path) -> SimulatorHandle:
    """What the contract suite needs: URL, credentials, the world's end (the default as-of)."""
    return SimulatorHandle(
        base_url=sim_server.url,
        credentials=credentials_by_source(read_sim_env(sim_world / "sim.env")),
        world_end=sim_server.as_of.astimezone(UTC),
    )
