"""TikTok Ads connector. Errors arrive as HTTP 200 with ``code`` != 0: 40100 is throttling
(retried), 5xxxx transient (retried), the rest fatal. Money and counts are strings; ids in
``metrics`` can be bare numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import requests
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

from connector_sdk import AD_GROUPS, ADS, CAMPAIGNS, Account, Connector, DateWindow, ReportSpec, register
from connector_sdk.base import loader
from connector_sdk.http import Verdict, cached_json, default_classifier
from connectors.tiktok_ads import settings as S

SPEND = pa.decimal128(18, 6)
REPORT_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("campaign_id", pa.string()),
        ("adgroup_id", pa.string()),
        ("ad_id", pa.string()),
        ("report_date", pa.date32()),
        ("report_hour", pa.int8()),
        ("currency", pa.string()),
        ("time_zone", pa.string()),
        ("impressions", pa.int64()),
        ("clicks", pa.int64()),
        ("spend", SPEND),
        ("conversions", pa.float64()),
    ]
)


def _num(v: Any) -> float:
    return float(v) if v not in (None, "") else 0.0


@register
class TikTokAdsConnector(Connector):
    """TikTok integrated report (ad x hour, advertiser time zone) and entity lists."""

    name = "tiktok_ads"
    default_host = S.DEFAULT_HOST
    report = ReportSpec(
        table="ad_performance",
        schema=REPORT_SCHEMA,
        grain=("account_id", "campaign_id", "adgroup_id", "ad_id", "report_date", "report_hour"),
        spend_column="spend",
    )
    entities = (CAMPAIGNS, AD_GROUPS, ADS)
    credential_keys = ("access_token", "advertiser_ids")
    lookback_days = S.LOOKBACK_DAYS
    max_span_days = S.MAX_SPAN_DAYS
    page_size = S.PAGE_SIZE
    requests_per_second = S.REQUESTS_PER_SECOND
    max_concurrency = S.MAX_CONCURRENCY

    def auth_headers(self) -> dict[str, str]:
        """TikTok's ``Access-Token`` header."""
        return {"Access-Token": self.credential("access_token")}

    def classify(self, response: requests.Response) -> Verdict:
        """Read ``code`` inside HTTP 200 answers."""
        if response.status_code != 200:
            return default_classifier(response)
        try:
            body = cached_json(response)
        except ValueError:
            return Verdict.retry("unparseable body")
        code = int(body.get("code", 0)) if isinstance(body, dict) else 0
        if code == 0:
            return Verdict.ok()
        message = str(body.get("message", ""))
        if code == S.RATE_LIMIT_CODE:
            return Verdict.retry(f"throttled (code {code})", rate_limited=True)
        if code in S.TRANSIENT_CODES or 50000 <= code < 60000:
            return Verdict.retry(f"transient error (code {code})")
        if code in S.TOKEN_CODES:
            return Verdict.fatal(f"access token refused (code {code}): check SOURCES__TIKTOK_ADS__ACCESS_TOKEN")
        return Verdict.fatal(f"request refused (code {code}): {message}")

    def list_accounts(self) -> list[Account]:
        """Advertisers with their currency and time zone (``advertiser/info``)."""
        ids = self.id_list("advertiser_ids")
        body = self.get_json(None, f"{S.API_PREFIX}/advertiser/info/", params={"advertiser_ids": json.dumps(ids)})
        info = {str(r["advertiser_id"]): r for r in body.get("data", {}).get("list", [])}
        return [Account(a, info.get(a, {}).get("timezone") or "UTC", info.get(a, {}).get("currency")) for a in ids]

    def _pages(self, account: Account, endpoint: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        paginator = PageNumberPaginator(base_page=1, page_param="page", total_path="data.page_info.total_page")
        yield from self.paginate(
            account.account_id,
            f"{S.API_PREFIX}/{endpoint}/",
            params={"advertiser_id": account.account_id, "page_size": self.page_size_used, **params},
            paginator=paginator,
            data_selector="data.list",
        )

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Ad x hour rows of one advertiser and day (hourly requests span one day)."""
        params = {
            "report_type": "BASIC",
            "data_level": "AUCTION_AD",
            "dimensions": json.dumps(["ad_id", "stat_time_hour"]),
            "metrics": json.dumps(S.METRICS),
            "start_date": window.first.isoformat(),
            "end_date": window.last.isoformat(),
        }
        for page in self._pages(account, "report/integrated/get", params):
            n = len(page)
            dims = [r["dimensions"] for r in page]
            met = [r["metrics"] for r in page]
            stamps = [d["stat_time_hour"] for d in dims]
            yield self.page_table(
                {
                    "account_id": [account.account_id] * n,
                    "campaign_id": [str(m["campaign_id"]) for m in met],
                    "adgroup_id": [str(m["adgroup_id"]) for m in met],
                    "ad_id": [str(d["ad_id"]) for d in dims],
                    "report_date": [date.fromisoformat(s[:10]) for s in stamps],
                    "report_hour": [int(s[11:13]) for s in stamps],
                    "currency": [m.get("currency") or account.currency for m in met],
                    "time_zone": [account.time_zone] * n,
                    "impressions": [int(_num(m.get("impressions"))) for m in met],
                    "clicks": [int(_num(m.get("clicks"))) for m in met],
                    "spend": pc.cast(pa.array([str(m.get("spend") or "0") for m in met], pa.string()), SPEND),
                    "conversions": [_num(m.get("conversion")) for m in met],
                }
            )

    def fetch_entities(self, accounts: Sequence[Account]) -> dict[str, list[dict[str, Any]]]:
        """Campaigns, ad groups and ads of every advertiser."""
        out: dict[str, list[dict[str, Any]]] = {"campaigns": [], "ad_groups": [], "ads": []}
        for acc in accounts:
            base = {"account_id": acc.account_id, "currency": acc.currency, "time_zone": acc.time_zone}
            for page in self._pages(acc, "campaign/get", {}):
                for r in page:
                    out["campaigns"].append(base | {"campaign_id": str(r["campaign_id"]), "name": r.get("campaign_name"),
                                                    "status": r.get("operation_status"),
                                                    "objective": r.get("objective_type")})  # fmt: skip
            for page in self._pages(acc, "adgroup/get", {}):
                for r in page:
                    out["ad_groups"].append(base | {"ad_group_id": str(r["adgroup_id"]),
                                                    "campaign_id": str(r.get("campaign_id")),
                                                    "name": r.get("adgroup_name"),
                                                    "status": r.get("secondary_status") or r.get("operation_status")})  # fmt: skip
            for page in self._pages(acc, "ad/get", {}):
                for r in page:
                    out["ads"].append(base | {"ad_id": str(r["ad_id"]), "ad_group_id": str(r.get("adgroup_id")),
                                              "campaign_id": str(r.get("campaign_id")), "name": r.get("ad_name"),
                                              "status": r.get("operation_status")})  # fmt: skip
        return out


load_tiktok_ads = loader(TikTokAdsConnector)
