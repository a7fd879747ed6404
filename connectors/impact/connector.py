"""Impact connector: HTTP Basic (AccountSID:AuthToken), ``Accept: application/json`` (XML
otherwise). ``/Actions`` requires ``CampaignId``: the programs are listed first
(``/Campaigns``) and pulled one by one. The slice is (account, UTC date of ``EventDate``):
``EventDate`` carries the account's local offset, so every date is taken in UTC and the
requested window is the slice's UTC days, inclusive to the second. A range matching more than
10 x PageSize records is refused by the API and halved until each part fits."""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from dlt.sources.helpers.rest_client.client import PageData

from connector_sdk.base import (
    Connector,
    DestinationAccess,
    LoadSummary,
    PipelineOrFactory,
    loader,
    resolve_pipeline,
)
from connector_sdk.exceptions import FatalAPIError
from connector_sdk.extract import EntityRows
from connector_sdk.registry import register
from connector_sdk.specs import CAMPAIGNS, Account, Field, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.impact import helpers as H
from connectors.impact import settings as S

MONEY = pa.decimal128(18, 6)
TS = pa.timestamp("us", tz="UTC")

REPORT = ReportSpec(
    table="actions",
    fields=(
        Field("account_id"),
        Field("action_id", "Id", H.id_text),
        Field("campaign_id", "CampaignId", H.id_text),
        Field("media_partner_id", "MediaPartnerId", H.id_text, default=None),
        Field("state", "State", default=None),
        Field("event_ts", "EventDate", H.utc_ts, type=TS),
        Field("locking_date", "LockingDate", H.utc_ts, default=None, type=TS),
        Field("amount", "Amount", H.money_text, default="0", type=MONEY),
        Field("payout", "Payout", H.money_text, default="0", type=MONEY),
        Field("currency", "Currency", default=None),
        Field("report_date", "EventDate", H.utc_day, type=pa.date32()),  # the slice: UTC day of the event
    ),
    grain=("account_id", "action_id"),
    spend_column="payout",
)


@register
class ImpactConnector(Connector):
    """Impact actions (one row per action, sliced by UTC event date) and programs (campaigns)."""

    name = "impact"
    default_host = S.DEFAULT_HOST
    report = REPORT
    settings = S.SETTINGS
    errors = H.ERRORS
    entities = (CAMPAIGNS,)
    credential_keys = ("account_sid", "auth_token")

    def __init__(self, *, until_locking: bool | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.until_locking = H.until_locking(until_locking)
        self._programs: list[dict[str, Any]] | None = None
        self._programs_lock = threading.Lock()

    def auth_headers(self) -> dict[str, str]:
        """HTTP Basic with AccountSID:AuthToken, JSON answers, the API version we read."""
        raw = f"{self.credentials.get('account_sid')}:{self.credentials.get('auth_token')}".encode()
        return {
            "Authorization": "Basic " + base64.b64encode(raw).decode(),
            "Accept": "application/json",
            "IR-Version": S.API_VERSION,
        }

    def list_accounts(self) -> list[Account]:
        """The one brand account (its SID); its slices are UTC days."""
        return [Account(self.credentials.get("account_sid"), "UTC", None)]

    def _pages(self, path: str, params: dict[str, Any], selector: str) -> Iterator[PageData[Any]]:
        sid = self.credentials.get("account_sid")
        yield from self.paginate(
            sid,
            f"/Advertisers/{sid}/{path}",
            params=params,
            paginator=H.ImpactPaginator(),
            data_selector=selector,
        )

    def programs(self) -> list[dict[str, Any]]:
        """The account's programs (``/Campaigns``), listed once per connector instance."""
        with self._programs_lock:
            if self._programs is None:
                self._programs = [p for page in self._pages("Campaigns", {}, "Campaigns") for p in page]
            return self._programs

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Actions whose EventDate falls in the window's UTC days, program by program."""
        start, end = H.day_range(window.first, window.last)
        for program in self.programs():
            yield from self._actions(account, H.id_text(program["Id"]), start, end)

    def _actions(
        self, account: Account, campaign_id: str, start: datetime, end: datetime
    ) -> Iterator[pa.Table]:
        """One program's actions in [start, end], halving a range the API refuses as too large.

        A range's pages are kept until its last page arrived: a refusal on a later page (the
        count grew meanwhile) then re-pulls that range in halves without doubling rows.
        """
        todo = [(start, end)]
        while todo:
            lo, hi = todo.pop(0)
            params = {
                "CampaignId": campaign_id,
                "ActionDateStart": H.iso_z(lo),
                "ActionDateEnd": H.iso_z(hi),
                "PageSize": H.page_size(self.settings.page_size),
            }
            try:
                pages = [self.report_page(p, account) for p in self._pages("Actions", params, "Actions")]
            except FatalAPIError as exc:
                parts = H.halves(lo, hi) if H.TOO_MANY in str(exc) else []
                if not parts:
                    raise
                todo[:0] = parts
                continue
            yield from pages

    def fetch_entities(self, accounts: Sequence[Account]) -> EntityRows:
        """Impact programs as campaigns."""
        return {
            "campaigns": [
                row for acc in accounts for row in self.entity_rows(H.PROGRAM_FIELDS, self.programs(), acc)
            ]
        }

    def load(
        self,
        pipeline: PipelineOrFactory,
        *,
        mode: str,
        logical_time: datetime,
        start: date | None = None,
        end: date | None = None,
        reopen: Sequence[tuple[str, date]] = (),
        access: DestinationAccess = contextlib.nullcontext,
    ) -> LoadSummary:
        """As every connector; with ``until_locking`` a lookback reaches back to the latest LockingDate."""
        if mode == "lookback" and self.until_locking:
            with access():
                horizon = H.locking_horizon_days(resolve_pipeline(pipeline), self.report_table)
            if horizon is not None and horizon > self.settings.lookback_days:
                self.settings = self.settings.overridden(lookback_days=horizon)
        return super().load(
            pipeline, mode=mode, logical_time=logical_time, start=start, end=end, reopen=reopen, access=access
        )


load_impact = loader(ImpactConnector)
