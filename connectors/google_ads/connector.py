"""Google Ads connector: declarations and Google's quirks; the SDK runs it.

REST JSON quirks: camelCase keys, int64 metrics as strings; a segmented report sends the zero
metrics of the rows it returns (``"clicks": "0"``) and leaves out rows whose every metric is
zero (a key that is absent anyway reads as 0). Quota errors are 429 RESOURCE_EXHAUSTED with a
``retryDelay``: seconds for a rate, hours for the daily operations quota (the SDK defers a
wait that long); without one (RESOURCE_TEMPORARILY_EXHAUSTED) they are backed off and retried.
Expired access tokens are 401 UNAUTHENTICATED (refreshed once); a sunset API version answers
400 UNSUPPORTED_VERSION, later a 404 HTML page (fatal, naming the setting). Report pages are
decoded straight from the response bytes into Arrow
(:func:`~connectors.google_ads.helpers.decode_search_page`) and carry Google's row total.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pyarrow as pa
from dlt.sources.helpers.rest_client.client import PageData

from connector_sdk import budgets, extract
from connector_sdk.base import Connector, loader
from connector_sdk.exceptions import AuthenticationError
from connector_sdk.extract import EntityRows
from connector_sdk.registry import register
from connector_sdk.responses import Decoder
from connector_sdk.specs import AD_GROUPS, BUDGETED_CAMPAIGNS, Account, Field, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.google_ads import settings as S
from connectors.google_ads.helpers import (
    ERRORS,
    RESULT,
    budget_period,
    decode_search_page,
    micros_units,
    resource_id,
    search_paginator,
)

REPORT = ReportSpec(
    table="ad_performance",
    fields=(
        Field("account_id"),
        Field("campaign_id", "campaign.id"),
        Field("ad_group_id", "adGroup.id"),
        Field("ad_id", "adGroupAd.ad.id"),
        Field("report_date", "segments.date", type=pa.date32()),
        Field("report_hour", "segments.hour", default=0, type=pa.int8()),
        Field("currency"),
        Field("time_zone"),
        Field("impressions", "metrics.impressions", default=0, type=pa.int64()),
        Field("clicks", "metrics.clicks", default=0, type=pa.int64()),
        Field("cost_micros", "metrics.costMicros", default=0, type=pa.int64()),
        Field("conversions", "metrics.conversions", default=0.0, type=pa.float64()),
    ),
    grain=("account_id", "campaign_id", "ad_group_id", "ad_id", "report_date", "report_hour"),
    spend_column="cost_micros",
    spend_divisor=1_000_000,
)

# The platform's own account x local day totals (FROM customer), for the reconciliation gate.
ACCOUNT_DAILY = ReportSpec(
    table="account_daily",
    fields=(
        Field("account_id"),
        Field("report_date", "segments.date", date.fromisoformat, type=pa.date32()),
        Field("currency"),
        Field("time_zone"),
        Field("impressions", "metrics.impressions", int, default=0, type=pa.int64()),
        Field("clicks", "metrics.clicks", int, default=0, type=pa.int64()),
        Field("cost_micros", "metrics.costMicros", int, default=0, type=pa.int64()),
    ),
    grain=("account_id", "report_date"),
    spend_column="cost_micros",
    spend_divisor=1_000_000,
)

CAMPAIGN = (
    Field("campaign_id", "campaign.id", str),
    Field("name", "campaign.name", default=None),
    Field("status", "campaign.status", default=None),
    Field("objective", "campaign.advertisingChannelType", default=None),
    Field("budget_period", "campaignBudget.period", budget_period, default=None),
    Field("daily_budget", "campaignBudget.amountMicros", micros_units, default=None),
    Field("lifetime_budget", "campaignBudget.totalAmountMicros", micros_units, default=None),
    Field("budget_currency"),  # the customer's currency (budgets are in it)
)
AD_GROUP = (
    Field("ad_group_id", "adGroup.id", str),
    Field("name", "adGroup.name", default=None),
    Field("status", "adGroup.status", default=None),
    Field("campaign_id", "adGroup.campaign", resource_id, default=None),
)
# entity table -> (GAQL query, field map of one result row)
ENTITY_QUERIES = {"campaigns": (S.CAMPAIGN_QUERY, CAMPAIGN), "ad_groups": (S.AD_GROUP_QUERY, AD_GROUP)}


@register
class GoogleAdsConnector(Connector):
    """Google Ads ad performance (ad x hour, account time zone), campaigns and ad groups."""

    name = "google_ads"
    default_host = S.DEFAULT_HOST
    auth_urls = (S.OAUTH_TOKEN_URL,)
    report = REPORT
    extra_reports = (ACCOUNT_DAILY,)
    settings = S.SETTINGS
    errors = ERRORS
    entities = (BUDGETED_CAMPAIGNS, AD_GROUPS)
    credential_keys = ("developer_token", "client_id", "client_secret", "refresh_token", "customer_ids")
    optional_credential_keys = ("login_customer_id",)

    _token: str | None = None

    def _fetch_token(self) -> str:
        url = S.OAUTH_TOKEN_URL if self.base_url == self.default_host else f"{self.base_url}/token"
        form = {"grant_type": "refresh_token", **{k: self.credentials.get(k) for k in S.TOKEN_GRANT_KEYS}}
        refused = "OAuth token refresh refused: check SOURCES__GOOGLE_ADS__CLIENT_ID / _CLIENT_SECRET / _REFRESH_TOKEN"
        return self.fetch_token(url, form, refused=refused, refusals=AuthenticationError)

    def _headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "developer-token": self.credentials.get("developer_token"),
        }
        login = self.credentials.optional("login_customer_id")
        if login:
            headers["login-customer-id"] = login
        return headers

    def auth_headers(self) -> dict[str, str]:
        """Bearer token (fetched once per run from the refresh token) plus developer token."""
        self._token = self._token or self._fetch_token()
        return self._headers()

    def refresh_auth(self) -> dict[str, str]:
        """A new access token after a 401 UNAUTHENTICATED."""
        self._token = self._fetch_token()
        return self._headers()

    @property
    def api_version(self) -> str:
        """The API version in every path: the run's setting, else :data:`settings.API_VERSION`."""
        return self.settings.api_version or S.API_VERSION

    def _search(
        self, cid: str, query: str, decoder: Decoder | None = None, *, with_total: bool = False
    ) -> Iterator[PageData[Any]]:
        body: dict[str, Any] = {"query": query}
        if with_total:  # Google counts the rows only when asked (SearchSettings)
            body["searchSettings"] = {"returnTotalResultsCount": True}
        yield from self.paginate(
            cid,
            f"/{self.api_version}/customers/{cid}/googleAds:search",
            method="POST",
            json=body,
            paginator=search_paginator(),
            data_selector="results",
            decoder=decoder,
        )

    def list_accounts(self) -> list[Account]:
        """Each customer id in SOURCES__GOOGLE_ADS__CUSTOMER_IDS with its currency and time zone."""
        accounts = []
        for cid in self.credentials.id_list("customer_ids"):
            rows = [r for page in self._search(cid, S.CUSTOMER_QUERY) for r in page]
            cust = rows[0].get("customer", {}) if rows else {}
            accounts.append(Account(cid, cust.get("timeZone", "UTC"), cust.get("currencyCode")))
        return accounts

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Ad x hour rows of one customer and window, a table per page (decoded column-wise)."""
        query = S.REPORT_QUERY.format(first=window.first.isoformat(), last=window.last.isoformat())
        for page in self._search(account.account_id, query, decoder=decode_search_page, with_total=True):
            # the decoder hands dlt's paginator one Arrow array per page instead of a list of dicts
            yield self.report_page(page[0] if page else pa.array([], RESULT), account)

    def fetch_extra_report(
        self, report: ReportSpec, account: Account, window: DateWindow
    ) -> Iterator[pa.Table]:
        """The customer's own totals per local day (``FROM customer``), the coarse report."""
        query = S.ACCOUNT_DAY_QUERY.format(first=window.first.isoformat(), last=window.last.isoformat())
        for page in self._search(account.account_id, query):
            yield extract.report_page(report, page, extract.page_values(account))

    def fetch_entities(self, accounts: Sequence[Account]) -> EntityRows:
        """Campaigns and ad groups of every customer (current state; history kept by scd2)."""
        out: EntityRows = {table: [] for table in ENTITY_QUERIES}
        for acc in accounts:
            for table, (query, fields) in ENTITY_QUERIES.items():
                records = (r for page in self._search(acc.account_id, query) for r in page)
                rows = self.entity_rows(fields, records, acc, budget_currency=acc.currency)
                out[table].extend(budgets.settled(r) if table == "campaigns" else r for r in rows)
        return out


load_google_ads = loader(GoogleAdsConnector)
