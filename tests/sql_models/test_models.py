"""The dbt models on a hand-made raw world: every expectation is computed from the Python rows."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import polars as pl

from tests.sql_models.conftest import rows
from tests.sql_models.raw_world import (
    AS_OF,
    GOOGLE_CAMP,
    META_CAMP,
    TIKTOK_CAMP,
    build_raw_world,
    fx_rate,
    local_to_utc_first,
)

RAW = build_raw_world()


def test_dbt_build_ran_every_test_green(built):
    facts, mart = built.dbt_runs
    assert facts.success and mart.success
    tests = [n for n in facts.nodes + mart.nodes if "test" in n.resource_type]
    # unique/not_null/accepted_values/relationships, FX and the mart identities all ran
    names = {n.name for n in tests}
    assert {
        "assert_fx_rate_present",
        "assert_mart_spend_equals_fact_spend",
        "assert_mart_signups_reconcile",
        "assert_mart_ratio_identities",
    } <= names
    assert len(tests) > 40 and all(n.status == "pass" for n in tests)
    # the pipeline's builds leave the unit tests to test_dbt_unit_tests_pass
    assert not [n for n in tests if n.resource_type == "unit_test"]


def test_dbt_unit_tests_pass(built):
    """The models' ``unit_tests`` (given rows -> expected rows): FX conversion, sign-up dedupe, click spam."""
    from flows.dbt_runner import run_dbt

    run = run_dbt(["test", "--select", "test_type:unit"], raise_on_failure=False)
    assert run.success, [(n.name, n.status, n.message) for n in run.failed]
    assert {n.name for n in run.nodes} == {
        "fact_ad_spend_converts_to_usd_at_the_rate_of_the_day_or_the_last_business_day",
        "fact_signups_keeps_the_first_signup_per_canonical_user_and_drops_test_users",
        "fact_touchpoints_marks_mmp_click_spam",
    }


def test_hourly_spend_moves_to_utc_across_dst_and_keeps_every_micro(built):
    got = {
        (p, ad, sd, sh): (local, rd)
        for p, ad, sd, sh, local, rd in rows(
            built,
            "select platform, ad_id, spend_date, spend_hour, spend_local, report_date from analytics.fact_ad_spend"
            " where platform in ('google_ads', 'meta_ads', 'tiktok_ads')",
        )
    }
    expected = {}
    for p in ("google_ads", "meta_ads", "tiktok_ads"):
        df = RAW.tables[f"raw_ads.{p}__ad_performance"]
        for r in df.iter_rows(named=True):
            utc = local_to_utc_first(r["report_date"], r["report_hour"], r["time_zone"])
            money = Decimal(r["cost_micros"]) / 1_000_000 if p == "google_ads" else r["spend"]
            expected[(p, r["ad_id"], utc.date(), utc.hour)] = (Decimal(money), r["report_date"])
    assert set(got) == set(expected)  # no row lost or merged: the fall-back hour maps to its first UTC hour
    assert all(got[k][0] == expected[k][0] for k in expected)
    # New York's repeated 01:00 on 3 Nov 2024 is 05:00 UTC (EDT), 02:00 is 07:00 UTC (EST), 06:00 UTC is empty
    ny = {(sd, sh) for (p, _ad, sd, sh) in got if p == "google_ads"}
    assert (date(2024, 11, 3), 5) in ny and (date(2024, 11, 3), 7) in ny and (date(2024, 11, 3), 6) not in ny


def test_daily_and_impact_spend(built):
    apple = dict(
        rows(
            built,
            "select spend_date, spend_local from analytics.fact_ad_spend"
            " where platform = 'apple_search_ads' and spend_hour is null and date_basis = 'utc_day'",
        )
    )
    raw_apple = RAW.tables["raw_ads.apple_search_ads__ad_group_performance"]
    assert apple == dict(zip(raw_apple["report_date"], raw_apple["local_spend"], strict=True))
    actions = RAW.tables["raw_ads.impact__actions"].filter(pl.col("state") != "REVERSED")
    truth = actions.group_by(pl.col("media_partner_id"), pl.col("event_ts").dt.truncate("1h")).agg(
        pl.col("payout").sum(), pl.len()
    )
    got = rows(
        built,
        "select ad_group_id, spend_date, spend_hour, spend_local, platform_conversions"
        " from analytics.fact_ad_spend where platform = 'impact'",
    )
    assert len(got) == truth.height
    assert sum(r[3] for r in got) == actions["payout"].sum()  # reversed actions excluded, nothing lost


def test_fx_weekend_rate_and_provisional_rate(built):
    saturday = rows(
        built,
        "select distinct fx_rate_date, fx_expected_rate_date from analytics.fact_ad_spend"
        " where currency = 'EUR' and spend_date = '2024-11-02'",
    )
    assert saturday == [(date(2024, 11, 1), date(2024, 11, 1))]  # Friday's rate, final
    provisional = rows(
        built,
        "select distinct fx_rate_date, fx_expected_rate_date from analytics.fact_ad_spend"
        " where currency = 'GBP' and spend_date = '2024-11-05'",
    )
    assert provisional == [(date(2024, 11, 4), AS_OF)]  # not yet published: latest rate, marked
    for local, usd, d in rows(
        built,
        "select spend_local, spend_usd, fx_rate_date from analytics.fact_ad_spend"
        " where currency = 'GBP' and spend_date = '2024-11-02'",
    ):
        assert abs(float(usd) - float(local) / fx_rate("GBP", d)) < 1e-6
    usd_rows = rows(
        built,
        "select count(*) from analytics.fact_ad_spend where currency = 'USD'"
        " and (spend_usd <> spend_local or fx_rate_date <> spend_date)",
    )
    assert usd_rows == [(0,)]


def test_fact_signups_one_row_per_canonical_user(built):
    got = {
        r[0]: r[1:]
        for r in rows(
            built,
            "select user_id, event_id, signup_ts, device_platform,"
            " first_ride_ts, first_revenue_usd from analytics.fact_signups",
        )
    }
    # u3 is a test account, u5 was merged into u4 (whose first sign-up wins)
    assert set(got) == {"u1", "u2", "u4", "u6", "u9", "u10", "u11"}
    assert got["u4"][:3] == ("e-s4", datetime(2024, 11, 1, 15), "web")
    assert got["u4"][3] == datetime(2024, 11, 4, 10)  # u5's first ride counts for u4
    assert abs(float(got["u4"][4]) - 9.0 / fx_rate("GBP", date(2024, 11, 4))) < 1e-6
    assert got["u1"][4] == Decimal("12.5")
    assert got["u9"][3] is not None and got["u9"][4] is None  # first ride after 30 days: no first revenue
    u2 = rows(
        built, "select first_order_ts, first_revenue_usd from analytics.fact_signups where user_id = 'u2'"
    )
    assert abs(float(u2[0][1]) - 20.0 / fx_rate("EUR", date(2024, 11, 4))) < 1e-6
    lineage = rows(
        built, "select count(*) from analytics.fact_signups where _load_id is null or event_id is null"
    )
    assert lineage == [(0,)]


def test_fact_touchpoints_dedup_platform_users_and_spam(built):
    got = rows(
        built,
        "select event_id, user_id, platform, campaign_id, ad_id, touch_type, is_spam, source"
        " from analytics.fact_touchpoints",
    )
    by_event = {r[0]: r[1:] for r in got}
    assert "e-l1b" not in by_event and by_event["e-l1a"][:4] == (
        "u1",
        "google_ads",
        GOOGLE_CAMP,
        "7000000001",
    )
    assert by_event["e-l2b"][1] == "meta_ads"  # fbclid beats utm_source=google
    assert by_event["e-l2a"][1] == "meta_ads"  # utm_source fb through the seed
    assert "e-l2c" not in by_event  # an untagged landing is no touch
    assert by_event["m-5c"][:3] == ("u4", "tiktok_ads", TIKTOK_CAMP)  # dev5 -> u5 -> merged into u4
    assert by_event["e-l10"][0] == "u10"  # the late landing is there
    spam = {e for e, *rest in got if rest[5]}
    assert spam == {"m-6c"} | {f"m-7-{i}" for i in range(6)}  # 5 s before install; 6 clicks in 50 s
    assert len([e for e in by_event if e.startswith("m-8")]) == 5  # the callback sent twice is one touch
    assert by_event["m-6v"][4:6] == ("view", False)


def test_skan_daily_counts_first_winning_postbacks_with_signup_bit(built):
    got = rows(
        built,
        "select install_date, platform, campaign_id, skan_installs, skan_signups"
        " from analytics.int_skan_signups_daily",
    )
    assert got == [(date(2024, 11, 2), "meta_ads", META_CAMP, 4, 2)]


def test_mart_reconciles_and_names_campaign_valid_on_the_day(built):
    (version,) = rows(built, "select distinct attribution_version from analytics.fact_attribution")[0]
    total = rows(
        built,
        "select sum(signups + modeled_signups) from analytics.mart_marketing_roi_daily"
        f" where attribution_version = '{version}'",
    )[0][0]
    assert round(total, 9) == rows(built, "select count(*) from analytics.fact_signups")[0][0]
    names = dict(
        rows(
            built,
            "select report_date, campaign_name from analytics.mart_marketing_roi_daily"
            f" where platform = 'google_ads' and campaign_id = '{GOOGLE_CAMP}'",
        )
    )
    assert names[date(2024, 11, 1)] == "google_ads_campaign"
    assert names[date(2024, 11, 2)] == "google_ads_campaign_v2"  # renamed 2 Nov 12:00 UTC
    unattributed = rows(
        built,
        "select sum(signups), max(campaign_name) from analytics.mart_marketing_roi_daily"
        " where platform = 'unattributed'",
    )
    assert unattributed[0][0] > 0 and unattributed[0][1] == "unattributed"
    meta = rows(
        built,
        "select modeled_signups, signups, revenue_usd from analytics.mart_marketing_roi_daily"
        f" where report_date = '2024-11-02' and campaign_id = '{META_CAMP}'",
    )
    assert meta[0][0] == 1.0  # u11 modeled from SKAN


def test_spend_in_mart_equals_fact_per_day_and_platform(built):
    diff = rows(
        built,
        """
        select f.spend_date, f.platform, f.s, m.s from
          (select spend_date, platform, sum(spend_usd) s from analytics.fact_ad_spend group by all) f
          full join (select report_date, platform, sum(spend_usd) s from analytics.mart_marketing_roi_daily
                     where platform <> 'unattributed' group by all) m
          on m.report_date = f.spend_date and m.platform = f.platform
        where f.s is distinct from m.s""",
    )
    assert diff == []
