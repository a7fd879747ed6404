"""Meta Ads connector: insights through async report runs, entity edges, Meta's error signals.

Large insight reports are run asynchronously (POST ``insights`` -> report run id, poll
``async_status`` until ``Job Completed``, then read the run's ``insights`` pages), which is
what Meta recommends for ad-level hourly data. Throttling arrives as HTTP 400/403 (or inside
a 200) with codes 4/17/613/80000+; the wait is in ``X-Business-Use-Case-Usage``
(``estimated_time_to_regain_access``, minutes).
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

from connector_sdk.base import Connector, loader
from connector_sdk.exceptions import RetriesExhaustedError
from connector_sdk.extract import EntityRows
from connector_sdk.registry import register
from connector_sdk.specs import AD_GROUPS, ADS, CAMPAIGNS, PAGE, Account, Field, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.meta_ads import settings as S
from connectors.meta_ads.helpers import ERRORS, conversions, hour_of, poll_delay

SPEND = pa.decimal128(18, 6)


REPORT = ReportSpec(
    table="ad_performance",
    fields=(
        Field("account_id"),
        Field("campaign_id", "campaign_id", str),
        Field("adset_id", "adset_id", str),
        Field("ad_id", "ad_id", str),
        Field("report_date", "date_start", date.fromisoformat, type=pa.date32()),
        Field("report_hour", S.HOURLY_BREAKDOWN, hour_of, type=pa.int8()),
        Field("currency", "account_currency", default=PAGE),
        Field("time_zone"),
        Field("impressions", "impressions", int, default=0, type=pa.int64()),
        Field("clicks", "clicks", int, default=0, type=pa.int64()),
        Field("spend", "spend", default="0", type=SPEND),
        Field("conversions", "actions", conversions, default=(), type=pa.float64()),
    ),
    grain=("account_id", "campaign_id", "adset_id", "ad_id", "report_date", "report_hour"),
    spend_column="spend",
)

_NAME = Field("name", "name", default=None)
_STATUS = Field("status", ("effective_status", "status"), default=None)
_CAMPAIGN_ID = Field("campaign_id", "campaign_id", str, default=None)
CAMPAIGN = (Field("campaign_id", "id", str), _NAME, _STATUS, Field("objective", "objective", default=None))
AD_SET = (Field("ad_group_id", "id", str), _CAMPAIGN_ID, _NAME, _STATUS)
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
    """Meta insights (ad x hour, account time zone), campaigns, ad sets and ads."""

    name = "meta_ads"
    default_host = S.DEFAULT_HOST
    report = REPORT
    settings = S.SETTINGS
    errors = ERRORS
    entities = (CAMPAIGNS, AD_GROUPS, ADS)
    credential_keys = ("access_token", "account_ids")

    def auth_headers(self) -> dict[str, str]:
        """The long-lived token as a Bearer header (kept out of URLs and logs)."""
        return {"Authorization": f"Bearer {self.credentials.get('access_token')}"}

    def _path(self, tail: str) -> str:
        return f"/{S.API_VERSION}/{tail}"

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

    def _report_run(self, account: Account, window: DateWindow) -> str:
        params = {
            "level": "ad",
            "fields": S.INSIGHT_FIELDS,
            "time_range": json.dumps({"since": window.first.isoformat(), "until": window.last.isoformat()}),
            "time_increment": "1",
            "breakdowns": S.HOURLY_BREAKDOWN,
            "is_async": "true",
        }
        path = self._path(f"act_{account.account_id}/insights")
        return str(self.get_json(account.account_id, path, method="POST", data=params)["report_run_id"])

    def _wait(self, account: Account, run_id: str) -> bool:
        """Poll the report run; True when completed, False when Meta failed or skipped it."""
        for poll in range(S.MAX_POLLS):
            state = self.get_json(account.account_id, self._path(run_id)).get("async_status")
            if state == "Job Completed":
                return True
            if state in ("Job Failed", "Job Skipped"):
                return False
            time.sleep(poll_delay(poll, self.retry.base_delay))
        return False

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Run an async insights report for the window and read its pages."""
        for _attempt in range(3):
            run_id = self._report_run(account, window)
            if self._wait(account, run_id):
                break
        else:
            raise RetriesExhaustedError(
                f"report run for act_{account.account_id} kept failing", platform=self.name
            )
        for page in self._pages(account, f"{run_id}/insights", {"limit": self.settings.page_size}):
            yield self.report_page(page, account)

    def fetch_entities(self, accounts: Sequence[Account]) -> EntityRows:
        """Campaigns, ad sets (as ad groups) and ads of every account."""
        out: EntityRows = {table: [] for table in ENTITY_EDGES}
        for acc in accounts:
            for table, (edge, asked, fields) in ENTITY_EDGES.items():
                params = {"fields": asked, "limit": self.settings.page_size}
                nodes = (r for page in self._pages(acc, f"act_{acc.account_id}/{edge}", params) for r in page)
                out[table].extend(self.entity_rows(fields, nodes, acc))
        return out


load_meta_ads = loader(MetaAdsConnector)
