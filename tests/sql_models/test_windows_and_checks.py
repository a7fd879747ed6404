"""Incremental windows equal a full refresh, rewrite only their dates; Soda contracts fail on bad data.

These tests mutate the session warehouse and put it back as they found it; they run after the
read-only tests of test_models.py (file order).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.sql_models.conftest import rows

INCREMENTAL = [
    "fact_ad_spend",
    "fact_signups",
    "fact_touchpoints",
    "mart_marketing_roi_daily__staged",
    "mart_marketing_roi_daily",
]
WINDOW_MODELS = [
    "int_signup_users__affected",
    "int_touch_identifiers__affected",
    *INCREMENTAL,
]


def _snapshot(wh, table: str) -> None:
    wh.connection().execute(
        f"create or replace table analytics._full_{table} as select * from analytics.{table}"
    )


def _differences(wh, table: str) -> int:
    a, b = f"analytics.{table}", f"analytics._full_{table}"
    return rows(
        wh,
        f"select count(*) from ((select * from {a} except all select * from {b})"
        f" union all (select * from {b} except all select * from {a}))",
    )[0][0]


def test_incremental_day_windows_equal_full_refresh(built):
    from flows.dbt_runner import run_dbt, window_vars

    for t in INCREMENTAL:
        _snapshot(built, t)
        built.connection().execute(f"drop table analytics.{t}")
    # 12 UTC days replayed in 4 windows of 3 days, no lookback: each window is the first to see its dates
    day = date(2024, 10, 25)
    while day <= date(2024, 11, 6):
        run_dbt(
            ["run", "--select", *WINDOW_MODELS], window_vars(day, day + timedelta(days=3), lookback_days=0)
        )
        day += timedelta(days=3)
    for t in INCREMENTAL:
        assert _differences(built, t) == 0, t


def test_incremental_run_rewrites_only_its_dates(built):
    from flows.dbt_runner import run_dbt, window_vars

    con = built.connection()
    # a date outside the window is marked; a raw restatement inside it must come through
    con.execute("update analytics.fact_ad_spend set impressions = -1 where spend_date = '2024-10-28'")
    con.execute(
        "update raw_ads.google_ads__ad_performance set cost_micros = cost_micros + 990000"
        " where report_date = '2024-11-04' and report_hour = 12"
    )
    try:
        run_dbt(
            ["run", "--select", "fact_ad_spend"],
            window_vars(date(2024, 11, 4), date(2024, 11, 5), lookback_days=0),
        )
        assert rows(
            built, "select min(impressions) from analytics.fact_ad_spend where spend_date = '2024-10-28'"
        ) == [(-1,)]
        restated = rows(
            built,
            "select sum(spend_local) from analytics.fact_ad_spend where platform = 'google_ads'"
            " and spend_date = '2024-11-04' and spend_hour = 17",
        )  # 12:00 EST = 17:00 UTC
        original = rows(
            built,
            "select sum(spend_local) from analytics._full_fact_ad_spend where platform = 'google_ads'"
            " and spend_date = '2024-11-04' and spend_hour = 17",
        )
        assert restated[0][0] - original[0][0] == Decimal("1.98")  # two ads restated by 0.99 each
    finally:
        con.execute(
            "update raw_ads.google_ads__ad_performance set cost_micros = cost_micros - 990000"
            " where report_date = '2024-11-04' and report_hour = 12"
        )
        con.execute("delete from analytics.fact_ad_spend")
        con.execute("insert into analytics.fact_ad_spend select * from analytics._full_fact_ad_spend")


def test_event_load_scope_rederives_the_touches_of_those_loads(built):
    """var event_load_ids: a late click in a new load re-derives its device's touches, outside the dates."""
    from flows.dbt_runner import run_dbt, window_vars

    con = built.connection()
    dev8 = "select count(*), count(*) filter (where is_spam) from analytics.fact_touchpoints where identifier = 'dev8'"
    assert rows(built, dev8) == [(5, 0)]  # 5 clicks in 40 s: not a burst
    # a sixth click 45 s after the first, in a load of its own, landing on 3 Nov (outside the window)
    con.execute(
        "insert into raw_events.mmp_touches select * replace ('m-8-late' as event_id,"
        " touch_ts + interval 5 second as touch_ts, 'load-late' as _dlt_load_id)"
        " from raw_events.mmp_touches where event_id = 'm-8-4'"
    )
    touch_models = ["int_signup_users__affected", "int_touch_identifiers__affected", "fact_touchpoints"]
    later = window_vars(date(2024, 11, 5), date(2024, 11, 6), lookback_days=0)
    con.execute(
        "create or replace table analytics._before_fact_touchpoints as select * from analytics.fact_touchpoints"
    )
    try:
        run_dbt(["run", "--select", *touch_models], {**later, "event_load_ids": []})
        assert rows(built, dev8) == [(5, 0)]  # no new loads: the device is not re-derived
        run_dbt(["run", "--select", *touch_models], {**later, "event_load_ids": ["load-late"]})
        assert rows(built, dev8) == [(6, 6)]  # the new click, and its neighbours now a burst
        _snapshot(built, "fact_touchpoints")
        run_dbt(["run", "--select", "fact_touchpoints", "--full-refresh"])
        assert _differences(built, "fact_touchpoints") == 0
    finally:
        con.execute("delete from raw_events.mmp_touches where event_id = 'm-8-late'")
        con.execute("delete from analytics.fact_touchpoints")
        con.execute("insert into analytics.fact_touchpoints select * from analytics._before_fact_touchpoints")
    assert rows(built, dev8) == [(5, 0)]


CHECK_WINDOW = (datetime(2024, 11, 2), datetime(2024, 11, 3, 12))


def _failed(results) -> set[tuple[str, str]]:
    return {(r.contract, r.check) for r in results if not r.ok}


def test_checks_green_on_the_built_warehouse(built):
    from flows.checks import run_all_checks

    results = run_all_checks(*CHECK_WINDOW)
    assert len(results) > 40 and _failed(results) == set()


def test_roi_checks_fails_on_duplicate_key_and_null(built):
    from flows.checks import run_all_checks
    from roi.cli import main

    con = built.connection()
    con.execute(
        "insert into analytics.fact_signups select * from analytics.fact_signups where user_id = 'u1'"
    )
    try:
        assert ("fact_signups", "one row per sign-up and sign-up definition version") in _failed(run_all_checks(*CHECK_WINDOW))
        # the command: a table, a one-line error, a non-zero exit
        assert main(["checks", "--start", "2024-11-02", "--end", "2024-11-03T12:00"]) != 0
    finally:
        con.execute("delete from analytics.fact_signups where user_id = 'u1'")
        con.execute(
            "insert into analytics.fact_signups select * from analytics._full_fact_signups where user_id = 'u1'"
        )
    con.execute("update analytics.fact_touchpoints set event_id = null where event_id = 'e-l1a'")
    try:
        assert ("fact_touchpoints", "No missing values") in _failed(run_all_checks(*CHECK_WINDOW))
    finally:
        con.execute(
            "update analytics.fact_touchpoints set event_id = 'e-l1a' where touch_ts = '2024-11-01 10:00:00'"
        )
    assert main(["checks", "--start", "2024-11-02", "--end", "2024-11-03T12:00"]) == 0


def test_missing_fx_rate_fails_dbt_and_the_checks(built):
    from flows.checks import run_all_checks
    from flows.dbt_runner import DbtError, build_facts

    con = built.connection()
    con.execute(
        "create or replace table analytics._eur_rate as select * from raw_ads.fx_rates"
        " where currency = 'EUR' and rate_date = '2024-10-30'"
    )
    con.execute("delete from raw_ads.fx_rates where currency = 'EUR' and rate_date = '2024-10-30'")
    try:
        with pytest.raises(DbtError, match="assert_fx_rate_present"):
            build_facts(date(2024, 10, 30), date(2024, 11, 3), lookback_days=0)
        stale = rows(
            built,
            "select distinct fx_rate_date from analytics.fact_ad_spend"
            " where currency = 'EUR' and spend_date = '2024-10-30'",
        )
        assert stale == [(date(2024, 10, 29),)]  # converted at the day before's rate, and flagged:
        failed = _failed(run_all_checks(datetime(2024, 10, 30), datetime(2024, 11, 3)))
        assert ("fact_ad_spend", "FX rate missing (stale rate before the day before the run)") in failed
    finally:
        con.execute("insert into raw_ads.fx_rates select * from analytics._eur_rate")
        build_facts(date(2024, 10, 30), date(2024, 11, 3), lookback_days=0)
    assert rows(
        built,
        "select distinct fx_rate_date from analytics.fact_ad_spend"
        " where currency = 'EUR' and spend_date = '2024-10-30'",
    ) == [(date(2024, 10, 30),)]


def test_missing_fx_rate_for_revenue_fails_a_test(built):
    from flows.dbt_runner import run_dbt

    con = built.connection()
    target = rows(
        built,
        "select event_id, currency from raw_events.events where event_type in ('first_ride', 'first_order')"
        " and revenue > 0 order by event_ts limit 1",
    )
    eid, cur = target[0]
    con.execute("update raw_events.events set currency = 'JPY' where event_id = ?", [eid])
    try:
        run = run_dbt(
            ["build", "--select", "fact_signups", "assert_revenue_fx_rate_present", "--full-refresh"],
            raise_on_failure=False,
        )
        failed = {n.name for n in run.failed}
        assert "assert_revenue_fx_rate_present" in failed
    finally:
        con.execute("update raw_events.events set currency = ? where event_id = ?", [cur, eid])
        run_dbt(["build", "--select", "fact_signups", "--full-refresh"])
