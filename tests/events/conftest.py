"""Session fixtures of the product-event ingestion tests: dirty fixtures, a generated world,
each loaded once into its own DuckDB warehouse (the loads are what the tests inspect)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.product_events import load_events
from roi.core.settings import Settings
from roi.core.warehouse import Warehouse
from simulator.events import generate_events
from tests.events import dirty

PEPPER = b"events-test-pepper-0123456789"
WORLD_START = date(2026, 3, 2)
WORLD_SCALE = 0.003


@dataclass
class Loaded:
    """A landing folder, the warehouse it was loaded into, and the summaries of each load."""

    landing: Path
    warehouse: Any
    pipeline: Any
    summaries: list[Any]

    def sql(self, query: str) -> Any:
        """Run a query on the warehouse and return a Polars frame."""
        return self.warehouse.connection().cursor().sql(query).pl()


def make_warehouse(folder: Path) -> Any:
    """A Warehouse on its own DuckDB file (not the process singleton: several coexist)."""
    wh = Warehouse(Settings(duckdb_path=folder / "warehouse.duckdb"))
    wh.bootstrap()
    return wh


def erase(wh: Any, subject_type: str, subject_id: str) -> None:
    """What the erasure feature will do: a tombstone in raw_events.erased_subjects."""
    cur = wh.connection().cursor()
    cur.execute(
        "create table if not exists raw_events.erased_subjects (subject_type varchar not null, "
        "subject_id varchar not null, erased_at timestamp with time zone, request_id varchar)"
    )
    cur.execute(
        # a tombstone in clear (no key_id), as before keyed tombstones
        "insert into raw_events.erased_subjects (subject_type, subject_id, erased_at, request_id) "
        "values (?, ?, now(), 'test')",
        [subject_type, subject_id],
    )


@pytest.fixture(scope="session")
def dirty_loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """Dirty files loaded in wave 1 (one file per batch), then late files in an old folder (wave 2),
    then a rerun with nothing new. ``u_erased`` is erased before the first load."""
    root = tmp_path_factory.mktemp("events_dirty")
    landing = root / "landing"
    dirty.write(landing, dirty.files(), 1767607800)
    wh = make_warehouse(root)
    erase(wh, "user_id", "u_erased")
    pipe = wh.dlt_pipeline("product_events", "raw_events")
    s1 = load_events(pipe, str(landing), PEPPER, batch_files=1)
    dirty.write(landing, dirty.late_files(), 1767776400)
    s2 = load_events(pipe, str(landing), PEPPER)
    s3 = load_events(pipe, str(landing), PEPPER)
    yield Loaded(landing, wh, pipe, [s1, s2, s3])
    wh.close()


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-day simulated event world with the default dirt (events side only)."""
    out = tmp_path_factory.mktemp("events_world")
    generate_events(out, WORLD_START, 1, 5, WORLD_SCALE)
    return out


@pytest.fixture(scope="session")
def world_loaded(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """The world's landing loaded locally, twice (the second load must add nothing)."""
    root = tmp_path_factory.mktemp("events_world_wh")
    wh = make_warehouse(root)
    pipe = wh.dlt_pipeline("product_events", "raw_events")
    s1 = load_events(pipe, str(world / "landing"), PEPPER, batch_files=400)
    s2 = load_events(pipe, str(world / "landing"), PEPPER, batch_files=400)
    yield Loaded(world / "landing", wh, pipe, [s1, s2])
    wh.close()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 and the AWS_* variables pointing at it."""
    # imported here for start-up time: moto.server takes ~2 s and only the S3 test needs it
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
        "SOURCES__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID": "test",
        "SOURCES__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY": "test",
        "SOURCES__FILESYSTEM__CREDENTIALS__ENDPOINT_URL": url,
        "SOURCES__FILESYSTEM__CREDENTIALS__REGION_NAME": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield url
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
