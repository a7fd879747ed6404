"""Impact.com constants."""

from connector_sdk.specs import ConnectorSettings

DEFAULT_HOST = "https://api.impact.com"

SETTINGS = ConnectorSettings(
    lookback_days=7,  # production: until each action's LockingDate, passed as configuration
    max_span_days=45,  # the API refuses longer ranges
    page_size=1000,
    requests_per_second=2.0,
    max_concurrency=2,
)
