"""A restated day is visible: spend before and after, with both load ids; old rows stay in history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from connector_sdk.http import FAST_RETRY
from connector_sdk.registry import run_connector
from connector_sdk.restatement import before_after, restatement_report
from connector_sdk.testing import SimulatorHandle, duckdb_pipeline


@pytest.fixture(scope="module")
def restated(sim: SimulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """Google Ads pulled at end-3d and again at the world's end (lookback 3)."""
    base = tmp_path_factory.mktemp("restate")
    pipe = duckdb_pipeline(base, "g")
    sim.reset()
    for at in (sim.world_end - timedelta(days=3), sim.world_end):
        sim.set_as_of(at)
        run_connector(
            "google_ads",
            pipe,
            mode="lookback",
            logical_time=at,
            base_url=sim.base_url,
            lookback_days=3,
            credentials=sim.credentials["google_ads"],
            retry=FAST_RETRY,
        )
    return base / "g.duckdb", pipe


def test_restatement_day_shows_before_after_and_load_ids(restated: tuple[Path, object]) -> None:
    """Some day in the overlap was restated: two load ids, different spend, current table = latest."""
    path, _ = restated
    con = duckdb.connect(str(path))
    days = [
        r[0]
        for r in con.execute(
            "select distinct report_date from raw_ads.google_ads__slices "
            "group by report_date having count(distinct _load_id) = 2 order by 1"
        ).fetchall()
    ]
    assert days, "no day was pulled twice"
    found = None
    for d in days:
        pulls = restatement_report(con, "google_ads", d)
        assert len({p.load_id for p in pulls}) == 2
        pair = before_after(pulls)
        if pair:
            found = (d, pair)
            break
    assert found, "the simulator restated nothing in the overlap: the world is too small"
    day, (before, after) = found
    assert before.load_id != after.load_id
    current = con.execute(
        "select coalesce(sum(cost_micros), 0) / 1e6 from raw_ads.google_ads__ad_performance where report_date = ?",
        [day],
    ).fetchall()[0][0]
    assert current == pytest.approx(after.spend)
    con.close()
