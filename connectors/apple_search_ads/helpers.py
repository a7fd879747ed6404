"""Apple Search Ads request shapes: offset/limit paging in the query of lists, in the body of reports."""

from __future__ import annotations

from typing import Any

from connector_sdk.paginators import ReturnedCountOffsetPaginator
from connector_sdk.windows import DateWindow


def list_paginator(page_size: int) -> ReturnedCountOffsetPaginator:
    """Paging of a list endpoint (campaigns, ad groups): ``offset`` / ``limit`` query parameters."""
    return ReturnedCountOffsetPaginator(
        limit=page_size, offset_param="offset", limit_param="limit", total_path="pagination.totalResults"
    )


def report_paginator(page_size: int) -> ReturnedCountOffsetPaginator:
    """Paging of a report: the offset and limit live in the JSON body's ``selector``."""
    return ReturnedCountOffsetPaginator(
        limit=page_size,
        offset_body_path="selector.pagination.offset",
        limit_body_path="selector.pagination.limit",
        total_path="pagination.totalResults",
    )


def report_body(window: DateWindow, page_size: int) -> dict[str, Any]:
    """The body of an ad group report: daily rows in UTC, ordered so that paging is stable."""
    return {
        "startTime": window.first.isoformat(),
        "endTime": window.last.isoformat(),
        "granularity": "DAILY",
        "timeZone": "UTC",
        "selector": {
            "orderBy": [{"field": "adGroupId", "sortOrder": "ASCENDING"}],
            "pagination": {"offset": 0, "limit": page_size},
        },
        "returnRowTotals": False,
    }
