"""A pull holds the destination only to land: while the API answers, the embedded warehouse file is
free for another process (an ops refresh, another run's step), and the landing happens in one turn.

Before, ``flows.tasks.load_ads`` held the warehouse for the whole pull, so a slow platform (Meta's
async reports took 75 s at scale 1.0) kept the five-minute ops refresh waiting the whole time.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector_sdk import land
from connector_sdk.http import FAST_RETRY
from connector_sdk.registry import get_connector, run_connector
from connector_sdk.testing import SimulatorHandle
from roi.core.warehouse import get_warehouse
from simulator.server import SimServer
from tests.connectors.conftest import WORLD_START

SLOW = 0.4  # seconds each request of the platform takes


def _opened_elsewhere(path: Path) -> bool:
    """Whether another process can open the file read-write now (no one holds it)."""
    code = f"import duckdb; duckdb.connect({str(path)!r}).execute('select 1').fetchone(); print('opened')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return res.stdout.strip() == "opened"


def test_a_slow_pull_leaves_the_warehouse_free_until_it_lands(
    sim: SimulatorHandle, sim_server: SimServer, fresh_warehouse: Path
) -> None:
    wh = get_warehouse()
    wh.bootstrap()
    at = datetime.combine(WORLD_START + timedelta(days=2), datetime.min.time(), UTC) + timedelta(hours=5)
    sim.set_as_of(at)
    sim_server.set_faults("tiktok_ads", slow=1.0, slow_seconds=SLOW)
    turns: list[tuple[float, float]] = []

    @contextmanager
    def access() -> Any:
        t0 = time.monotonic()
        with wh.session("ads tiktok_ads: land"):
            yield
        turns.append((t0, time.monotonic()))

    result: dict[str, Any] = {}

    def pull() -> None:
        result["summary"] = run_connector(
            "tiktok_ads",
            lambda: wh.dlt_pipeline("roi_ads_tiktok_ads", "raw_ads"),
            access=access,
            mode="hourly",
            logical_time=at,
            base_url=sim.base_url,
            credentials=sim.credentials["tiktok_ads"],
            retry=FAST_RETRY,
            requests_per_second=0,
        )

    try:
        started = time.monotonic()
        worker = threading.Thread(target=pull)
        worker.start()
        time.sleep(2 * SLOW)  # a few requests in: the pull is on the network
        free_during_pull = _opened_elsewhere(fresh_warehouse)
        worker.join(timeout=300)
        finished = time.monotonic()
    finally:
        sim_server.clear_faults()
    assert not worker.is_alive()
    assert free_during_pull, "the warehouse file was held while the API answered"
    assert len(turns) == 1, f"the landing took one turn, not {len(turns)}"
    (t0, t1) = turns[0]
    assert t0 - started > 2 * SLOW, "the turn was taken before the pull began answering"
    assert (t1 - t0) < (finished - started), "the turn covered the whole pull"
    summary = result["summary"]
    assert summary.rows > 0
    with wh.session("test"):
        con = wh.connection()
        table = land.table_names("tiktok_ads", get_connector("tiktok_ads").report, ())["history"]
        (landed,) = con.execute(
            f"select count(*) from raw_ads.{table} where _dlt_load_id = ?", [summary.load_id]
        ).fetchone()
    assert landed == summary.rows
    assert not wh._turn.held, "the connector used the warehouse outside its turn"
