"""(Runs last in this folder: its session fixture repoints the process warehouse.)
The models on a simulated world loaded by the real connectors (tests/sql_models/sim_world.py):
spend equals the simulator's final truth to the micro-unit, incremental runs equal a full
refresh table for table, dbt tests and Soda contracts are green."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.sql_models import sim_world
from tests.sql_models.conftest import SIM_COMPARED

# The slower tier (make slower): the e2e suite checks the same on a world through the flows
# (spend = truth to the micro, incremental = full rebuild, contracts green); this is the dbt-level
# view of it, kept out of make test's 15 minutes.
pytestmark = pytest.mark.slower

KEYS = ("platform", "account_id", "campaign_id", "ad_group_id", "ad_id", "spend_date", "spend_hour")


def q(sim, sql: str) -> list[tuple]:
    cur = sim.warehouse.connection().cursor()
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


def test_every_incremental_run_and_dbt_test_green(sim):
    runs = [*sim.dbt_runs, sim.full_facts, sim.full_mart]
    assert all(r.success for r in runs)
    tests = [n for r in runs for n in r.nodes if "test" in n.resource_type]
    assert {
        "assert_fx_rate_present",
        "assert_revenue_fx_rate_present",
        "assert_mart_spend_equals_fact_spend",
    } <= {n.name for n in tests}
    assert tests and all(n.status == "pass" for n in tests)
    print("timings", {k: [round(x, 2) for x in v] for k, v in sim.timings.items()})


def test_soda_contracts_green(sim):
    assert sim.checks and all(r.ok for r in sim.checks), [r for r in sim.checks if not r.ok]


def test_spend_equals_final_truth_to_the_micro(sim):
    truth = sim.world / "truth" / "spend_final.parquet"
    on = " and ".join(f"f.{k} is not distinct from t.{k}" for k in KEYS)
    # every local day is past its restatement window at the settle-up checkpoint
    out = q(
        sim,
        f"""
        with t as (select * from read_parquet('{truth}')),
        f as (select *, cast(spend_local * 1000000 as bigint) as micros from analytics.fact_ad_spend)
        select coalesce(f.platform, t.platform) as platform,
            count(*) filter (where f.micros = t.spend_micros and f.currency = t.currency) as same,
            count(*) filter (where f.micros <> t.spend_micros or f.currency <> t.currency) as differ,
            count(*) filter (where t.platform is null) as only_fact,
            count(*) filter (where f.platform is null) as only_truth,
            count(*) filter (where f.impressions <> t.impressions or f.clicks <> t.clicks) as metrics_differ
        from f full join t on {on}
        group by all order by 1""",
    )
    assert [r[0] for r in out] == ["apple_search_ads", "google_ads", "impact", "meta_ads", "tiktok_ads"]
    for platform, same, differ, only_fact, only_truth, metrics_differ in out:
        assert same > 50 and (differ, only_fact, only_truth, metrics_differ) == (0, 0, 0, 0), platform
    # grain conventions: Apple daily without hours, Impact's media partner in ad_group_id without ads
    shape = dict(
        q(
            sim,
            """select platform, count(*) filter (where
            (platform = 'apple_search_ads' and (spend_hour is not null or date_basis <> 'utc_day' or ad_id is not null))
            or (platform = 'impact' and (ad_id is not null or ad_group_id is null or date_basis <> 'utc_hour'))
            or (platform not in ('apple_search_ads', 'impact') and (spend_hour is null or ad_id is null)))
        from analytics.fact_ad_spend group by 1""",
        )
    )
    assert set(shape.values()) == {0}


def test_incremental_runs_equal_full_refresh_table_for_table(sim):
    for t in SIM_COMPARED:
        cols = [
            c
            for (c,) in q(
                sim,
                f"select column_name from information_schema.columns"
                f" where table_schema = 'analytics' and table_name = '{t}'",
            )
        ]
        # the attribution engine's run id differs between the two runs; everything else must not
        sel = ", ".join(c for c in cols if c not in ("attribution_run_id",))
        n = q(sim, f"select count(*) from analytics.{t}")[0][0]
        diff = q(
            sim,
            f"select count(*) from ((select {sel} from analytics.{t} except all select {sel} from incr.{t})"
            f" union all (select {sel} from incr.{t} except all select {sel} from analytics.{t}))",
        )[0][0]
        assert n > 0 and diff == 0, (t, n, diff)


def test_no_placeholder_attribution_version_and_lineage(sim):
    assert (
        q(sim, "select count(*) from analytics.mart_marketing_roi_daily where attribution_version = 'none'")[
            0
        ][0]
        == 0
    )
    assert (
        q(sim, "select count(*) from incr.mart_marketing_roi_daily where attribution_version = 'none'")[0][0]
        == 0
    )
    for t in ("fact_ad_spend", "fact_signups", "fact_touchpoints"):
        assert (
            q(sim, f"select count(*) filter (where _load_id is null), count(*) from analytics.{t}")[0][0] == 0
        ), t
    # revenue: every first revenue within the horizon has its USD value (no silent null)
    assert (
        q(
            sim,
            "select count(*) from analytics.fact_signups"
            " where first_revenue_local is not null and first_revenue_usd is null",
        )[0][0]
        == 0
    )
    assert q(sim, "select count(*) from analytics.fact_signups where first_revenue_usd > 0")[0][0] > 10


def test_dim_campaign_from_the_scd2_tables(sim):
    n, current, platforms = q(
        sim,
        "select count(*), count(*) filter (where is_current), count(distinct platform)"
        " from analytics.dim_campaign",
    )[0]
    assert platforms == 5 and current > 0 and n >= current
    assert (
        q(
            sim,
            "select count(*) from analytics.mart_marketing_roi_daily where campaign_name is null"
            " and platform <> 'unattributed'",
        )[0][0]
        == 0
    )
    assert sim_world.LAST_DAY - timedelta(days=sim_world.DAYS) == sim_world.START
