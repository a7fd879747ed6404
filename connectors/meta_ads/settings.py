"""Meta Marketing API constants."""

from datetime import date

from connector_sdk.specs import ConnectorSettings

# The version is configuration (sources.meta_ads.api_version); this is the default.
API_VERSION = "v27.0"
# Expiration dates from Meta's version history
# (https://developers.facebook.com/docs/marketing-api/marketing-api-changelog/versions):
# an expired version answers error code 2635. v26.0 and v27.0 have no date yet.
SUNSETS: dict[str, date] = {
    "v21.0": date(2025, 9, 9),
    "v22.0": date(2026, 2, 19),
    "v23.0": date(2026, 6, 9),
    "v24.0": date(2026, 11, 10),
    "v25.0": date(2027, 2, 23),
}
DEFAULT_HOST = "https://graph.facebook.com"

SETTINGS = ConnectorSettings(
    api_version=API_VERSION,
    sunsets=SUNSETS,
    lookback_days=7,  # production: 28 (insights change for 28 days), passed as configuration
    max_span_days=7,  # hourly breakdowns over long ranges make slow report runs
    page_size=500,
    requests_per_second=5.0,
    max_concurrency=3,
)

# Polls of one report run before it counts as over its time budget (~4 min at the default
# retry base delay): it is then split like a failed run.
MAX_POLLS = 120
HOURLY_BREAKDOWN = "hourly_stats_aggregated_by_advertiser_time_zone"
# The hourly breakdown is a "Type 1" breakdown: Meta returns no off-Meta actions with it
# (https://developers.facebook.com/docs/marketing-api/insights/breakdowns), so the hourly
# report does not ask for them; conversions come from the daily report (ad x local day).
HOURLY_FIELDS = (
    "account_id,campaign_id,adset_id,ad_id,date_start,date_stop,impressions,clicks,spend,account_currency"
)
DAILY_FIELDS = "account_id,campaign_id,adset_id,ad_id,date_start,date_stop,actions"
# The coarse account x day report for the reconciliation gate: insights at level=account, one
# row per account-local day (time_increment=1), read synchronously (a handful of rows)
# (https://developers.facebook.com/docs/marketing-api/insights ; insights/parameters).
ACCOUNT_FIELDS_DAILY = "account_id,date_start,date_stop,impressions,clicks,spend,account_currency"
# A failed (or too slow) report run is split by these levels in turn: (level, id field, filter field)
# (https://developers.facebook.com/docs/marketing-api/insights/parameters, ``filtering``).
SPLITS = (("campaign", "campaign_id", "campaign.id"), ("adset", "adset_id", "adset.id"))
# The fields asked of the account node and of each entity edge.
ACCOUNT_FIELDS = "account_id,currency,timezone_name"
# Budgets (daily_budget / lifetime_budget) sit on the campaign with campaign budget optimisation,
# else on its ad sets (https://developers.facebook.com/docs/marketing-api/bidding/overview/budgets).
CAMPAIGN_FIELDS = "id,name,status,effective_status,objective,daily_budget,lifetime_budget"
ADSET_FIELDS = "id,name,status,effective_status,campaign_id,daily_budget,lifetime_budget"
# Budgets are in the currency's minimum denomination: offset 100 (cents) except for these
# currencies, whose offset is 1 (https://developers.facebook.com/docs/marketing-api/currencies).
OFFSET_ONE_CURRENCIES = frozenset(
    {"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"}
)
AD_FIELDS = "id,name,status,effective_status,campaign_id,adset_id"
# The action types counted as the platform's own conversions (a sign-up is a pixel registration).
CONVERSION_ACTION_TYPES = frozenset({"offsite_conversion.fb_pixel_complete_registration"})
# Throttling codes: application (4), user (17), API-specific (613), ads insights / BUC (80000-80014).
THROTTLE_CODES = frozenset({4, 17, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})  # unknown error, service temporarily unavailable
INVALID_TOKEN_CODES = frozenset({102, 104, 190})
EXPIRED_VERSION_CODE = 2635
