"""Google Ads constants: API version, GAQL, limits. Values in one visible place."""

API_VERSION = "v18"
DEFAULT_HOST = "https://googleads.googleapis.com"
OAUTH_TOKEN_URL = "https://oauth2.googleapis.com/token"
# Google restates conversions for weeks; CONTRACTS.md fixes 7 days by default.
LOOKBACK_DAYS = 7
# GAQL has no span limit, but one request per month keeps pages and retries bounded.
MAX_SPAN_DAYS = 31
PAGE_SIZE = 10_000  # fixed by the API; the simulator's test page size overrides it
REQUESTS_PER_SECOND = 10.0
MAX_CONCURRENCY = 4

REPORT_QUERY = (
    "SELECT customer.id, campaign.id, ad_group.id, ad_group_ad.ad.id, segments.date, segments.hour, "
    "metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions "
    "FROM ad_group_ad WHERE segments.date BETWEEN '{first}' AND '{last}'"
)
CUSTOMER_QUERY = "SELECT customer.id, customer.currency_code, customer.time_zone FROM customer"
CAMPAIGN_QUERY = (
    "SELECT campaign.id, campaign.name, campaign.status, campaign.advertising_channel_type FROM campaign"
)
AD_GROUP_QUERY = "SELECT ad_group.id, ad_group.name, ad_group.status, ad_group.campaign FROM ad_group"
