"""Apple Search Ads constants."""

from connector_sdk.specs import ConnectorSettings

DEFAULT_HOST = "https://api.searchads.apple.com"
OAUTH_TOKEN_URL = "https://appleid.apple.com/auth/oauth2/token"
API_PREFIX = "/api/v5"

SETTINGS = ConnectorSettings(
    lookback_days=7,  # production: 30 (attribution window), passed as configuration
    max_span_days=30,
    page_size=1000,
    requests_per_second=5.0,
    max_concurrency=2,
)
