"""dim_campaign's budget columns on the hand-made raw world (tests/sql_models/raw_world.py): the
landed decimal text becomes a decimal daily budget per campaign version, a lifetime budget and
Impact (no budget columns at all) have none."""

from __future__ import annotations

from decimal import Decimal

from tests.sql_models.conftest import rows


def test_dim_campaign_budget_per_version(built) -> None:
    got = rows(
        built,
        "select platform, campaign_name, budget_period, daily_budget, budget_currency, is_current"
        " from analytics.dim_campaign order by platform, valid_from",
    )
    assert got == [
        ("apple_search_ads", "apple_search_ads_campaign", "daily", Decimal("45.25"), "GBP", True),
        ("google_ads", "google_ads_campaign", "daily", Decimal("120.5"), "USD", False),
        ("google_ads", "google_ads_campaign_v2", "daily", Decimal("150"), "USD", True),
        ("impact", "impact_campaign", "none", None, None, True),
        ("meta_ads", "meta_ads_campaign", "daily", Decimal("80"), "EUR", True),
        ("tiktok_ads", "tiktok_ads_campaign", "lifetime", None, "GBP", True),
    ]
