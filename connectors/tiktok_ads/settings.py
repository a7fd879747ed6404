"""TikTok Business API v1.3 constants."""

from connector_sdk.specs import ConnectorSettings

API_PREFIX = "/open_api/v1.3"
DEFAULT_HOST = "https://business-api.tiktok.com"

SETTINGS = ConnectorSettings(
    lookback_days=7,
    # stat_time_day spans at most 30 days, and stat_time_hour exactly one day per request.
    max_span_days=1,
    page_size=1000,
    requests_per_second=10.0,
    max_concurrency=4,
)

METRICS = ["spend", "impressions", "clicks", "conversion", "campaign_id", "adgroup_id", "currency"]
RATE_LIMIT_CODES = frozenset({40100})
TRANSIENT_CODES = range(50000, 60000)  # 50000, 50002 and the rest of the 5xxxx system errors
TOKEN_CODES = frozenset({40104, 40105})
