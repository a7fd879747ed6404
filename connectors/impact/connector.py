"""Impact connector: HTTP Basic (AccountSID:AuthToken), ``Accept: application/json`` (XML
otherwise), ``@``-prefixed paging strings, 429 with ``X-RateLimit-Reset`` (epoch seconds)
and no ``Retry-After``. The slice is (account, UTC date of ``EventDate``), kept in an extra
``report_date`` column so restated days replace whole."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import requests
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

from connector_sdk import CAMPAIGNS, Account, Connector, DateWindow, ReportSpec, register
from connector_sdk.base import loader
from connector_sdk.http import Verdict, default_classifier
from connectors.impact import settings as S

MONEY = pa.decimal128(18, 6)
TS = pa.timestamp("us", tz="UTC")
REPORT_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("action_id", pa.string()),
        ("campaign_id", pa.string()),
        ("media_partner_id", pa.string()),
        ("state", pa.string()),
        ("event_ts", TS),
        ("locking_date", TS),
        ("amount", MONEY),
        ("payout", MONEY),
        ("currency", pa.string()),
        ("report_date", pa.date32()),
    ]
)


def _ts(v: str | None) -> datetime | None:
    return datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None


@register
class ImpactConnector(Connector):
    """Impact actions (one row per action, sliced by UTC event date) and campaigns."""

    name = "impact"
    default_host = S.DEFAULT_HOST
    report = ReportSpec(
        table="actions",
        schema=REPORT_SCHEMA,
        grain=("account_id", "action_id"),
        spend_column="payout",
    )
    entities = (CAMPAIGNS,)
    credential_keys = ("account_sid", "auth_token")
    lookback_days = S.LOOKBACK_DAYS
    max_span_days = S.MAX_SPAN_DAYS
    page_size = S.PAGE_SIZE
    requests_per_second = S.REQUESTS_PER_SECOND
    max_concurrency = S.MAX_CONCURRENCY

    def auth_headers(self) -> dict[str, str]:
        """HTTP Basic with AccountSID:AuthToken, and JSON answers."""
        raw = f"{self.credential('account_sid')}:{self.credential('auth_token')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode(), "Accept": "application/json"}

    def classify(self, response: requests.Response) -> Verdict:
        """429 waits until ``X-RateLimit-Reset``; 401 is fatal (Basic auth cannot be refreshed)."""
        if response.status_code == 429:
            reset = response.headers.get("X-RateLimit-Reset")
            delay = None
            if reset and reset.replace(".", "", 1).isdigit():
                value = float(reset)
                # an epoch timestamp (the documented form) or, defensively, seconds to wait
                delay = max(0.0, value - time.time()) if value > 1e9 else value
            return Verdict.retry("HTTP 429 rate limited", delay, rate_limited=True)
        if response.status_code == 401:
            return Verdict.fatal("credentials refused (HTTP 401): check SOURCES__IMPACT__ACCOUNT_SID / _AUTH_TOKEN")
        return default_classifier(response)

    def list_accounts(self) -> list[Account]:
        """The one brand account (its SID); actions are reported in UTC."""
        return [Account(self.credential("account_sid"), "UTC", None)]

    def _pages(self, path: str, params: dict[str, Any], selector: str) -> Iterator[list[dict[str, Any]]]:
        sid = self.credential("account_sid")
        paginator = PageNumberPaginator(base_page=1, page_param="Page", total_path="['@numpages']")
        yield from self.paginate(sid, f"/Advertisers/{sid}/{path}", params={"PageSize": self.page_size_used, **params},
                                 paginator=paginator, data_selector=selector)  # fmt: skip

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Actions whose EventDate falls in the window's UTC days."""
        start = datetime(window.first.year, window.first.month, window.first.day)
        end = datetime(window.last.year, window.last.month, window.last.day) + timedelta(days=1)
        params = {"ActionDateStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "ActionDateEnd": end.strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
        for page in self._pages("Actions", params, "Actions"):
            events = [_ts(r["EventDate"]) for r in page]
            yield self.page_table(
                {
                    "account_id": [account.account_id] * len(page),
                    "action_id": [str(r["Id"]) for r in page],
                    "campaign_id": [str(r["CampaignId"]) for r in page],
                    "media_partner_id": [str(r.get("MediaPartnerId") or "") or None for r in page],
                    "state": [r.get("State") for r in page],
                    "event_ts": events,
                    "locking_date": [_ts(r.get("LockingDate")) for r in page],
                    "amount": pc.cast(pa.array([str(r.get("Amount") or "0") for r in page]), MONEY),
                    "payout": pc.cast(pa.array([str(r.get("Payout") or "0") for r in page]), MONEY),
                    "currency": [r.get("Currency") for r in page],
                    "report_date": [e.date() if e else None for e in events],
                }
            )

    def fetch_entities(self, accounts: Sequence[Account]) -> dict[str, list[dict[str, Any]]]:
        """Impact campaigns (programs)."""
        out: list[dict[str, Any]] = []
        for acc in accounts:
            for page in self._pages("Campaigns", {}, "Campaigns"):
                for r in page:
                    out.append({"account_id": acc.account_id, "campaign_id": str(r.get("Id")), "name": r.get("Name"),
                                "status": r.get("Status"), "objective": "affiliate",
                                "currency": r.get("Currency"), "time_zone": "UTC"})  # fmt: skip
        return {"campaigns": out}


load_impact = loader(ImpactConnector)
