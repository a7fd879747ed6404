"""Apple Search Ads connector: OAuth client credentials (the secret is a signed JWT), one org
per account (``X-AP-Context: orgId=``), ad group reports per campaign, ``DAILY`` in ``UTC``
(so report dates are UTC days and the slice is (org, UTC date)). Paging is offset/limit in
the JSON body. An expired token answers 401 and is refreshed once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connector_sdk import AD_GROUPS, CAMPAIGNS, Account, Connector, DateWindow, ReportSpec, register
from connector_sdk.base import loader
from connector_sdk.exceptions import AuthenticationError
from connector_sdk.http import cached_json
from connector_sdk.paginators import ReturnedCountOffsetPaginator as OffsetPaginator
from connectors.apple_search_ads import settings as S

SPEND = pa.decimal128(18, 6)
REPORT_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("campaign_id", pa.string()),
        ("ad_group_id", pa.string()),
        ("report_date", pa.date32()),
        ("currency", pa.string()),
        ("impressions", pa.int64()),
        ("taps", pa.int64()),
        ("tap_installs", pa.int64()),
        ("local_spend", SPEND),
    ]
)


@register
class AppleSearchAdsConnector(Connector):
    """Apple Search Ads ad group x UTC day performance, campaigns and ad groups."""

    name = "apple_search_ads"
    default_host = S.DEFAULT_HOST
    report = ReportSpec(
        table="ad_group_performance",
        schema=REPORT_SCHEMA,
        grain=("account_id", "campaign_id", "ad_group_id", "report_date"),
        spend_column="local_spend",
    )
    entities = (CAMPAIGNS, AD_GROUPS)
    credential_keys = ("client_id", "client_secret", "org_id")
    lookback_days = S.LOOKBACK_DAYS
    max_span_days = S.MAX_SPAN_DAYS
    page_size = S.PAGE_SIZE
    requests_per_second = S.REQUESTS_PER_SECOND
    max_concurrency = S.MAX_CONCURRENCY

    _token: str | None = None
    _campaigns: dict[str, list[dict[str, Any]]] | None = None

    def _fetch_token(self) -> str:
        url = S.OAUTH_TOKEN_URL if self.base_url == self.default_host else f"{self.base_url}/auth/oauth2/token"
        form = {"grant_type": "client_credentials", "client_id": self.credential("client_id"),
                "client_secret": self.credential("client_secret"), "scope": "searchadsorg"}  # fmt: skip
        from connector_sdk.exceptions import FatalAPIError

        try:
            resp = self.session(refreshable=False).post(url, data=form)
        except FatalAPIError:
            raise AuthenticationError(
                "OAuth token refused: check SOURCES__APPLE_SEARCH_ADS__CLIENT_ID / _CLIENT_SECRET", platform=self.name
            ) from None
        token = cached_json(resp).get("access_token")
        if not token:
            raise AuthenticationError("OAuth token response had no access_token", platform=self.name)
        return str(token)

    def auth_headers(self) -> dict[str, str]:
        """Bearer token from the client-credentials grant (fetched once per run)."""
        if self._token is None:
            self._token = self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    def refresh_auth(self) -> dict[str, str]:
        """A new token after a 401."""
        self._token = self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    def _org(self, org: str) -> dict[str, str]:
        return {"X-AP-Context": f"orgId={org}"}

    def _list(self, org: str, path: str) -> list[dict[str, Any]]:
        paginator = OffsetPaginator(limit=self.page_size_used, offset_param="offset", limit_param="limit",
                                    total_path="pagination.totalResults")  # fmt: skip
        pages = self.paginate(org, f"{S.API_PREFIX}/{path}", paginator=paginator, data_selector="data",
                              headers=self._org(org))  # fmt: skip
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
        for org in self.id_list("org_id"):
            camps = self._org_campaigns(org)
            currency = next((c.get("dailyBudgetAmount", {}).get("currency") for c in camps), None)
            out.append(Account(org, "UTC", currency))
        return out

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Ad group x day rows of every campaign of one org, a table per page."""
        org = account.account_id
        for camp in self._org_campaigns(org):
            body = {
                "startTime": window.first.isoformat(),
                "endTime": window.last.isoformat(),
                "granularity": "DAILY",
                "timeZone": "UTC",
                "selector": {
                    "orderBy": [{"field": "adGroupId", "sortOrder": "ASCENDING"}],
                    "pagination": {"offset": 0, "limit": self.page_size_used},
                },
                "returnRowTotals": False,
            }
            paginator = OffsetPaginator(
                limit=self.page_size_used,
                offset_body_path="selector.pagination.offset",
                limit_body_path="selector.pagination.limit",
                total_path="pagination.totalResults",
            )
            pages = self.paginate(
                org, f"{S.API_PREFIX}/reports/campaigns/{camp['id']}/adgroups", method="POST", json=body,
                paginator=paginator, data_selector="data.reportingDataResponse.row", headers=self._org(org),
            )  # fmt: skip
            for page in pages:
                flat = [(r["metadata"], g) for r in page for g in r.get("granularity", [])]
                yield self.page_table(
                    {
                        "account_id": [org] * len(flat),
                        "campaign_id": [str(m["campaignId"]) for m, _ in flat],
                        "ad_group_id": [str(m["adGroupId"]) for m, _ in flat],
                        "report_date": [date.fromisoformat(g["date"]) for _, g in flat],
                        "currency": [g.get("localSpend", {}).get("currency") or account.currency for _, g in flat],
                        "impressions": [int(g.get("impressions") or 0) for _, g in flat],
                        "taps": [int(g.get("taps") or 0) for _, g in flat],
                        "tap_installs": [int(g.get("tapInstalls") or 0) for _, g in flat],
                        "local_spend": pc.cast(
                            pa.array([str(g.get("localSpend", {}).get("amount") or "0") for _, g in flat]), SPEND
                        ),
                    }
                )

    def fetch_entities(self, accounts: Sequence[Account]) -> dict[str, list[dict[str, Any]]]:
        """Campaigns and their ad groups of every org."""
        out: dict[str, list[dict[str, Any]]] = {"campaigns": [], "ad_groups": []}
        for acc in accounts:
            base = {"account_id": acc.account_id, "currency": acc.currency, "time_zone": "UTC"}
            for c in self._org_campaigns(acc.account_id):
                out["campaigns"].append(base | {"campaign_id": str(c["id"]), "name": c.get("name"),
                                                "status": c.get("displayStatus") or c.get("status"),
                                                "objective": "app_installs"})  # fmt: skip
                for g in self._list(acc.account_id, f"campaigns/{c['id']}/adgroups"):
                    out["ad_groups"].append(base | {"ad_group_id": str(g["id"]), "campaign_id": str(c["id"]),
                                                    "name": g.get("name"), "status": g.get("status")})  # fmt: skip
        return out


load_apple_search_ads = loader(AppleSearchAdsConnector)
