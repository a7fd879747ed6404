"""Impact.com constants: API version, limits, the restatement window. Values in one visible place."""

from datetime import date

from connector_sdk.specs import ConnectorSettings

DEFAULT_HOST = "https://api.impact.com"

# Brand (Advertisers) API v14 (2026-06-01): Action.Id is a string, programs carry State. The
# version is sent as ``IR-Version``; Impact has announced no sunset for it.
# https://integrations.impact.com/brand-api-reference/readme/versioning
API_VERSION = "14"
SUNSETS: dict[str, date] = {}

# /Actions: PageSize 2,000..20,000 (default 20,000); a request matching more than 10 x PageSize
# records is refused, so the largest page also allows the largest range before a split.
MIN_PAGE_SIZE = 2_000
MAX_PAGE_SIZE = 20_000
MIN_SPLIT_SECONDS = 60  # a range this short that still matches too many records is an error

SETTINGS = ConnectorSettings(
    api_version=API_VERSION,
    sunsets=SUNSETS,
    lookback_days=7,  # the data contract's default; production: until LockingDate (below)
    max_span_days=45,  # the API refuses longer ActionDate ranges
    page_size=MAX_PAGE_SIZE,
    requests_per_second=2.0,  # 1,000 requests an hour per account, with bursts
    max_concurrency=2,
)

# Payouts change and actions are reversed until each action's LockingDate (often 30-60 days after
# the event). With this on, a lookback run covers the longest LockingDate horizon seen in
# raw_ads.impact__actions (never less than ``lookback_days``). Off by default so tests keep the
# fixed 7 days; production turns it on with SOURCES__IMPACT__LOOKBACK_UNTIL_LOCKING=true (dlt
# config ``sources.impact.lookback_until_locking``) or ``until_locking=True`` on the connector.
LOOKBACK_UNTIL_LOCKING = False
