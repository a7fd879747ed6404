"""(After test_world_sim.py, on its session world: the file name sorts after it.)
dim_campaign's current daily budget on the simulated world loaded by the real connectors equals
the simulator's ``truth/campaign_budgets.parquet``, as of the world's last entity pull (a Meta
campaign without a campaign budget sums the ad sets it had then)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from simulator.ads.common import to_epoch
from simulator.ads.state import AdsWorld
from tests.sql_models import sim_world

pytestmark = pytest.mark.slower


def _expected(world: AdsWorld, truth: pl.DataFrame) -> dict[tuple[str, str], tuple[str, Decimal | None]]:
    """(platform, campaign) -> (budget_period, daily budget) at the last pull that read entities."""
    pulled = max(t for t, mode, _ in sim_world.CHECKPOINTS if mode != "backfill")
    groups = world.entities_as_of("meta_ads", to_epoch(pulled))["ad_groups"]
    sums = dict(groups.group_by("campaign_id").agg(pl.col("budget_daily").sum()).iter_rows())
    out = {}
    for t in truth.iter_rows(named=True):
        period, daily = t["budget_period"], t["daily_budget"]
        if t["budget_level"] == "ad_set":
            daily = sums.get(t["campaign_id"])
            period = "daily" if daily else "none"
        out[(t["platform"], t["campaign_id"])] = (period, None if daily is None else Decimal(str(daily)))
    return out


def test_current_daily_budget_equals_the_truth(sim) -> None:
    truth = pl.read_parquet(sim.world / "truth" / "campaign_budgets.parquet")
    cur = sim.warehouse.connection().cursor()
    try:
        got = cur.execute(
            "select platform, campaign_id, budget_period, daily_budget, budget_currency"
            " from analytics.dim_campaign where is_current"
        ).fetchall()
    finally:
        cur.close()
    assert {(p, c): (period, daily) for p, c, period, daily, _ in got} == _expected(
        AdsWorld(sim.world), truth
    )
    currency = dict(truth.select("campaign_id", "currency").iter_rows())
    assert all(ccy == currency[c] for _, c, _, daily, ccy in got if daily is not None)
    assert {p for p, _, period, _, _ in got if period == "daily"} == {
        "google_ads",
        "meta_ads",
        "tiktok_ads",
        "apple_search_ads",
    }
