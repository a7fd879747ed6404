"""Impact.com constants."""

DEFAULT_HOST = "https://api.impact.com"
LOOKBACK_DAYS = 7  # production: until each action's LockingDate, passed as configuration
MAX_SPAN_DAYS = 45  # the API refuses longer ranges
PAGE_SIZE = 1000
REQUESTS_PER_SECOND = 2.0
MAX_CONCURRENCY = 2
