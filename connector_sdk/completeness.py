"""Whether a slice pull is complete, and when an incomplete or vanished answer is applied.

A pull of one (account, window) counts what its pages held (:class:`SliceTally`, filled by
:meth:`Connector.paginate <connector_sdk.base.Connector.paginate>` while
:meth:`~connector_sdk.base.Connector.fetch_report` runs) and compares it with the platform's
own total, which a paginator exposes as ``expected_total`` (None when the platform gives
none). The window is *complete* when the items received equal that total or, without a
total, when paging reached its last page and no empty page came before a non-empty one.
Otherwise it is *partial*.

Each (account, report date) of the window then gets a :class:`SliceOutcome`. A partial slice,
or one that drops from N loaded rows to none, is not applied (the loaded rows stay, no
tombstone) until the next pull of the same slice gives the same answer (same rows, same row
keys): that second pull confirms it and is applied. The state lives in the connector's own
slice log (``raw_ads.<platform>__slices``), read back as :class:`PriorSlice`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

COMPLETE: Final = "complete"
PARTIAL: Final = "partial"
DEFERRED: Final = "deferred"
STATUSES: tuple[str, ...] = (COMPLETE, PARTIAL, DEFERRED)

SliceKey = tuple[str, date]
"""(account_id, report_date)."""


@dataclass(frozen=True)
class SliceOutcome:
    """What one run did with one (account, report date) slice (the row of ``audit.pull_slices``).

    ``status``: ``complete`` (applied: the current table holds this pull), ``partial`` (not
    applied: the loaded rows stay until a second pull confirms the answer) or ``deferred``
    (not pulled: the platform asked for a wait longer than the run may wait; pull again after
    ``resume_after``). ``rows_received``: report rows this pull gave for the date.
    ``rows_expected``: the platform's own total where it states one for this date (its total
    of a one-day request; for a longer request the total covers the window, so the dates of a
    complete window expect what they received and those of a partial one None), else None.
    ``applied``: the pull replaced the slice. ``detail``: why it is partial or deferred, or how
    it was confirmed. ``load_id``: the dlt load that recorded it.
    """

    platform: str
    account_id: str
    report_date: date
    status: str
    rows_expected: int | None
    rows_received: int
    resume_after: datetime | None = None
    load_id: str | None = None
    applied: bool = False
    detail: str = ""


@dataclass(frozen=True)
class PriorSlice:
    """A slice as the log remembers it: rows loaded now, and the latest pull (deferrals skipped).

    ``loaded_rows``: rows of the latest applied pull (None: never applied). ``last_applied``,
    ``last_rows``, ``last_answer``: the latest pull that was not a deferral.
    """

    loaded_rows: int | None = None
    last_applied: bool = True
    last_rows: int | None = None
    last_answer: str | None = None


@dataclass
class Paging:
    """One paged request inside a slice pull: items per page, and the platform's total."""

    pages: list[int] = field(default_factory=list)
    expected_total: int | None = None
    finished: bool = False

    def add(self, items: int, paginator: Any) -> None:
        """Count one page (and read the paginator's total, set from the first page)."""
        self.pages.append(items)
        if self.expected_total is None:
            total = getattr(paginator, "expected_total", None)
            self.expected_total = None if total is None else int(total)

    @property
    def received(self) -> int:
        """Items received over every page."""
        return sum(self.pages)

    def problem(self) -> str | None:
        """Why this paging is incomplete (None when complete)."""
        if self.expected_total is not None:
            if self.received != self.expected_total:
                return f"received {self.received} of the {self.expected_total} rows the platform counted"
            return None
        if not self.finished:
            return "paging stopped before its last page"
        seen_empty = None
        for i, n in enumerate(self.pages):
            if n == 0 and seen_empty is None:
                seen_empty = i
            elif n and seen_empty is not None:
                return f"page {seen_empty + 1} of {len(self.pages)} was empty before more rows"
        return None


@dataclass
class SliceTally:
    """Every paged request of one slice pull."""

    pagings: list[Paging] = field(default_factory=list)

    def start(self) -> Paging:
        """A new paged request of this pull."""
        paging = Paging()
        self.pagings.append(paging)
        return paging

    def discard(self, paging: Paging) -> None:
        """Forget a paged request the connector abandoned (and asked again another way)."""
        self.pagings = [p for p in self.pagings if p is not paging]

    @property
    def expected(self) -> int | None:
        """The platform's total over every paged request (None unless each stated one)."""
        totals = [p.expected_total for p in self.pagings]
        if not totals or any(t is None for t in totals):
            return None
        return sum(t for t in totals if t is not None)

    @property
    def received(self) -> int:
        """Items received over every paged request."""
        return sum(p.received for p in self.pagings)

    def verdict(self) -> tuple[str, str]:
        """``(complete | partial, why)`` for the window this tally counted."""
        problems = [p for p in (paging.problem() for paging in self.pagings) if p]
        return (PARTIAL, "; ".join(problems)) if problems else (COMPLETE, "")


_LOCAL = threading.local()


@contextmanager
def tallying() -> Iterator[SliceTally]:
    """Count the paging of the slice pulled on this thread (see :func:`current_tally`)."""
    tally = SliceTally()
    previous = getattr(_LOCAL, "tally", None)
    _LOCAL.tally = tally
    try:
        yield tally
    finally:
        _LOCAL.tally = previous


def current_tally() -> SliceTally | None:
    """The tally of the slice being pulled on this thread (None outside a slice pull)."""
    tally: SliceTally | None = getattr(_LOCAL, "tally", None)
    return tally


def items_in(page: Sequence[Any]) -> int:
    """Items on one page (a decoder's page is one Arrow array in a one-element list)."""
    if len(page) == 1 and isinstance(page[0], pa.Array | pa.ChunkedArray):
        return len(page[0])
    return len(page)


def answer_digest(pages: Sequence[pa.Table], date_col: str, day: date) -> str:
    """A digest of the row keys one pull gave for ``day`` (the same answer twice has the same digest)."""
    keys: list[str] = []
    for page in pages:
        mask = pc.equal(page.column(date_col), pa.scalar(day, page.schema.field(date_col).type))
        keys.extend(str(k) for k in page.filter(mask).column("_row_key").to_pylist())
    return hashlib.md5("\n".join(sorted(keys)).encode()).hexdigest()


@dataclass(frozen=True)
class Judged:
    """The decision for one slice: status, whether it is applied, why."""

    status: str
    applied: bool
    detail: str = ""


def judge(
    window_status: str, window_detail: str, rows: int, answer: Callable[[], str], prior: PriorSlice | None
) -> Judged:
    """Apply a slice's pull now, or keep the loaded rows until a second pull confirms it.

    Complete and not a drop to none: applied. Partial (the window's reason) or a drop from N
    loaded rows to none: applied only when the latest pull before it was an unapplied one with
    the same rows and row keys (the second pull confirms), else not applied. ``answer``
    computes this pull's row-key digest (only asked for when it matters).
    """
    reasons = [window_detail] if window_status == PARTIAL else []
    if prior is not None and prior.loaded_rows and rows == 0:
        reasons.append(f"dropped from {prior.loaded_rows} rows to none")
    if not reasons:
        return Judged(COMPLETE, True)
    why = "; ".join(r for r in reasons if r) or "incomplete"
    if (
        prior is not None
        and not prior.last_applied
        and prior.last_rows == rows
        and prior.last_answer == answer()
    ):
        return Judged(COMPLETE, True, f"confirmed by a second pull ({why})")
    return Judged(PARTIAL, False, f"{why}; the loaded rows stay until a second pull confirms it")
