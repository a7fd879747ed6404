"""Meta Ads connector: insights through async report runs, entity edges, Meta's error signals.

Two reports of each (account, local day) slice, both run asynchronously (POST ``insights`` ->
report run id, poll ``async_status`` until ``Job Completed``, read the run's ``insights``
pages): ad x hour with the hourly breakdown (spend, impressions, clicks; Meta returns no
``actions`` with it) into ``ad_performance``, and ad x day without it (the registration
actions) into ``ad_conversions_daily``. A run Meta fails, or one that outlasts its polls, is
split by campaign, then by ad set, never submitted whole again. A third, the account's own
totals per local day (``level=account``, read synchronously: a few rows), lands in
``account_daily`` for the reconciliation gate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pyarrow as pa
from dlt.sources.helpers.rest_client.client import PageData
from dlt.sources.helpers.rest_client.paginators import JSONLinkPaginator

from connector_sdk import extract
from connector_sdk.base import Connector, loader
from connector_sdk.exceptions import RetriesExhaustedError
from connector_sdk.extract import EntityRows
from connector_sdk.registry import register
from connector_sdk.specs import AD_GROUPS, ADS, BUDGETED_CAMPAIGNS, PAGE, Account, Field, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.meta_ads import settings as S
from connectors.meta_ads.helpers import ERRORS, conversions, hour_of, poll_delay, with_budgets

SPEND = pa.decimal128(18, 6)
_CAMPAIGN = Field("campaign_id", "campaign_id", str)
_AD = Field("ad_id", "ad_id", str)
_DATE = Field("report_date", "date_start", date.fromisoformat, type=pa.date32())

REPORT = ReportSpec(
    table="ad_performance",
    fields=(
        Field("account_id"),
        _CAMPAIGN,
        Field("adset_id", "adset_id", str),
        _AD,
        _DATE,
        Field("report_hour", S.HOURLY_BREAKDOWN, hour_of, type=pa.int8()),
        Field("currency", "account_currency", default=PAGE),
        Field("time_zone"),
        Field("impressions", "impressions", int, default=0, type=pa.int64()),
        Field("clicks", "clicks", int, default=0, type=pa.int64()),
        Field("spend", "spend", default="0", type=SPEND),
        # not in the hourly report ("Type 1" breakdown): null, see ad_conversions_daily
        Field("conversions", default=None, type=pa.float64()),
    ),
    grain=("account_id", "campaign_id", "adset_id", "ad_id", "report_date", "report_hour"),
    spend_column="spend",
)
CONVERSIONS = ReportSpec(
    table="ad_conversions_daily",
    fields=(
        Field("account_id"),
        _CAMPAIGN,
        Field("ad_group_id", "adset_id", str),
        _AD,
        _DATE,
        Field("time_zone"),
        Field("conversions", "actions", conversions, default=(), type=pa.float64()),
    ),
    grain=("account_id", "campaign_id", "ad_group_id", "ad_id", "report_date"),
    spend_column="conversions",  # the report's measure (it has no money)
)

# The platform's own account x local day totals (level=account), for the reconciliation gate.
ACCOUNT_DAILY = ReportSpec(
    table="account_daily",
    fields=(
        Field("account_id"),
        _DATE,
        Field("currency", "account_currency", default=PAGE),
        Field("time_zone"),
        Field("impressions", "impressions", int, default=0, type=pa.int64()),
        Field("clicks", "clicks", int, default=0, type=pa.int64()),
        Field("spend", "spend", default="0", type=SPEND),
    ),
    grain=("account_id", "report_date"),
    spend_column="spend",
)

_NAME = Field("name", "name", default=None)
_STATUS = Field("status", ("effective_status", "status"), default=None)
_CAMPAIGN_ID = Field("campaign_id", "campaign_id", str, default=None)
# budgets in the account currency's minor units, converted with the account's currency (with_budgets)
_BUDGETS = (
    Field("daily_budget_minor", "daily_budget", str, default=None),
    Field("lifetime_budget_minor", "lifetime_budget", str, default=None),
)
CAMPAIGN = (
    Field("campaign_id", "id", str),
    _NAME,
    _STATUS,
    Field("objective", "objective", default=None),
    *_BUDGETS,
)
AD_SET = (Field("ad_group_id", "id", str), _CAMPAIGN_ID, _NAME, _STATUS, *_BUDGETS)
_AD_SET_ID = Field("ad_group_id", "adset_id", str, default=None)
AD = (Field("ad_id", "id", str), _AD_SET_ID, _CAMPAIGN_ID, _NAME, _STATUS)
# entity table -> (edge of the ad account, fields asked, field map of one node)
ENTITY_EDGES = {
    "campaigns": ("campaigns", S.CAMPAIGN_FIELDS, CAMPAIGN),
    "ad_groups": ("adsets", S.ADSET_FIELDS, AD_SET),
    "ads": ("ads", S.AD_FIELDS, AD),
}


@register
class MetaAdsConnector(Connector):
    """Meta insights (ad x hour; conversions per ad x day; account time zone), campaigns, ad sets, ads."""

    name = "meta_ads"
    default_host = S.DEFAULT_HOST
    report = REPORT
    extra_reports = (CONVERSIONS, ACCOUNT_DAILY)
    settings = S.SETTINGS
    errors = ERRORS
    entities = (BUDGETED_CAMPAIGNS, AD_GROUPS, ADS)
    credential_keys = ("access_token", "account_ids")

    def auth_headers(self) -> dict[str, str]:
        """The long-lived token as a Bearer header (kept out of URLs and logs)."""
        return {"Authorization": f"Bearer {self.credentials.get('access_token')}"}

    @property
    def api_version(self) -> str:
        """The Graph API version called (``sources.meta_ads.api_version`` when the settings carry one)."""
        return str(self.settings.api_version or S.API_VERSION)

    def _path(self, tail: str) -> str:
        return f"/{self.api_version}/{tail}"

    def _pages(self, account: Account, tail: str, params: dict[str, Any]) -> Iterator[PageData[Any]]:
        paginator = JSONLinkPaginator(next_url_path="paging.next")
        yield from self.paginate(
            account.account_id, self._path(tail), params=params, paginator=paginator, data_selector="data"
        )

    def list_accounts(self) -> list[Account]:
        """Each ad account with its currency and time zone (the account node)."""
        out = []
        for acc in self.credentials.id_list("account_ids"):
            node = self.get_json(acc, self._path(f"act_{acc}"), params={"fields": S.ACCOUNT_FIELDS})
            out.append(Account(acc, node.get("timezone_name") or "UTC", node.get("currency")))
        return out

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Ad x local hour (hourly breakdown): spend, impressions, clicks; conversions stay null."""
        params = {**_report_params(window), "fields": S.HOURLY_FIELDS, "breakdowns": S.HOURLY_BREAKDOWN}
        for page in self._report_pages(account, params):
            yield self.report_page(page, account)

    def fetch_extra_report(
        self, report: ReportSpec, account: Account, window: DateWindow
    ) -> Iterator[pa.Table]:
        """Ad x local day without a breakdown (the conversions), or the account's own day totals."""
        if report is ACCOUNT_DAILY:
            params = {**_report_params(window), "level": "account", "fields": S.ACCOUNT_FIELDS_DAILY}
            params["limit"] = str(self.settings.page_size)
            for rows in self._pages(account, f"act_{account.account_id}/insights", params):
                yield extract.report_page(report, rows, extract.page_values(account))
            return
        params = {**_report_params(window), "fields": S.DAILY_FIELDS}
        for page in self._report_pages(account, params):
            yield extract.report_page(report, page, extract.page_values(account))

    def _report_pages(
        self, account: Account, params: dict[str, str], filters: tuple[dict[str, Any], ...] = ()
    ) -> Iterator[PageData[Any]]:
        """The pages of one report run; a run that fails (or outlasts its polls) is split, not resubmitted.

        Split by campaign, then by ad set (each part filtered to its parents too, so an ad set
        that moved campaign is not read twice); a failed ad-set run ends the pull.
        """
        data = {**params, "filtering": json.dumps(filters)} if filters else params
        path = self._path(f"act_{account.account_id}/insights")
        run_id = str(self.get_json(account.account_id, path, method="POST", data=data)["report_run_id"])
        if self._wait(account, run_id):
            yield from self._pages(account, f"{run_id}/insights", {"limit": self.settings.page_size})
            return
        if len(filters) == len(S.SPLITS):
            raise RetriesExhaustedError(
                f"report run for act_{account.account_id} failed even for one ad set ({json.dumps(filters)})",
                platform=self.name,
            )
        level, id_field, filter_field = S.SPLITS[len(filters)]
        limit = str(self.settings.page_size)
        listing = {"level": level, "fields": id_field, "time_range": params["time_range"], "limit": limit}
        if filters:
            listing["filtering"] = json.dumps(filters)
        parts = {
            str(row[id_field])
            for page in self._pages(account, f"act_{account.account_id}/insights", listing)
            for row in page
        }
        for part in sorted(parts):
            yield from self._report_pages(
                account, params, (*filters, {"field": filter_field, "operator": "IN", "value": [part]})
            )

    def _wait(self, account: Account, run_id: str) -> bool:
        """Poll the report run: True when completed; False when Meta failed or skipped it, or after MAX_POLLS."""
        for poll in range(S.MAX_POLLS):
            state = self.get_json(account.account_id, self._path(run_id)).get("async_status")
            if state == "Job Completed":
                return True
            if state in ("Job Failed", "Job Skipped"):
                return False
            time.sleep(poll_delay(poll, self.retry.base_delay))
        return False

    def fetch_entities(self, accounts: Sequence[Account]) -> EntityRows:
        """Campaigns (with their budgets, see :func:`~connectors.meta_ads.helpers.with_budgets`),
        ad sets (as ad groups) and ads of every account."""
        out: EntityRows = {table: [] for table in ENTITY_EDGES}
        for acc in accounts:
            rows: EntityRows = {}
            for table, (edge, asked, fields) in ENTITY_EDGES.items():
                params = {"fields": asked, "limit": self.settings.page_size}
                nodes = (r for page in self._pages(acc, f"act_{acc.account_id}/{edge}", params) for r in page)
                rows[table] = self.entity_rows(fields, nodes, acc)
            rows["campaigns"] = with_budgets(rows["campaigns"], rows["ad_groups"], acc.currency)
            for table, table_rows in rows.items():
                out[table].extend(table_rows)
        return out


def _report_params(window: DateWindow) -> dict[str, str]:
    """Ad-level insights of the window's local days, one row per day."""
    since_until = {"since": window.first.isoformat(), "until": window.last.isoformat()}
    return {"level": "ad", "time_range": json.dumps(since_until), "time_increment": "1"}


load_meta_ads = loader(MetaAdsConnector)
