"""The ops table's ad-pull signals: platform clicks, impressions and spend per 15-minute bucket.

``refresh_ops_table`` takes the hourly flow's ``fact_ad_spend`` (published spend definition) for
today and yesterday: an hourly row is spread over its four buckets, a UTC-day row (Apple Ads)
stays whole on the day's first bucket, and the event counts already in the table are kept.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from flows.ops import refresh_ops_table
from roi.core.warehouse import get_warehouse

NOW = datetime(2026, 11, 20, 12, 5)
TODAY = NOW.date()

FACT_DDL = """
create table analytics.fact_ad_spend (
    platform varchar, account_id varchar, campaign_id varchar, spend_date date, spend_ts timestamp,
    date_basis varchar, impressions bigint, clicks bigint, spend_usd decimal(38, 6),
    spend_definition_version varchar
)
"""


def _spend(
    platform: str,
    campaign: str,
    ts: datetime,
    basis: str,
    imps: int,
    clicks: int,
    usd: float | None,
    version: str = "spend_v1",
) -> tuple[Any, ...]:
    return (platform, "acc", campaign, ts.date(), ts, basis, imps, clicks, usd, version)


@pytest.fixture
def spend_wh(wh: Any) -> Any:
    wh.execute(FACT_DDL)
    ten = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=10)
    wh.many(
        "insert into analytics.fact_ad_spend values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            # two ads of one Google campaign in the 10:00 hour
            _spend("google_ads", "g1", ten, "utc_hour", 300, 6, 60.0),
            _spend("google_ads", "g1", ten, "utc_hour", 100, 2, 40.0),
            # Apple reports the UTC day
            _spend("apple_search_ads", "a1", ten.replace(hour=0), "utc_day", 1000, 50, 80.0),
            # a Meta hour with no USD rate yet: unknown, not zero
            _spend("meta_ads", "m1", ten, "utc_hour", 40, 4, None),
            # another spend definition is not published: left out
            _spend("google_ads", "g1", ten, "utc_hour", 999, 99, 999.0, "spend_v2"),
            # three days ago: outside today and yesterday, not refreshed
            _spend("google_ads", "g1", ten - timedelta(days=3), "utc_hour", 400, 8, 100.0),
        ],
    )
    return wh


def _ops(wh: Any, day: date = TODAY) -> dict[tuple[datetime, str, str], tuple[Any, ...]]:
    rows = wh.rows(
        "select bucket_start, platform, campaign_id, clicks, signups, platform_clicks, impressions, "
        "spend_usd, spend_basis from analytics.ops_campaign_15min where cast(bucket_start as date) = ?",
        [day],
    )
    return {(r[0], r[1], r[2]): r[3:] for r in rows}


def _refresh() -> int:
    wh = get_warehouse()
    with wh.session("test ops"):
        return refresh_ops_table([], NOW)


def test_hourly_spend_is_spread_over_its_four_buckets(spend_wh: Any) -> None:
    _refresh()
    ops = _ops(spend_wh)
    ten = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=10)
    quarters = [ten + timedelta(minutes=m) for m in (0, 15, 30, 45)]
    for q in quarters:
        assert ops[(q, "google_ads", "g1")] == (0, 0, 2.0, 100.0, 25.0, "utc_hour")
    assert sum(ops[(q, "google_ads", "g1")][4] for q in quarters) == pytest.approx(100.0)
    # Apple: the day's figure, whole, on the day's first bucket
    assert ops[(ten.replace(hour=0), "apple_search_ads", "a1")] == (0, 0, 50.0, 1000.0, 80.0, "utc_day")
    # Meta without a USD rate: clicks and impressions known, spend unknown (null), not 0
    assert ops[(ten, "meta_ads", "m1")][2:] == (1.0, 10.0, None, "utc_hour")
    # three days ago was not in the refresh
    assert _ops(spend_wh, TODAY - timedelta(days=3)) == {}


def test_event_counts_are_kept_and_a_rerun_changes_nothing(spend_wh: Any) -> None:
    _refresh()
    ten = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=10)
    # landing-event counts already in the table (an earlier refresh loaded them)
    spend_wh.execute(
        "update analytics.ops_campaign_15min set clicks = 7, signups = 2 "
        "where bucket_start = ? and campaign_id = 'g1'",
        [ten],
    )
    spend_wh.execute(
        "insert into analytics.ops_campaign_15min (bucket_start, platform, campaign_id, clicks, installs, "
        "signups, updated_at) values (?, 'tiktok_ads', 't1', 3, 0, 1, ?)",
        [ten + timedelta(minutes=30), NOW],
    )
    _refresh()
    before = _ops(spend_wh)
    assert before[(ten, "google_ads", "g1")] == (7, 2, 2.0, 100.0, 25.0, "utc_hour")
    _refresh()
    after = _ops(spend_wh)
    assert after == before
    # an event-only row has zero spend and no basis
    assert after[(ten + timedelta(minutes=30), "tiktok_ads", "t1")] == (3, 1, 0.0, 0.0, 0.0, None)


def test_a_restated_hour_replaces_the_old_figure(spend_wh: Any) -> None:
    _refresh()
    spend_wh.execute("update analytics.fact_ad_spend set spend_usd = spend_usd * 2 where campaign_id = 'g1'")
    _refresh()
    ten = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=10)
    assert _ops(spend_wh)[(ten, "google_ads", "g1")][4] == pytest.approx(50.0)


def test_a_table_of_the_old_shape_gains_the_spend_columns(wh: Any) -> None:
    wh.execute(
        "create table analytics.ops_campaign_15min (bucket_start timestamp not null, platform varchar not null, "
        "campaign_id varchar not null, clicks bigint not null, installs bigint not null, "
        "signups bigint not null, updated_at timestamp not null)"
    )
    wh.execute(
        "insert into analytics.ops_campaign_15min values (?, 'google_ads', 'g1', 5, 0, 1, ?)",
        [datetime.combine(TODAY, datetime.min.time()), NOW],
    )
    _refresh()
    (row,) = wh.rows("select clicks, signups, spend_usd, spend_basis from analytics.ops_campaign_15min")
    assert row == (5, 1, 0.0, None)
