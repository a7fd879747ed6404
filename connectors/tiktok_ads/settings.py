"""TikTok Business API v1.3 constants."""

API_PREFIX = "/open_api/v1.3"
DEFAULT_HOST = "https://business-api.tiktok.com"
LOOKBACK_DAYS = 7
# stat_time_day spans at most 30 days, and stat_time_hour exactly one day per request.
MAX_SPAN_DAYS = 1
PAGE_SIZE = 1000
REQUESTS_PER_SECOND = 10.0
MAX_CONCURRENCY = 4
METRICS = ["spend", "impressions", "clicks", "conversion", "campaign_id", "adgroup_id", "currency"]
RATE_LIMIT_CODE = 40100
TRANSIENT_CODES = frozenset({50000, 50002})
TOKEN_CODES = frozenset({40104, 40105})
