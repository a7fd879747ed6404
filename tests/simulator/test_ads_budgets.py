"""Campaign budgets in the simulated ad APIs: sized on the world's own delivery (an ordinary day
well under the budget, a runaway day of 5x over it), served in each platform's documented shape
and unit, and written to ``truth/campaign_budgets.parquet``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import requests

from simulator.ads import api_apple, api_google, api_meta
from simulator.ads.budgets import HEADROOM, TOP_DAILY, TRUTH_COLUMNS

BUDGETED = ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads")


@pytest.fixture(scope="module")
def truth(ads_world: Path) -> pl.DataFrame:
    return pl.read_parquet(ads_world / "truth" / "campaign_budgets.parquet")


def _daily_spend(ads_state, platform: str, key: str) -> pl.DataFrame:
    """Spend (units) per ``key`` (campaign_idx / ad_group_idx) and account-local day, as delivered."""
    cells = pl.DataFrame({c: ads_state.cells[platform][c] for c in (key, "local_day", "spend_micros")})
    return cells.group_by(key, "local_day").agg((pl.col("spend_micros").sum() / 1e6).alias("spend"))


def test_truth_covers_every_campaign_with_each_platforms_modes(ads_state, truth) -> None:
    assert dict(truth.schema) == TRUTH_COLUMNS
    campaigns = sum(ads_state.entities[p].campaigns.height for p in (*BUDGETED, "impact"))
    assert truth.height == campaigns == truth.select("platform", "campaign_id").n_unique()
    periods = {p: set(g["budget_period"]) for (p,), g in truth.group_by("platform")}
    assert periods == {
        "google_ads": {"daily", "lifetime"},  # DAILY / CUSTOM_PERIOD: every campaign has a budget
        "meta_ads": {"daily", "lifetime"},
        "tiktok_ads": {"daily", "lifetime", "none"},  # BUDGET_MODE_INFINITE: no limit
        "apple_search_ads": {"daily"},  # dailyBudget is required
        "impact": {"none"},
    }
    daily = truth.filter(pl.col("budget_period") == "daily")
    assert daily["daily_budget"].is_not_null().all() and (daily["daily_budget"] > 0).all()
    assert truth.filter(pl.col("budget_period") != "daily")["daily_budget"].is_null().all()
    assert set(truth.filter(pl.col("platform") == "meta_ads")["budget_level"]) == {"campaign", "ad_set"}
    accounts = pl.concat([ads_state.entities[p].accounts for p in (*BUDGETED, "impact")])
    cur = truth.join(accounts.select("account_id", pl.col("currency").alias("acc")), on="account_id")
    assert (cur["currency"] == cur["acc"]).all()


@pytest.mark.parametrize("platform", BUDGETED)
def test_ordinary_days_stay_well_under_the_budget_and_a_runaway_exceeds_it(ads_state, platform) -> None:
    """Every delivered day is at most 1/HEADROOM of the daily budget in force for it (the campaign's,
    or a Meta ad set's own when its campaign has none), and 5x a typical day is over it."""
    budgets = ads_state.budgets.filter(pl.col("platform") == platform)
    camps = ads_state.entities[platform].campaigns.with_row_index("campaign_idx")
    mine = budgets.join(camps.select("campaign_id", pl.col("campaign_idx").cast(pl.Int32)), on="campaign_id")
    checks = [(mine.filter(pl.col("mode") == "daily"), "campaign_idx")]
    if platform == "meta_ads":
        groups = ads_state.entities[platform].ad_groups.with_row_index("ad_group_idx")
        sets = ads_state.ad_set_budgets.join(
            groups.select("ad_group_id", pl.col("ad_group_idx").cast(pl.Int32)), on="ad_group_id"
        )
        checks.append((sets, "ad_group_idx"))
    for budget, key in checks:
        assert budget.height > 0
        days = _daily_spend(ads_state, platform, key).with_columns(pl.col(key).cast(pl.Int32))
        seen = days.join(budget.select(key, "daily_budget"), on=key)
        assert (seen["spend"] <= seen["daily_budget"] / HEADROOM + 1).all(), platform
        typical = seen.group_by(key).agg(pl.col("spend").median(), pl.col("daily_budget").first())
        assert (5 * typical["spend"] > typical["daily_budget"]).all(), platform


def _google_budgets(ads_server, ads_state) -> dict[str, dict]:
    query = (
        "SELECT campaign.id, campaign.campaign_budget, campaign_budget.period, "
        "campaign_budget.amount_micros, campaign_budget.total_amount_micros FROM campaign"
    )
    out = {}
    for i, acc in enumerate(ads_state.entities["google_ads"].accounts.iter_rows(named=True)):
        rows, mask = api_google.run_query(ads_server.ctx, i, acc["account_id"], query)
        assert "campaignBudget.amountMicros" in mask
        out |= {r["campaign"]["id"]: r for r in rows}
    return out


def test_google_serves_campaign_budget_micros_from_the_campaign_resource(
    ads_server, ads_state, truth
) -> None:
    """``campaign_budget`` fields select with ``campaign``: int64 micros as strings, DAILY amount or
    CUSTOM_PERIOD total, and the budget's resource name on both resources."""
    rows = _google_budgets(ads_server, ads_state)
    for t in truth.filter(pl.col("platform") == "google_ads").iter_rows(named=True):
        b = rows[t["campaign_id"]]["campaignBudget"]
        assert rows[t["campaign_id"]]["campaign"]["campaignBudget"] == b["resourceName"]
        assert b["resourceName"].startswith(f"customers/{t['account_id']}/campaignBudgets/")
        if t["budget_period"] == "daily":
            assert b["period"] == "DAILY" and "totalAmountMicros" not in b
            assert isinstance(b["amountMicros"], str) and int(b["amountMicros"]) == t["daily_budget"] * 1e6
        else:
            assert b["period"] == "CUSTOM_PERIOD" and "amountMicros" not in b
            assert int(b["totalAmountMicros"]) == t["lifetime_budget"] * 1e6


def _meta(ads_server, ads_env, account: str, edge: str, fields: str) -> list[dict]:
    url = f"{ads_server.url}/meta_ads/v27.0/act_{account}/{edge}"
    params = {"access_token": ads_env["SOURCES__META_ADS__ACCESS_TOKEN"], "fields": fields, "limit": "500"}
    r = requests.get(url, params=params, timeout=30)
    assert r.status_code == 200, r.text
    data: list[dict] = r.json()["data"]
    return data


def test_meta_serves_minor_units_on_the_campaign_or_its_ad_sets(
    ads_server, ads_env, ads_state, truth
) -> None:
    """``daily_budget`` / ``lifetime_budget`` are numeric strings in cents; a campaign without a
    campaign budget has neither and its ad sets' daily budgets sum to the truth."""
    assert api_meta.MINOR_UNITS == 100
    for acc in ads_state.entities["meta_ads"].accounts["account_id"]:
        camps = {
            c["id"]: c
            for c in _meta(ads_server, ads_env, acc, "campaigns", "id,daily_budget,lifetime_budget")
        }
        sets = _meta(ads_server, ads_env, acc, "adsets", "id,campaign_id,daily_budget")
        for t in truth.filter(pl.col("account_id") == acc).iter_rows(named=True):
            c = camps[t["campaign_id"]]
            if t["budget_level"] == "ad_set":
                assert "daily_budget" not in c and "lifetime_budget" not in c
                mine = [Decimal(s["daily_budget"]) for s in sets if s["campaign_id"] == t["campaign_id"]]
                assert mine and sum(mine) / 100 == Decimal(str(t["daily_budget"]))
            elif t["budget_period"] == "daily":
                assert c["daily_budget"] == str(round(t["daily_budget"] * 100)) and "lifetime_budget" not in c
                assert not [s for s in sets if s["campaign_id"] == t["campaign_id"] and "daily_budget" in s]
            else:
                assert (
                    c["lifetime_budget"] == str(round(t["lifetime_budget"] * 100)) and "daily_budget" not in c
                )


def test_tiktok_and_apple_serve_units(ads_server, ads_env, ads_state, truth) -> None:
    """TikTok: ``budget`` a number in units with ``budget_mode`` (0 when BUDGET_MODE_INFINITE);
    Apple v1: ``dailyBudget.value`` a Money object (amount as text in units, currency)."""
    modes = {"daily": "BUDGET_MODE_DAY", "lifetime": "BUDGET_MODE_TOTAL", "none": "BUDGET_MODE_INFINITE"}
    want = {r["campaign_id"]: r for r in truth.iter_rows(named=True)}
    for adv in ads_state.entities["tiktok_ads"].accounts["account_id"]:
        r = requests.get(
            f"{ads_server.url}/tiktok_ads/open_api/v1.3/campaign/get/",
            params={"advertiser_id": adv, "page_size": 100},
            headers={"Access-Token": ads_env["SOURCES__TIKTOK_ADS__ACCESS_TOKEN"]},
            timeout=30,
        )
        for c in r.json()["data"]["list"]:
            t = want[c["campaign_id"]]
            assert c["budget_mode"] == modes[t["budget_period"]]
            amount = t["daily_budget"] or t["lifetime_budget"] or 0.0
            assert isinstance(c["budget"], float) and c["budget"] == amount
    apple = ads_state.entities_as_of("apple_search_ads", ads_server.ctx.as_of)["campaigns"]
    for i, acc in enumerate(ads_state.entities["apple_search_ads"].accounts.iter_rows(named=True)):
        for r in apple.filter(pl.col("account_id") == acc["account_id"]).iter_rows(named=True):
            money = api_apple._campaign(ads_server.ctx, i, r)["dailyBudget"]["value"]
            assert money == {
                "amount": f"{want[r['campaign_id']]['daily_budget']:.2f}",
                "currency": acc["currency"],
            }


@pytest.mark.parametrize("platform", BUDGETED)
def test_the_biggest_campaigns_carry_a_daily_budget(ads_state, truth, platform) -> None:
    """The campaigns simulator.incidents can make run away (a platform's three biggest by delivery
    weight) always have a campaign daily budget, so the overspend rule has one to watch."""
    camps = ads_state.entities[platform].campaigns
    top = camps.sort("daily_budget", "campaign_id", descending=[True, False])["campaign_id"][:TOP_DAILY]
    mine = truth.filter(pl.col("platform") == platform, pl.col("campaign_id").is_in(top.to_list()))
    assert mine.height == min(TOP_DAILY, camps.height)
    assert set(mine["budget_period"]) == {"daily"}
    assert mine["daily_budget"].is_not_null().all()
