"""Impact connector: HTTP Basic (AccountSID:AuthToken), ``Accept: application/json`` (XML
otherwise), ``@``-prefixed paging strings, 429 with ``X-RateLimit-Reset`` (epoch seconds)
and no ``Retry-After``. The slice is (account, UTC date of ``EventDate``), kept in an extra
``report_date`` column so restated days replace whole."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
from dlt.sources.helpers.rest_client.client import PageData
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

from connector_sdk.base import Connector, loader
from connector_sdk.extract import EntityRows
from connector_sdk.registry import register
from connector_sdk.responses import ErrorMapping, ResponseAction, Rule, Signal
from connector_sdk.specs import CAMPAIGNS, Account, Field, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.impact import settings as S

MONEY = pa.decimal128(18, 6)
TS = pa.timestamp("us", tz="UTC")


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _utc_day(value: str) -> date:
    return _ts(value).date()


REPORT = ReportSpec(
    table="actions",
    fields=(
        Field("account_id"),
        Field("action_id", "Id", str),
        Field("campaign_id", "CampaignId", str),
        Field("media_partner_id", "MediaPartnerId", str, default=None),
        Field("state", "State", default=None),
        Field("event_ts", "EventDate", _ts, type=TS),
        Field("locking_date", "LockingDate", _ts, default=None, type=TS),
        Field("amount", "Amount", str, default="0", type=MONEY),
        Field("payout", "Payout", str, default="0", type=MONEY),
        Field("currency", "Currency", default=None),
        Field("report_date", "EventDate", _utc_day, type=pa.date32()),  # the slice: UTC day of the event
    ),
    grain=("account_id", "action_id"),
    spend_column="payout",
)

CAMPAIGN = (
    Field("campaign_id", "Id", str),
    Field("name", "Name", default=None),
    Field("status", "Status", default=None),
    Field("objective", default="affiliate"),
    Field("currency", "Currency", default=None),
)


def rate_limit_reset(signal: Signal) -> float | None:
    """Seconds until ``X-RateLimit-Reset``: an epoch timestamp (documented) or, defensively, a wait."""
    reset = signal.response.headers.get("X-RateLimit-Reset")
    if not reset or not reset.replace(".", "", 1).isdigit():
        return None
    value = float(reset)
    return max(0.0, value - time.time()) if value > 1e9 else value


ERRORS = ErrorMapping(
    rules=(
        Rule(ResponseAction.RATE_LIMITED, "HTTP 429 rate limited", status=(429,), wait=rate_limit_reset),
        Rule(  # Basic auth cannot be refreshed
            ResponseAction.FAIL,
            "credentials refused (HTTP 401): check SOURCES__IMPACT__ACCOUNT_SID / _AUTH_TOKEN",
            status=(401,),
        ),
    )
)


@register
class ImpactConnector(Connector):
    """Impact actions (one row per action, sliced by UTC event date) and campaigns."""

    name = "impact"
    default_host = S.DEFAULT_HOST
    report = REPORT
    settings = S.SETTINGS
    errors = ERRORS
    entities = (CAMPAIGNS,)
    credential_keys = ("account_sid", "auth_token")

    def auth_headers(self) -> dict[str, str]:
        """HTTP Basic with AccountSID:AuthToken, and JSON answers."""
        raw = f"{self.credentials.get('account_sid')}:{self.credentials.get('auth_token')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode(), "Accept": "application/json"}

    def list_accounts(self) -> list[Account]:
        """The one brand account (its SID); actions are reported in UTC."""
        return [Account(self.credentials.get("account_sid"), "UTC", None)]

    def _pages(self, path: str, params: dict[str, Any], selector: str) -> Iterator[PageData[Any]]:
        sid = self.credentials.get("account_sid")
        paginator = PageNumberPaginator(base_page=1, page_param="Page", total_path="['@numpages']")
        params = {"PageSize": self.settings.page_size, **params}
        yield from self.paginate(
            sid, f"/Advertisers/{sid}/{path}", params=params, paginator=paginator, data_selector=selector
        )

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Actions whose EventDate falls in the window's UTC days."""
        start = datetime(window.first.year, window.first.month, window.first.day)
        end = datetime(window.last.year, window.last.month, window.last.day) + timedelta(days=1)
        params = {
            "ActionDateStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ActionDateEnd": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for page in self._pages("Actions", params, "Actions"):
            yield self.report_page(page, account)

    def fetch_entities(self, accounts: Sequence[Account]) -> EntityRows:
        """Impact campaigns (programs)."""
        out: EntityRows = {"campaigns": []}
        for acc in accounts:
            for page in self._pages("Campaigns", {}, "Campaigns"):
                out["campaigns"] += self.entity_rows(CAMPAIGN, page, acc)
        return out


load_impact = loader(ImpactConnector)
