"""Google Ads constants: API version, GAQL, limits. Values in one visible place."""

from datetime import date

from connector_sdk.specs import ConnectorSettings

# The version in every path (overridable as dlt config ``sources.google_ads.api_version``).
API_VERSION = "v26"
# Sunset dates: on that day every request to the version fails
# (https://developers.google.com/google-ads/api/docs/sunset-dates and the sunset reminders on
# https://developers.google.com/ads/blog). v23-v25 are the projected months of Google's 2026
# release schedule, given as the month's first day (no exact date is published yet): the warning
# comes early, not late. v26 has no sunset date yet (projected November 2027).
SUNSETS: dict[str, date] = {
    "v18": date(2025, 8, 20),
    "v19": date(2026, 2, 11),
    "v20": date(2026, 6, 10),
    "v21": date(2026, 8, 5),
    "v22": date(2026, 10, 7),
    "v23": date(2027, 2, 1),
    "v24": date(2027, 5, 1),
    "v25": date(2027, 8, 1),
}
DEFAULT_HOST = "https://googleads.googleapis.com"
OAUTH_TOKEN_URL = "https://oauth2.googleapis.com/token"
TOKEN_GRANT_KEYS = ("client_id", "client_secret", "refresh_token")  # the refresh-token grant's form

SETTINGS = ConnectorSettings(
    api_version=API_VERSION,
    sunsets=SUNSETS,
    # Google restates conversions for weeks; the data contract's default lookback is 7 days.
    lookback_days=7,
    # GAQL has no span limit, but one request per month keeps pages and retries bounded.
    max_span_days=31,
    page_size=10_000,  # fixed by the API; the simulator's test page size overrides it
    requests_per_second=10.0,
    max_concurrency=4,
)

REPORT_QUERY = (
    "SELECT customer.id, campaign.id, ad_group.id, ad_group_ad.ad.id, segments.date, segments.hour, "
    "metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions "
    "FROM ad_group_ad WHERE segments.date BETWEEN '{first}' AND '{last}'"
)
# The coarse account x day report for the reconciliation gate: the customer resource segmented by
# date only (account-local dates), the account's own totals, independent of the ad-level rows
# (https://developers.google.com/google-ads/api/fields/v26/customer ; reporting/segmentation).
ACCOUNT_DAY_QUERY = (
    "SELECT customer.id, segments.date, metrics.impressions, metrics.clicks, metrics.cost_micros "
    "FROM customer WHERE segments.date BETWEEN '{first}' AND '{last}'"
)
CUSTOMER_QUERY = "SELECT customer.id, customer.currency_code, customer.time_zone FROM customer"
# campaign_budget is an attributed resource of campaign: its fields select with the campaign's
# (https://developers.google.com/google-ads/api/fields/v26/campaign). amount_micros is a DAILY
# budget, total_amount_micros a CUSTOM_PERIOD (lifetime) one, in micros of the account currency
# (https://developers.google.com/google-ads/api/docs/campaigns/budgets/overview).
CAMPAIGN_QUERY = (
    "SELECT campaign.id, campaign.name, campaign.status, campaign.advertising_channel_type, "
    "campaign_budget.period, campaign_budget.amount_micros, campaign_budget.total_amount_micros "
    "FROM campaign"
)
AD_GROUP_QUERY = "SELECT ad_group.id, ad_group.name, ad_group.status, ad_group.campaign FROM ad_group"
