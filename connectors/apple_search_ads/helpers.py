"""Apple Ads Platform API v1 wire formats: query bodies, offset paging in the body, report rows, errors.

Sources (https://developer.apple.com/documentation/apple-ads-platform-api/...): ``get-app-ad-group-reports``,
``appsreportingrequest``, ``requestpagination``, ``querypaginationresult``, ``calling-apple-ads-platform-api``,
``errorresponse``, ``rate-limits``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests

from connector_sdk.paginators import ReturnedCountOffsetPaginator
from connector_sdk.responses import (
    SUCCESSFUL,
    BodyError,
    ErrorMapping,
    ResponseAction,
    Rule,
    Signal,
    retry_after_seconds,
    unparseable_body,
)
from connector_sdk.windows import DateWindow
from connectors.apple_search_ads import settings as S


class TotalCountPaginator(ReturnedCountOffsetPaginator):
    """Offset/pageSize in the JSON body's ``pagination``; ``pagination.totalCount`` ends the paging.

    ``expected_total`` is the platform's own count of the request's rows, from its first page.
    """

    expected_total: int | None = None

    def init_request(self, request: requests.Request) -> None:
        """A new request: no total known yet."""
        self.expected_total = None
        super().init_request(request)

    def update_state(self, response: requests.Response, data: list[Any] | None = None) -> None:
        """Record the total of the first page, then advance by the rows received."""
        if self.expected_total is None:
            total = (response.json().get("pagination") or {}).get("totalCount")
            self.expected_total = int(total) if total is not None else None
        super().update_state(response, data)


def query_paginator(page_size: int) -> TotalCountPaginator:
    """Paging of a ``/query`` endpoint or report (both take ``{"pagination": {offset, pageSize}}``)."""
    return TotalCountPaginator(
        limit=page_size,
        offset_body_path="pagination.offset",
        limit_body_path="pagination.pageSize",
        total_path="pagination.totalCount",
    )


def query_body(*filters: dict[str, Any]) -> dict[str, Any]:
    """A QueryRequest; ``fetchTotalCount`` so the answer carries ``totalCount`` (else it is omitted)."""
    return {"filters": list(filters), "pagination": {"offset": 0, "fetchTotalCount": True}}


# App Store campaigns, deleted ones included: their spend is real, and /query endpoints return
# deleted entities only when the filters ask for them ("deleted" takes EQUALS and IN).
CAMPAIGNS_QUERY = (
    {"field": "promotedObjectType", "operator": "EQUALS", "value": "APPSTORE_APP"},
    {"field": "deleted", "operator": "IN", "value": [True, False]},
)


def campaign_report_body(window: DateWindow, campaign_id: str) -> dict[str, Any]:
    """A campaigns report of one campaign (``get-app-campaign-reports``: the same request shape,
    ``campaignId`` filter required); the coarsest apps report, so the account's day is the sum
    of its campaigns' rows."""
    return report_body(window, campaign_id)


def report_body(window: DateWindow, campaign_id: str) -> dict[str, Any]:
    """An ad group report of one campaign (the ``campaignId`` filter is required), in UTC days.

    ``DAILY`` needs a range longer than one day; one day is asked without ``granularity`` and
    answered in ``totalMetrics`` only.
    """
    time_range = {"start": window.first.isoformat(), "end": window.last.isoformat(), "timeZone": "UTC"}
    if window.last > window.first:
        time_range["granularity"] = "DAILY"
    return {
        "pagination": {"offset": 0},
        "filters": [{"field": "campaignId", "operator": "EQUALS", "value": campaign_id}],
        "fields": list(S.REPORT_FIELDS),
        "timeRange": time_range,
    }


def day_rows(rows: Sequence[Mapping[str, Any]], window: DateWindow) -> list[dict[str, Any]]:
    """One row per ad group and day: each day's metrics with the ad group's ``metadata``.

    A one-day report (no granularity) carries its figures in ``totalMetrics``: the day is the
    window's. A longer one without ``granularMetrics`` is a changed API: the KeyError says so.
    """
    out: list[dict[str, Any]] = []
    for row in rows:
        if window.first == window.last and "granularMetrics" not in row:
            days = [{**row["totalMetrics"], "date": window.first.isoformat()}]
        else:
            days = row["granularMetrics"]
        out += [{**day, "metadata": row["metadata"]} for day in days]
    return out


def apple_error(body: Any) -> BodyError | None:
    """The ``error`` of an Apple response (ErrorResponse, or beside ``result``), as one line."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None
    parts = [f"{err.get('code', '')}: {err.get('message') or ''}".strip()]
    parts += [f"{d.get('code', '')}: {d.get('message') or ''}" for d in err.get("details") or ()]
    return BodyError(0, "; ".join(parts))


def _said_error(signal: Signal) -> bool:
    return signal.error is not None


def rate_limit_wait(signal: Signal) -> float | None:
    """``Retry-After`` on a 429, falling back to ``RateLimit-Reset`` (delta seconds), as the docs say."""
    asked = retry_after_seconds(signal.response)
    if asked is not None:
        return asked
    try:
        return max(0.0, float(signal.response.headers["RateLimit-Reset"]))
    except (KeyError, ValueError):
        return None


ERRORS = ErrorMapping(
    rules=(
        Rule(
            ResponseAction.RETRY, "unparseable body (HTTP {status})", status=SUCCESSFUL, when=unparseable_body
        ),
        # "Check for the presence of error before processing result" (AppsAdGroupReportResponse)
        Rule(ResponseAction.FAIL, "request refused: {detail}", status=SUCCESSFUL, when=_said_error),
        Rule(ResponseAction.RATE_LIMITED, "HTTP 429 rate limited", status=(429,), wait=rate_limit_wait),
        Rule(
            ResponseAction.FAIL,
            "request refused (HTTP {status}): {detail}",
            status=(400, 403, 404),
            when=_said_error,
        ),
    ),
    body_error=apple_error,
)
"""Apple's signals before the shared HTTP rules (401 refreshes the token once, 5xx retried)."""
