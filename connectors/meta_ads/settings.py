"""Meta Marketing API constants."""

from connector_sdk.specs import ConnectorSettings

API_VERSION = "v21.0"
DEFAULT_HOST = "https://graph.facebook.com"

SETTINGS = ConnectorSettings(
    lookback_days=7,  # production: 28 (insights change for 28 days), passed as configuration
    max_span_days=7,  # hourly breakdowns over long ranges make slow report runs
    page_size=500,
    requests_per_second=5.0,
    max_concurrency=3,
)

MAX_POLLS = 120
HOURLY_BREAKDOWN = "hourly_stats_aggregated_by_advertiser_time_zone"
INSIGHT_FIELDS = "account_id,campaign_id,adset_id,ad_id,date_start,date_stop,impressions,clicks,spend,account_currency,actions"
# The fields asked of the account node and of each entity edge.
ACCOUNT_FIELDS = "account_id,currency,timezone_name"
CAMPAIGN_FIELDS = "id,name,status,effective_status,objective"
ADSET_FIELDS = "id,name,status,effective_status,campaign_id"
AD_FIELDS = "id,name,status,effective_status,campaign_id,adset_id"
# The action types counted as the platform's own conversions (a sign-up is a pixel registration).
CONVERSION_ACTION_TYPES = frozenset({"offsite_conversion.fb_pixel_complete_registration"})
# Throttling codes: application (4), user (17), API-specific (613), ads insights / BUC (80000-80014).
THROTTLE_CODES = frozenset({4, 17, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})  # unknown error, service temporarily unavailable
INVALID_TOKEN_CODES = frozenset({102, 104, 190})
