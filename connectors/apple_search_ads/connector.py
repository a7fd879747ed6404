"""Apple Search Ads connector: OAuth client credentials (the secret is a signed JWT), one org
per account (``X-AP-Context: orgId=``), ad group reports per campaign, ``DAILY`` in ``UTC``
(so report dates are UTC days and the slice is (org, UTC date)). Paging is offset/limit in
the JSON body. An expired token answers 401 and is refreshed once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pyarrow as pa
from dlt.sources.helpers.rest_client.client import PageData
from dlt.sources.helpers.rest_client.paginators import BasePaginator as Paginator

from connector_sdk.base import Connector, loader
from connector_sdk.extract import EntityRows
from connector_sdk.registry import register
from connector_sdk.specs import AD_GROUPS, CAMPAIGNS, PAGE, Account, Field, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.apple_search_ads import settings as S
from connectors.apple_search_ads.helpers import list_paginator, report_body, report_paginator

SPEND = pa.decimal128(18, 6)

REPORT_ROWS = "data.reportingDataResponse.row"  # one per ad group, its days under ``granularity``
# One report row per ad group and day: the day's figures with the ad group's ``metadata``.
REPORT = ReportSpec(
    table="ad_group_performance",
    fields=(
        Field("account_id"),
        Field("campaign_id", "metadata.campaignId", str),
        Field("ad_group_id", "metadata.adGroupId", str),
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

CAMPAIGN = (
    Field("campaign_id", "id", str),
    Field("name", "name", default=None),
    Field("status", ("displayStatus", "status"), default=None),
    Field("objective", default="app_installs"),
)
AD_GROUP = (
    Field("ad_group_id", "id", str),
    Field("campaign_id"),  # the campaign the list was asked for
    Field("name", "name", default=None),
    Field("status", "status", default=None),
)


@register
class AppleSearchAdsConnector(Connector):
    """Apple Search Ads ad group x UTC day performance, campaigns and ad groups."""

    name = "apple_search_ads"
    default_host = S.DEFAULT_HOST
    report = REPORT
    settings = S.SETTINGS
    entities = (CAMPAIGNS, AD_GROUPS)
    credential_keys = ("client_id", "client_secret", "org_id")

    _token: str | None = None
    _campaigns: dict[str, list[dict[str, Any]]] | None = None

    def _fetch_token(self) -> str:
        url = (
            S.OAUTH_TOKEN_URL if self.base_url == self.default_host else f"{self.base_url}/auth/oauth2/token"
        )
        secrets = {k: self.credentials.get(k) for k in ("client_id", "client_secret")}
        form = {"grant_type": "client_credentials", **secrets, "scope": "searchadsorg"}
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

    def _org_pages(
        self, org: str, path: str, paginator: Paginator, **request: Any
    ) -> Iterator[PageData[Any]]:
        headers = {"X-AP-Context": f"orgId={org}"}
        yield from self.paginate(
            org, f"{S.API_PREFIX}/{path}", paginator=paginator, headers=headers, **request
        )

    def _list(self, org: str, path: str) -> list[dict[str, Any]]:
        pages = self._org_pages(org, path, list_paginator(self.settings.page_size), data_selector="data")
        return [r for page in pages for r in page]

    def _org_campaigns(self, org: str) -> list[dict[str, Any]]:
        if self._campaigns is None:
            self._campaigns = {}
        if org not in self._campaigns:
            self._campaigns[org] = self._list(org, "campaigns")
        return self._campaigns[org]

    def list_accounts(self) -> list[Account]:
        """Each org in SOURCES__APPLE_SEARCH_ADS__ORG_ID (comma list); reports are pulled in UTC."""
        out = []
        for org in self.credentials.id_list("org_id"):
            camps = self._org_campaigns(org)
            currency = next((c.get("dailyBudgetAmount", {}).get("currency") for c in camps), None)
            out.append(Account(org, "UTC", currency))
        return out

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Ad group x day rows of every campaign of one org, a table per page."""
        org, size = account.account_id, self.settings.page_size
        for camp in self._org_campaigns(org):
            path = f"reports/campaigns/{camp['id']}/adgroups"
            request = {"method": "POST", "json": report_body(window, size), "data_selector": REPORT_ROWS}
            for page in self._org_pages(org, path, report_paginator(size), **request):
                days = [
                    {**day, "metadata": row["metadata"]} for row in page for day in row.get("granularity", [])
                ]
                yield self.report_page(days, account)

    def fetch_entities(self, accounts: Sequence[Account]) -> EntityRows:
        """Campaigns and their ad groups of every org."""
        out: EntityRows = {"campaigns": [], "ad_groups": []}
        for acc in accounts:
            for c in self._org_campaigns(acc.account_id):
                out["campaigns"] += self.entity_rows(CAMPAIGN, [c], acc)
                groups = self._list(acc.account_id, f"campaigns/{c['id']}/adgroups")
                out["ad_groups"] += self.entity_rows(AD_GROUP, groups, acc, campaign_id=str(c["id"]))
        return out


load_apple_search_ads = loader(AppleSearchAdsConnector)
