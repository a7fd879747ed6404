"""TikTok Business API v1.3 constants."""

import json
from datetime import date

from connector_sdk.specs import ConnectorSettings

API_VERSION = "v1.3"
SUNSETS: dict[str, date] = {}  # no sunset of v1.3 is announced (PLATFORM_APIS.md, versions)
DEFAULT_HOST = "https://business-api.tiktok.com"


def api_prefix(version: str = API_VERSION) -> str:
    """The path prefix of a Business API version (``/open_api/v1.3``)."""
    return f"/open_api/{version}"


API_PREFIX = api_prefix()

SETTINGS = ConnectorSettings(
    api_version=API_VERSION,
    sunsets=SUNSETS,
    lookback_days=7,
    # stat_time_day spans at most 30 days, and stat_time_hour exactly one day per request.
    max_span_days=1,
    page_size=1000,
    requests_per_second=10.0,
    max_concurrency=4,
)

METRICS = ["spend", "impressions", "clicks", "conversion", "campaign_id", "adgroup_id"]
# Deleted ads' statistics are left out of reports unless asked for (PLATFORM_APIS.md, TikTok
# "Corrected"): without this a restated day loses them and slice replacement deletes real
# spend. Form as in the documented request (fixture report_first_page.json): filter_value is a
# JSON-encoded list inside the JSON filter list.
FILTER_ALL_AD_STATUSES = json.dumps(
    [{"field_name": "ad_status", "filter_type": "IN", "filter_value": json.dumps(["STATUS_ALL"])}],
    separators=(",", ":"),
)
# the report of one advertiser, ad x advertiser-local hour, every ad status (dates added per request)
REPORT_PARAMS = {
    "service_type": "AUCTION",
    "report_type": "BASIC",
    "data_level": "AUCTION_AD",
    "dimensions": json.dumps(["ad_id", "stat_time_hour"]),
    "metrics": json.dumps(METRICS),
    "filtering": FILTER_ALL_AD_STATUSES,
}
RATE_LIMIT_CODES = frozenset({40100})
# 50000 "System error." is retried as the recorded clients do (fixture system_error_50000.json),
# with the rest of the 5xxxx system errors; PLATFORM_APIS.md calls them fatal, but a retry
# is bounded and a persisting one still fails the run.
TRANSIENT_CODES = range(50000, 60000)
TOKEN_CODES = frozenset({40104, 40105})
# The coarse advertiser x day report for the reconciliation gate: the advertiser's own totals per
# advertiser-local day (data_level AUCTION_ADVERTISER, dimensions advertiser_id + stat_time_day;
# https://business-api.tiktok.com/portal/docs?id=1740302848100353, "Run a synchronous report").
# The ad_status filter is an ad-level filter and is not sent at this level.
ACCOUNT_DAY_PARAMS = {
    "service_type": "AUCTION",
    "report_type": "BASIC",
    "data_level": "AUCTION_ADVERTISER",
    "dimensions": json.dumps(["advertiser_id", "stat_time_day"]),
    "metrics": json.dumps(["spend", "impressions", "clicks"]),
}
