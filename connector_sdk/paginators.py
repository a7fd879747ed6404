"""Paginators dlt does not have. Use dlt's own (``dlt.sources.helpers.rest_client.paginators``) first.

:class:`ReturnedCountOffsetPaginator`: dlt's ``OffsetPaginator`` steps the offset by the
*requested* limit. An API may return fewer items than asked while more remain (Apple Search
Ads caps pages on its side; the simulator's test page size does the same), and stepping by
the requested limit then skips rows silently. This one steps by the number of items the
page actually held, and stops at the reported total.
"""

from __future__ import annotations

from typing import Any

from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from requests import Response


class ReturnedCountOffsetPaginator(OffsetPaginator):
    """Offset/limit paging that advances by the items received, not the limit requested."""

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Advance by ``len(data)``; an empty page ends paging."""
        received = len(data) if data else 0
        if received == 0:
            self._has_next_page = False
            return
        self.value_step = received
        super().update_state(response, data)
