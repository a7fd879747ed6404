"""TikTok Ads connector. Errors arrive as HTTP 200 with ``code`` != 0: 40100 is throttling
(retried), 5xxxx system errors (retried, as recorded clients do), the rest fatal. Money and
counts are strings; ids are strings (v1.3 docs) or JSON integers (recorded answers): both
parse. Reports ask for every ad status, so a deleted ad's past spend survives a restatement;
report hours are in the advertiser's fixed-offset zone (no daylight saving). The advertiser's own
totals per local day (AUCTION_ADVERTISER) land in ``account_daily`` for the reconciliation gate."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from dlt.sources.helpers.rest_client.client import PageData

from connector_sdk import budgets, extract
from connector_sdk.base import Connector, loader
from connector_sdk.budgets import units
from connector_sdk.extract import EntityRows
from connector_sdk.registry import register
from connector_sdk.specs import AD_GROUPS, ADS, BUDGETED_CAMPAIGNS, Account, Field, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.tiktok_ads import settings as S
from connectors.tiktok_ads.helpers import (
    ERRORS,
    PageInfoPaginator,
    advertiser_accounts,
    budget_period,
    count,
    day_of,
    hour_of,
)

SPEND = pa.decimal128(18, 6)


REPORT = ReportSpec(
    table="ad_performance",
    fields=(
        Field("account_id"),
        # ids inside metrics: strings per the v1.3 docs, JSON integers in recorded answers
        Field("campaign_id", "metrics.campaign_id", str),
        Field("adgroup_id", "metrics.adgroup_id", str),
        Field("ad_id", "dimensions.ad_id", str),
        Field("report_date", "dimensions.stat_time_hour", day_of, type=pa.date32()),
        Field("report_hour", "dimensions.stat_time_hour", hour_of, type=pa.int8()),
        Field("currency"),  # the advertiser's (advertiser/info)
        Field("time_zone"),
        Field("impressions", "metrics.impressions", count, default=0, type=pa.int64()),
        Field("clicks", "metrics.clicks", count, default=0, type=pa.int64()),
        Field("spend", "metrics.spend", str, default="0", type=SPEND),
        Field("conversions", "metrics.conversion", float, default=0.0, type=pa.float64()),
    ),
    grain=("account_id", "campaign_id", "adgroup_id", "ad_id", "report_date", "report_hour"),
    spend_column="spend",
)

# The advertiser's own totals per local day (AUCTION_ADVERTISER), for the reconciliation gate.
ACCOUNT_DAILY = ReportSpec(
    table="account_daily",
    fields=(
        Field("account_id"),
        Field("report_date", "dimensions.stat_time_day", day_of, type=pa.date32()),
        Field("currency"),
        Field("time_zone"),
        Field("impressions", "metrics.impressions", count, default=0, type=pa.int64()),
        Field("clicks", "metrics.clicks", count, default=0, type=pa.int64()),
        Field("spend", "metrics.spend", str, default="0", type=SPEND),
    ),
    grain=("account_id", "report_date"),
    spend_column="spend",
)

_CAMPAIGN_ID = Field("campaign_id", "campaign_id", str, default=None)
# entity table -> (list endpoint, field map of one item)
ENTITY_LISTS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "campaigns": (
        "campaign/get",
        (
            Field("campaign_id", "campaign_id", str),
            Field("name", "campaign_name", default=None),
            Field("status", "operation_status", default=None),
            Field("objective", "objective_type", default=None),
            # budget: a number in the advertiser currency's units; which limit it is, budget_mode
            Field("budget_period", "budget_mode", budget_period, default=None),
            Field("daily_budget", "budget", units, default=None),
            Field("lifetime_budget", "budget", units, default=None),
            Field("budget_currency"),
        ),
    ),
    "ad_groups": (
        "adgroup/get",
        (
            Field("ad_group_id", "adgroup_id", str),
            _CAMPAIGN_ID,
            Field("name", "adgroup_name", default=None),
            Field("status", ("secondary_status", "operation_status"), default=None),
        ),
    ),
    "ads": (
        "ad/get",
        (
            Field("ad_id", "ad_id", str),
            Field("ad_group_id", "adgroup_id", str, default=None),
            _CAMPAIGN_ID,
            Field("name", "ad_name", default=None),
            Field("status", "operation_status", default=None),
        ),
    ),
}


@register
class TikTokAdsConnector(Connector):
    """TikTok integrated report (ad x hour, advertiser time zone) and entity lists."""

    name = "tiktok_ads"
    default_host = S.DEFAULT_HOST
    report = REPORT
    extra_reports = (ACCOUNT_DAILY,)
    settings = S.SETTINGS
    errors = ERRORS
    entities = (BUDGETED_CAMPAIGNS, AD_GROUPS, ADS)
    credential_keys = ("access_token", "advertiser_ids")

    def auth_headers(self) -> dict[str, str]:
        """TikTok's ``Access-Token`` header."""
        return {"Access-Token": self.credentials.get("access_token")}

    @property
    def api_prefix(self) -> str:
        """``/open_api/<version>``: the configured API version (settings), else v1.3."""
        return S.api_prefix(self.settings.api_version or S.API_VERSION)

    def list_accounts(self) -> list[Account]:
        """Advertisers with their currency and fixed-offset time zone (``advertiser/info``)."""
        ids = self.credentials.id_list("advertiser_ids")
        body = self.get_json(
            None, f"{self.api_prefix}/advertiser/info/", params={"advertiser_ids": json.dumps(ids)}
        )
        return advertiser_accounts(ids, body.get("data", {}).get("list", []))

    def _pages(self, account: Account, endpoint: str, params: dict[str, Any]) -> Iterator[PageData[Any]]:
        yield from self.paginate(
            account.account_id,
            f"{self.api_prefix}/{endpoint}/",
            params={"advertiser_id": account.account_id, "page_size": self.settings.page_size, **params},
            paginator=PageInfoPaginator(),
            data_selector="data.list",
        )

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Ad x hour rows of one advertiser and day (hourly requests span one day)."""
        params = {
            **S.REPORT_PARAMS,
            "start_date": window.first.isoformat(),
            "end_date": window.last.isoformat(),
        }
        for page in self._pages(account, "report/integrated/get", params):
            yield self.report_page(page, account)

    def fetch_extra_report(
        self, report: ReportSpec, account: Account, window: DateWindow
    ) -> Iterator[pa.Table]:
        """The advertiser's own totals per local day (the coarse report)."""
        params = {
            **S.ACCOUNT_DAY_PARAMS,
            "start_date": window.first.isoformat(),
            "end_date": window.last.isoformat(),
        }
        for page in self._pages(account, "report/integrated/get", params):
            yield extract.report_page(report, page, extract.page_values(account))

    def fetch_entities(self, accounts: Sequence[Account]) -> EntityRows:
        """Campaigns, ad groups and ads of every advertiser."""
        out: EntityRows = {table: [] for table in ENTITY_LISTS}
        for acc in accounts:
            for table, (endpoint, fields) in ENTITY_LISTS.items():
                items = (r for page in self._pages(acc, endpoint, {}) for r in page)
                rows = self.entity_rows(fields, items, acc, budget_currency=acc.currency)
                out[table].extend(budgets.settled(r) if table == "campaigns" else r for r in rows)
        return out


load_tiktok_ads = loader(TikTokAdsConnector)
