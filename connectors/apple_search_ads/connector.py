"""Apple Ads connector (Apple Ads Platform API v1): OAuth client credentials (the secret is a
signed JWT), requests scoped to an ad account (``X-AP-Context: adAccountId=``). Every apps
report needs a ``campaignId`` filter, so a pull lists the account's campaigns (deleted ones
included) and asks one ad group report per campaign, ``DAILY`` in ``UTC`` (report dates are
UTC days; the slice is (ad account, UTC date)); the campaigns report of the same campaigns lands
in ``campaign_daily`` (their sum per day is the account's own total, for the reconciliation
gate). Paging is offset/pageSize in the JSON body, to ``pagination.totalCount``. An expired token answers 401 and is refreshed once."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pyarrow as pa
from dlt.common.jsonpath import TJsonPath
from dlt.sources.helpers.rest_client.client import PageData

from connector_sdk import budgets, extract
from connector_sdk.base import Connector, loader
from connector_sdk.budgets import units
from connector_sdk.extract import EntityRows
from connector_sdk.registry import register
from connector_sdk.specs import AD_GROUPS, BUDGETED_CAMPAIGNS, PAGE, Account, Field, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.apple_search_ads import settings as S
from connectors.apple_search_ads.helpers import (
    CAMPAIGNS_QUERY,
    ERRORS,
    campaign_report_body,
    day_rows,
    query_body,
    query_paginator,
    report_body,
)

SPEND = pa.decimal128(18, 6)

# One report row per ad group and day: the day's metrics with the ad group's ``metadata``
# (ids are JSON numbers on the wire, strings here).
REPORT = ReportSpec(
    table="ad_group_performance",
    fields=(
        Field("account_id"),
        Field("campaign_id", "metadata.campaignId", str),
        Field("ad_group_id", "metadata.id", str),
        Field("report_date", "date", date.fromisoformat, type=pa.date32()),
        Field("currency", "localSpend.currency", default=PAGE),
        Field("impressions", "impressions", int, default=0, type=pa.int64()),
        Field("taps", "taps", int, default=0, type=pa.int64()),
        Field("tap_installs", "tapInstalls", int, default=0, type=pa.int64()),
        Field("local_spend", "localSpend.amount", str, default="0", type=SPEND),
    ),
    grain=("account_id", "campaign_id", "ad_group_id", "report_date"),
    spend_column="local_spend",
)

# The platform's campaign x UTC day totals (the campaigns report, Apple's coarsest apps report:
# their sum per day is the account's), for the reconciliation gate.
CAMPAIGN_DAILY = ReportSpec(
    table="campaign_daily",
    fields=(
        Field("account_id"),
        Field("campaign_id", "metadata.id", str),
        Field("report_date", "date", date.fromisoformat, type=pa.date32()),
        Field("currency", "localSpend.currency", default=PAGE),
        Field("impressions", "impressions", int, default=0, type=pa.int64()),
        Field("taps", "taps", int, default=0, type=pa.int64()),
        Field("local_spend", "localSpend.amount", str, default="0", type=SPEND),
    ),
    grain=("account_id", "campaign_id", "report_date"),
    spend_column="local_spend",
)

CAMPAIGN = (
    Field("campaign_id", "id", str),
    Field("name", "name", default=None),
    Field("status", ("displayStatus", "status"), default=None),
    Field("objective", default="app_installs"),
    # v1 dailyBudget {value: Money} (required on every campaign); v5 dailyBudgetAmount / budgetAmount
    # (Money: amount as decimal text in the currency's units)
    Field("daily_budget", ("dailyBudget.value.amount", "dailyBudgetAmount.amount"), units, default=None),
    Field("lifetime_budget", "budgetAmount.amount", units, default=None),
    Field("budget_currency", ("dailyBudget.value.currency", "dailyBudgetAmount.currency"), default=PAGE),
)
AD_GROUP = (
    Field("ad_group_id", "id", str),
    Field("campaign_id", "campaignId", str),
    Field("name", "name", default=None),
    Field("status", ("displayStatus", "status"), default=None),
)


@register
class AppleSearchAdsConnector(Connector):
    """Apple Ads ad group x UTC day performance, campaigns and ad groups."""

    name = "apple_search_ads"
    default_host = S.DEFAULT_HOST
    auth_urls = (S.OAUTH_TOKEN_URL,)
    report = REPORT
    extra_reports = (CAMPAIGN_DAILY,)
    settings = S.SETTINGS
    errors = ERRORS
    entities = (BUDGETED_CAMPAIGNS, AD_GROUPS)
    credential_keys = ("client_id", "client_secret", "ad_account_ids")

    _token: str | None = None

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._campaigns: dict[str, list[dict[str, Any]]] = {}
        self._campaigns_lock = threading.Lock()

    @property
    def api_version(self) -> str:
        """The configured API version (``sources.apple_search_ads.api_version``), else ``v1``."""
        return self.settings.api_version or S.API_VERSION

    def _fetch_token(self) -> str:
        url = (
            S.OAUTH_TOKEN_URL if self.base_url == self.default_host else f"{self.base_url}/auth/oauth2/token"
        )
        secrets = {k: self.credentials.get(k) for k in ("client_id", "client_secret")}
        form = {"grant_type": "client_credentials", **secrets, "scope": S.OAUTH_SCOPE}
        refused = "OAuth token refused: check SOURCES__APPLE_SEARCH_ADS__CLIENT_ID / _CLIENT_SECRET"
        return self.fetch_token(url, form, refused=refused)

    def auth_headers(self) -> dict[str, str]:
        """Bearer token from the client-credentials grant (fetched once per run)."""
        if self._token is None:
            self._token = self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    def refresh_auth(self) -> dict[str, str]:
        """A new token after a 401."""
        self._token = self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    def _context(self, account_id: str) -> dict[str, str]:
        return {"X-AP-Context": f"adAccountId={account_id}"}

    def _query(
        self, account_id: str, path: str, body: dict[str, Any], selector: TJsonPath
    ) -> Iterator[PageData[Any]]:
        """Pages of a POST ``/query`` endpoint or report of one ad account, to ``totalCount``."""
        yield from self.paginate(
            account_id,
            f"/{self.api_version}/{path}",
            paginator=query_paginator(self.settings.page_size),
            data_selector=selector,
            method="POST",
            json=body,
            headers=self._context(account_id),
        )

    def _account_campaigns(self, account_id: str) -> list[dict[str, Any]]:
        """The ad account's App Store campaigns, deleted ones included (asked once per run)."""
        with self._campaigns_lock:
            if account_id not in self._campaigns:
                pages = self._query(account_id, "campaigns/query", query_body(*CAMPAIGNS_QUERY), "result")
                self._campaigns[account_id] = [c for page in pages for c in page]
            return self._campaigns[account_id]

    def list_accounts(self) -> list[Account]:
        """Each id in SOURCES__APPLE_SEARCH_ADS__AD_ACCOUNT_IDS (comma list); reports are pulled in UTC."""
        out = []
        for acc in self.credentials.id_list("ad_account_ids"):
            path = f"/{self.api_version}/ad-accounts/{acc}"
            info = self.get_json(acc, path, headers=self._context(acc)).get("result") or {}
            self._account_campaigns(acc)
            out.append(Account(acc, "UTC", info.get("currency")))
        return out

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Ad group x day rows of every campaign of one ad account, a table per page."""
        for camp in self._account_campaigns(account.account_id):
            body = report_body(window, str(camp["id"]))
            for page in self._query(account.account_id, "reports/apps/adgroups/query", body, "result.rows"):
                yield self.report_page(day_rows(page, window), account)

    def fetch_extra_report(
        self, report: ReportSpec, account: Account, window: DateWindow
    ) -> Iterator[pa.Table]:
        """Campaign x day rows of every campaign of one ad account (the coarse report)."""
        for camp in self._account_campaigns(account.account_id):
            body = campaign_report_body(window, str(camp["id"]))
            for page in self._query(account.account_id, "reports/apps/campaigns/query", body, "result.rows"):
                yield extract.report_page(report, day_rows(page, window), extract.page_values(account))

    def fetch_entities(self, accounts: Sequence[Account]) -> EntityRows:
        """Campaigns and the (non-deleted) ad groups of every ad account."""
        out: EntityRows = {"campaigns": [], "ad_groups": []}
        for acc in accounts:
            camps = self.entity_rows(
                CAMPAIGN, self._account_campaigns(acc.account_id), acc, budget_currency=acc.currency
            )
            out["campaigns"] += [budgets.settled(c) for c in camps]
            pages = self._query(acc.account_id, "adgroups/query", query_body(), "result")
            out["ad_groups"] += self.entity_rows(AD_GROUP, [g for page in pages for g in page], acc)
        return out


load_apple_search_ads = loader(AppleSearchAdsConnector)
