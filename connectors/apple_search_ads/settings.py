"""Apple Ads constants: API version and its sunsets, hosts, limits. Values in one visible place."""

from datetime import date

from connector_sdk.specs import ConnectorSettings

# The Apple Ads Platform API v1 (Aug 2026) supersedes the Campaign Management API v5, which is
# sunset on 2027-01-26: https://developer.apple.com/documentation/apple-ads-platform-api/changelog-apple-ads-platform-api
API_VERSION = "v1"
SUNSETS: dict[str, date] = {"v5": date(2027, 1, 26)}

DEFAULT_HOST = "https://api.ads.apple.com"
OAUTH_TOKEN_URL = "https://appleid.apple.com/auth/oauth2/token"
OAUTH_SCOPE = "searchadsorg"

REPORT_PAGE_MAX = 5000  # RequestPagination: maximum 5000, default 100
QUERY_PAGE_MAX = 1000  # /v1/campaigns/query caps pageSize at 1000
REPORT_FIELDS = ("impressions", "taps", "tapInstalls", "localSpend")

SETTINGS = ConnectorSettings(
    api_version=API_VERSION,
    sunsets=SUNSETS,
    lookback_days=7,  # production: 30 (Apple's attribution window), passed as configuration
    max_span_days=30,
    page_size=QUERY_PAGE_MAX,
    requests_per_second=5.0,
    max_concurrency=2,
)
