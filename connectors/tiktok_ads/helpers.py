"""TikTok wire formats: values inside report rows, the error inside an HTTP 200 answer, paging by
``page_info`` and the advertiser's fixed-offset time zone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
from requests import Request, Response

from connector_sdk.budgets import DAILY, LIFETIME, NONE
from connector_sdk.exceptions import FatalAPIError
from connector_sdk.responses import (
    ANY_CODE,
    BodyError,
    ErrorMapping,
    ResponseAction,
    Rule,
    cached_json,
    unparseable_body,
)
from connector_sdk.specs import Account
from connector_sdk.windows import zone
from connectors.tiktok_ads import settings as S


def count(value: Any) -> int:
    """A count sent as a string (``"12"``, sometimes ``"12.0"``)."""
    return int(float(value))


def day_of(stat_time: str) -> date:
    """The date of a ``stat_time_hour`` (``"2026-10-20 05:00:00"``, advertiser time zone)."""
    return date.fromisoformat(stat_time[:10])


def hour_of(stat_time: str) -> int:
    """The hour of a ``stat_time_hour``."""
    return int(stat_time[11:13])


def api_error(body: Any) -> BodyError | None:
    """The ``code`` / ``message`` of an answer (code 0 is success)."""
    code = int(body.get("code", 0)) if isinstance(body, dict) else 0
    return BodyError(code, str(body.get("message", ""))) if code else None


ERRORS = ErrorMapping(
    body_error=api_error,
    rules=(  # TikTok answers HTTP 200 with the error inside; other statuses follow the HTTP rules
        Rule(ResponseAction.RETRY, "unparseable body", status=(200,), when=unparseable_body),
        Rule(ResponseAction.RATE_LIMITED, "throttled (code {code})", status=(200,), codes=S.RATE_LIMIT_CODES),
        Rule(ResponseAction.RETRY, "transient error (code {code})", status=(200,), codes=S.TRANSIENT_CODES),
        Rule(
            ResponseAction.FAIL,
            "access token refused (code {code}): check SOURCES__TIKTOK_ADS__ACCESS_TOKEN",
            status=(200,),
            codes=S.TOKEN_CODES,
        ),
        Rule(ResponseAction.FAIL, "request refused (code {code}): {detail}", status=(200,), codes=ANY_CODE),
    ),
)


class PageInfoPaginator(PageNumberPaginator):
    """``page`` = 1, 2, ... up to ``data.page_info.total_page``.

    ``expected_total`` is the first page's ``page_info.total_number`` (rows of the whole query),
    None when the answer has no ``page_info`` (a recorded v1.3 answer has none): such an
    answer is its only page.
    """

    def __init__(self) -> None:
        super().__init__(base_page=1, page_param="page", total_path="data.page_info.total_page")
        self.expected_total: int | None = None
        self._first_page = True

    def init_request(self, request: Request) -> None:
        """Start at page 1 with no total known."""
        self.expected_total = None
        self._first_page = True
        super().init_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Read the total from the first page; stop after a page without ``page_info``."""
        body = cached_json(response)
        info = (body.get("data") or {}).get("page_info") if isinstance(body, dict) else None
        if self._first_page:
            self._first_page = False
            total = info.get("total_number") if isinstance(info, dict) else None
            self.expected_total = None if total is None else int(total)
        if not isinstance(info, dict) or info.get("total_page") is None:
            self._has_next_page = False
            return
        super().update_state(response, data)


def fixed_offset_zone(advertiser_id: str, tz: Any) -> str:
    """The advertiser's time zone (``advertiser/info`` ``timezone``), checked to be a fixed offset.

    TikTok's report hours are in the advertiser's zone, a whole- or half-hour offset from UTC
    without daylight saving (``Etc/GMT+8`` style; ``display_timezone`` only names a region).
    Hours converted to UTC with a daylight-saving zone would shift by an hour for half the year,
    so such an answer stops the run instead of loading misplaced hours.
    """
    if not tz:
        raise FatalAPIError(
            f"advertiser {advertiser_id} has no time zone in advertiser/info", platform="tiktok_ads"
        )
    z = zone(str(tz))
    year = datetime.now(UTC).year
    offsets = {z.utcoffset(datetime(year, month, 1)) for month in (1, 4, 7, 10)}
    if len(offsets) > 1:
        raise FatalAPIError(
            f"advertiser {advertiser_id} has time zone {tz!r}, which has daylight saving; TikTok "
            "reports hours in fixed offsets (Etc/GMT+N), so its hours cannot be placed in UTC",
            platform="tiktok_ads",
        )
    return str(tz)


def advertiser_accounts(ids: Sequence[str], listing: Sequence[Mapping[str, Any]]) -> list[Account]:
    """The configured advertisers from an ``advertiser/info`` list (ids as strings or numbers).

    Every advertiser must be listed: without its time zone its hours cannot be placed in UTC.
    """
    info = {str(r["advertiser_id"]): r for r in listing}
    missing = [a for a in ids if a not in info]
    if missing:
        raise FatalAPIError(
            f"advertiser/info did not list advertiser {', '.join(missing)}: check "
            "SOURCES__TIKTOK_ADS__ADVERTISER_IDS and the token's access",
            platform="tiktok_ads",
        )
    return [Account(a, fixed_offset_zone(a, info[a].get("timezone")), info[a].get("currency")) for a in ids]


# A campaign's budget_mode -> the landed budget_period: BUDGET_MODE_DAY (a daily budget),
# BUDGET_MODE_TOTAL (a lifetime one), BUDGET_MODE_INFINITE (no limit; budget 0). ``budget`` is a
# number in the advertiser currency's units (campaign/get, docs/simulated_apis.md "Campaign budgets").
BUDGET_MODES = {"BUDGET_MODE_DAY": DAILY, "BUDGET_MODE_TOTAL": LIFETIME, "BUDGET_MODE_INFINITE": NONE}


def budget_period(mode: str) -> str:
    """The landed budget period of a TikTok ``budget_mode`` (an unknown mode: none)."""
    return BUDGET_MODES.get(str(mode), NONE)
