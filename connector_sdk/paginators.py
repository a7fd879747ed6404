"""Paginators dlt does not have. Use dlt's own (``dlt.sources.helpers.rest_client.paginators``) first.

Completeness: the SDK compares the items a slice's pages held with the platform's own total,
which a paginator exposes as ``expected_total`` (an attribute; None when the platform gives
none, see :mod:`connector_sdk.completeness`). dlt's paginators have no such attribute; the
``Counted*`` paginators here are dlt's with ``expected_total`` read from the first page at
``items_total_path`` (the number of *items*, not pages: TikTok ``data.page_info.total_number``,
Google ``totalResultsCount``, Impact ``@total``, Apple ``pagination.totalResults``). A platform's
own paginator only needs to set ``expected_total`` the same way.

:class:`ReturnedCountOffsetPaginator`: dlt's ``OffsetPaginator`` steps the offset by the
*requested* limit. An API may return fewer items than asked while more remain (Apple Search
Ads caps pages on its side; the simulator's test page size does the same), and stepping by
the requested limit then skips rows silently. This one steps by the number of items the
page actually held, and stops at the reported total.
"""

from __future__ import annotations

from typing import Any

from dlt.common import jsonpath
from dlt.sources.helpers.rest_client.paginators import (
    JSONResponseCursorPaginator,
    OffsetPaginator,
    PageNumberPaginator,
)
from requests import Request, Response


def total_at(response: Response, path: jsonpath.TJsonPath | None) -> int | None:
    """The integer at ``path`` in the response body (None when there is none or it is not a number)."""
    if path is None:
        return None
    values = jsonpath.find_values(path, response.json())
    try:
        return int(values[0]) if values and values[0] is not None else None
    except (TypeError, ValueError):
        return None


class _FirstPageTotal:
    """``expected_total`` from the first page of each paged request (reset by ``init_request``)."""

    items_total_path: str | None = None
    expected_total: int | None = None
    _pages_seen: int = 0

    def _reset_total(self) -> None:
        self.expected_total = None
        self._pages_seen = 0

    def _read_total(self, response: Response) -> None:
        if self._pages_seen == 0:
            self.expected_total = total_at(response, self.items_total_path)
        self._pages_seen += 1


class ReturnedCountOffsetPaginator(_FirstPageTotal, OffsetPaginator):
    """Offset/limit paging that advances by the items received, not the limit requested.

    ``expected_total`` is the total at ``total_path`` (items) on the first page, else None.
    """

    def init_request(self, request: Request) -> None:
        """Start a paged request (forget the previous one's total)."""
        self._reset_total()
        super().init_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Advance by ``len(data)``; an empty page ends paging."""
        if self._pages_seen == 0:
            self.expected_total = total_at(response, self.total_path)
        self._pages_seen += 1
        received = len(data) if data else 0
        if received == 0:
            self._has_next_page = False
            return
        self.value_step = received
        super().update_state(response, data)


class CountedPageNumberPaginator(_FirstPageTotal, PageNumberPaginator):
    """dlt's ``PageNumberPaginator`` with ``expected_total`` read at ``items_total_path``."""

    def __init__(self, *args: Any, items_total_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.items_total_path = items_total_path

    def init_request(self, request: Request) -> None:
        """Start a paged request (forget the previous one's total)."""
        self._reset_total()
        super().init_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Read the total on the first page, then page as dlt does."""
        self._read_total(response)
        super().update_state(response, data)


class CountedCursorPaginator(_FirstPageTotal, JSONResponseCursorPaginator):
    """dlt's ``JSONResponseCursorPaginator`` with ``expected_total`` read at ``items_total_path``."""

    def __init__(self, *args: Any, items_total_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.items_total_path = items_total_path

    def init_request(self, request: Request) -> None:
        """Start a paged request (forget the previous one's total)."""
        self._reset_total()
        super().init_request(request)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Read the total on the first page, then page as dlt does."""
        self._read_total(response)
        super().update_state(response, data)
