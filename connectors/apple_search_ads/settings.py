"""Apple Search Ads constants."""

DEFAULT_HOST = "https://api.searchads.apple.com"
OAUTH_TOKEN_URL = "https://appleid.apple.com/auth/oauth2/token"
API_PREFIX = "/api/v5"
LOOKBACK_DAYS = 7  # production: 30 (attribution window), passed as configuration
MAX_SPAN_DAYS = 30
PAGE_SIZE = 1000
REQUESTS_PER_SECOND = 5.0
MAX_CONCURRENCY = 2
