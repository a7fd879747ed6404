"""Impact wire formats: offset timestamps in UTC, numbers as exact text, paging, error signals.

Facts (https://integrations.impact.com/brand-api-reference/readme, v14 spec; fixtures in
``tests/fixtures/platforms/impact``): ``EventDate`` and ``LockingDate`` carry the account's
local offset (``2026-11-14T19:53:36-08:00``); money comes as JSON numbers, program, partner and
tracker ids as integers, ``Action.Id`` as a string (``19816.4711.1000000``) and the ``@``-paging
fields as strings. ``ActionDateStart``/``ActionDateEnd`` are inclusive. A 429 carries
``X-RateLimit-Reset`` = seconds until the reset. Errors are ``{Status: "ERROR", Message,
Errors?: [{Field, Message}]}``.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
from requests import Response

from connector_sdk.responses import BodyError, ErrorMapping, ResponseAction, Rule, Signal, cached_json
from connector_sdk.specs import Field
from connector_sdk.windows import as_utc
from connectors.impact import settings as S

TOO_MANY = "more records match than 10 x PageSize"
"""Start of the message of the '> 10 x PageSize' refusal (the connector splits the range on it)."""


def utc_ts(value: str) -> datetime:
    """An ISO 8601 timestamp with offset (``-07:00`` or ``Z``) as an aware UTC datetime."""
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def utc_day(value: str) -> date:
    """The UTC date of an offset timestamp (20:30-07:00 on the 14th is the 15th)."""
    return utc_ts(value).date()


def id_text(value: Any) -> str:
    """An id as text: integers (as Impact sends program and partner ids) without a fraction."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def money_text(value: Any) -> str:
    """A JSON number (or numeric string) as plain decimal text, exact for the digits sent."""
    return format(Decimal(str(value)), "f")


PROGRAM_FIELDS = (
    Field("campaign_id", "Id", id_text),
    Field("name", "Name", default=None),
    Field("status", "State", default=None),  # programs have State (ACTIVE, CLOSED, ...), not Status
    Field("objective", default="affiliate"),
    Field("currency", default=None),  # programs carry no currency; actions do
)


def iso_z(ts: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of an aware datetime."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC days ``first``..``last`` as an inclusive range of seconds (the end is 23:59:59)."""
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last + timedelta(days=1), time(), UTC) - timedelta(seconds=1)
    return start, end


def utc_bounds(first: date, last: date) -> tuple[str, str]:
    """``ActionDateStart``/``ActionDateEnd`` for the UTC days ``first``..``last``."""
    start, end = day_range(first, last)
    return iso_z(start), iso_z(end)


def halves(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Two inclusive ranges covering [start, end] second by second, or [] when too short to split."""
    if (end - start).total_seconds() < S.MIN_SPLIT_SECONDS:
        return []
    mid = start + timedelta(seconds=(end - start).total_seconds() // 2)
    return [(start, mid), (mid + timedelta(seconds=1), end)]


def page_size(configured: int) -> int:
    """The PageSize to send: the configured size within the documented 2,000..20,000."""
    return max(S.MIN_PAGE_SIZE, min(S.MAX_PAGE_SIZE, int(configured)))


class ImpactPaginator(PageNumberPaginator):
    """``Page``/``@numpages`` paging that records the first page's ``@total`` as ``expected_total``."""

    def __init__(self) -> None:
        super().__init__(base_page=1, page_param="Page", total_path="['@numpages']")
        self.expected_total: int | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Read ``@total`` once (a string on the wire), then page as dlt does."""
        if self.expected_total is None:
            body = cached_json(response)
            total = body.get("@total") if isinstance(body, dict) else None
            self.expected_total = int(str(total)) if str(total or "").isdigit() else None
        super().update_state(response, data)


def read_error(body: Any) -> BodyError | None:
    """Impact's error envelope: ``Message`` and each ``Errors[].Field: Message``."""
    if not isinstance(body, dict) or body.get("Status") != "ERROR":
        return None
    parts = [str(body.get("Message") or "")]
    for err in body.get("Errors") or []:
        if isinstance(err, dict):
            parts.append(f"{err.get('Field', '')}: {err.get('Message', '')}")
    return BodyError(0, "; ".join(p for p in parts if p))


def is_too_many(signal: Signal) -> bool:
    """The refusal of a request matching more than 10 x PageSize records."""
    error = signal.error
    text = error.message.lower() if error else ""
    return "pagesize" in text and ("exceed" in text or "10 times" in text)


def rate_limit_reset(signal: Signal) -> float | None:
    """``X-RateLimit-Reset``: the seconds until the hourly window resets (documented as such)."""
    reset = signal.response.headers.get("X-RateLimit-Reset", "")
    try:
        return max(0.0, float(reset))
    except ValueError:
        return None


ERRORS = ErrorMapping(
    rules=(
        Rule(ResponseAction.RATE_LIMITED, "HTTP 429 rate limited", status=(429,), wait=rate_limit_reset),
        Rule(  # Basic auth cannot be refreshed
            ResponseAction.FAIL,
            "credentials refused (HTTP 401): check SOURCES__IMPACT__ACCOUNT_SID / _AUTH_TOKEN",
            status=(401,),
        ),
        Rule(ResponseAction.FAIL, TOO_MANY + ": {detail}", status=(400,), when=is_too_many),
        Rule(
            ResponseAction.FAIL,
            "HTTP 400 from Impact: {detail}",
            status=(400,),
            when=lambda s: s.error is not None,
        ),
    ),
    body_error=read_error,
)


def until_locking(option: bool | None) -> bool:
    """Whether lookback runs reach back to the latest LockingDate: the option, dlt config, the default."""
    if option is not None:
        return option
    value: Any = dlt.config.get("sources.impact.lookback_until_locking")
    if value is None:
        value = os.environ.get("SOURCES__IMPACT__LOOKBACK_UNTIL_LOCKING")
    if value is None:
        return S.LOOKBACK_UNTIL_LOCKING
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes")


def locking_horizon_days(pipeline: dlt.Pipeline, table: str) -> int | None:
    """The most days between an action's UTC event date and its LockingDate in ``raw_ads.<table>``.

    A day's actions change until their LockingDate, so a lookback of this many days pulls every
    day until after its last action locked. None when nothing is loaded yet.
    """
    with pipeline.sql_client() as client:
        q = client.escape_column_name
        try:
            rows = client.execute_sql(
                f"SELECT {q('report_date')}, MAX({q('locking_date')}) "
                f"FROM {client.make_qualified_table_name(table)} GROUP BY {q('report_date')}"
            )
        except DatabaseUndefinedRelation:
            return None
    days = [
        (as_utc(lock).date() - day).days for day, lock in rows or [] if day is not None and lock is not None
    ]
    return max(days) if days else None
