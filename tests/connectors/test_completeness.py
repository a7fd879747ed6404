"""Complete pulls only, long waits as deferrals, open slices pulled again: a toy connector on a
scripted local server (no simulator). Each test is what a user of the raw tables relies on:
an incomplete answer never replaces a complete slice, and a platform asking for hours of
waiting does not hold the run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connector_sdk.base import LoadSummary
from connector_sdk.exceptions import PullDeferred
from connector_sdk.http import FAST_RETRY, ApiSession, RetryPolicy
from connector_sdk.paginators import CountedCursorPaginator, CountedPageNumberPaginator
from connector_sdk.responses import HTTP_ONLY
from connector_sdk.specs import Account
from connector_sdk.testing import duckdb_pipeline, read_rows
from connector_sdk.windows import DateWindow
from tests.connectors.fakes import FakeConnector, FakeServer, Reply

D1 = date(2026, 10, 23)
AT = datetime(2026, 10, 25, 12, tzinfo=UTC)
LONG_WAIT = 17941  # Google's retryDelay for the daily quota, seen in the wild: ~5 h


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A scripted server per test (scripts and request logs do not leak between tests)."""
    with FakeServer() as srv:
        yield srv


class PagedConnector(FakeConnector):
    """Pages ``/report`` of the scripted server: ``items`` of {item_id, spend}, by page number with
    ``total`` items and ``total_pages`` (``paging="pages"``) or by a ``next`` cursor without a total."""

    paging = "pages"

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """One date per window (max_span_days=1): every page of the scripted report."""
        paginator: Any
        if self.paging == "pages":
            paginator = CountedPageNumberPaginator(
                base_page=1, page_param="page", total_path="total_pages", items_total_path="total"
            )
        else:
            paginator = CountedCursorPaginator(cursor_path="next", cursor_param="cursor")
        for page in self.paginate(account.account_id, "/report", paginator=paginator, data_selector="items"):
            yield self.report_page(page, account, report_date=window.first)


def _page(
    items: list[tuple[str, float]], total: int | None = None, pages: int = 1, nxt: str | None = None
) -> Reply:
    body: dict[str, Any] = {"items": [{"item_id": i, "spend": s} for i, s in items], "total_pages": pages}
    if total is not None:
        body["total"] = total
    body["next"] = nxt
    return (200, {}, body)


def _paged(server: FakeServer, pipe: Any, *replies: Reply, paging: str = "pages") -> LoadSummary:
    conn = PagedConnector(base_url=server.url, requests_per_second=0, retry=FAST_RETRY)
    conn.paging = paging
    server.script(*replies)
    return conn.load(pipe, mode="backfill", logical_time=AT, start=D1, end=D1)


def _current(pipe: Any) -> list[tuple[Any, ...]]:
    return read_rows(pipe, "fake_ads__items", ["report_date", "item_id", "spend"])


LOADED = [(D1, "a", 1.0), (D1, "b", 2.0), (D1, "c", 3.0)]


def test_empty_middle_page_leaves_the_loaded_slice_untouched(server: FakeServer, tmp_path: Path) -> None:
    """Page 2 of 3 comes back empty (paging ends there): 2 of the 3 rows the platform counted.
    The slice keeps its loaded rows and the run says so; the same short answer a second time
    is the platform's word and is applied."""
    pipe = duckdb_pipeline(tmp_path, "mid")
    full = _paged(server, pipe, _page([("a", 1.0), ("b", 2.0)], 3, 2), _page([("c", 3.0)], 3, 2))
    assert _current(pipe) == LOADED and [s.status for s in full.slices] == ["complete"]

    short = (_page([("a", 1.5), ("b", 2.5)], 3, 3), _page([], 3, 3), _page([("c", 3.5)], 3, 3))
    summary = _paged(server, pipe, *short)
    assert _current(pipe) == LOADED  # untouched: no tombstone, no replacement
    (s,) = summary.slices
    assert (s.status, s.applied, s.rows_received, s.rows_expected) == ("partial", False, 2, 3)
    assert "received 2 of the 3 rows" in s.detail and s.load_id == summary.load_id
    assert "1 slices partial" in summary.one_line() and summary.warnings

    confirmed = _paged(server, pipe, *short)
    assert _current(pipe) == [(D1, "a", 1.5), (D1, "b", 2.5)]
    assert confirmed.slices[0].status == "complete" and "confirmed" in confirmed.slices[0].detail


def test_partial_then_a_different_answer_is_not_a_confirmation(server: FakeServer, tmp_path: Path) -> None:
    """Two short answers that differ confirm nothing; a complete one is applied at once."""
    pipe = duckdb_pipeline(tmp_path, "diff")
    _paged(server, pipe, _page([("a", 1.0), ("b", 2.0)], 3, 2), _page([("c", 3.0)], 3, 2))
    _paged(server, pipe, _page([("a", 1.5)], 3, 3), _page([], 3, 3))
    second = _paged(server, pipe, _page([("b", 2.5)], 3, 3), _page([], 3, 3))
    assert second.slices[0].status == "partial" and _current(pipe) == LOADED
    _paged(server, pipe, _page([("a", 9.0), ("b", 8.0)], 3, 2), _page([("c", 7.0)], 3, 2))
    assert _current(pipe) == [(D1, "a", 9.0), (D1, "b", 8.0), (D1, "c", 7.0)]


def test_without_a_total_an_empty_page_before_more_rows_is_partial(
    server: FakeServer, tmp_path: Path
) -> None:
    """A cursor API that states no total: an empty page followed by a non-empty one is not trusted."""
    pipe = duckdb_pipeline(tmp_path, "cursor")
    _paged(server, pipe, _page([("a", 1.0), ("b", 2.0)], nxt="p2"), _page([("c", 3.0)]), paging="cursor")
    assert _current(pipe) == LOADED
    summary = _paged(
        server,
        pipe,
        _page([("a", 1.5)], nxt="p2"),
        _page([], nxt="p3"),
        _page([("c", 3.5)]),
        paging="cursor",
    )
    (s,) = summary.slices
    assert s.status == "partial" and s.rows_expected is None and "page 2 of 3 was empty" in s.detail
    assert _current(pipe) == LOADED


def _fake_run(pipe: Any, data: dict[tuple[str, date], list[tuple[str, float]]], **load: Any) -> LoadSummary:
    conn = FakeConnector(lookback_days=0)
    conn.data = data
    return conn.load(pipe, mode="backfill", logical_time=AT, start=D1, end=D1, **load)


def test_slice_dropping_to_none_is_applied_only_on_the_second_pull(tmp_path: Path) -> None:
    """N loaded rows, then a pull with none: kept (partial) until the next pull says none again."""
    pipe = duckdb_pipeline(tmp_path, "drop")
    _fake_run(pipe, {("a1", D1): [("a", 1.0), ("b", 2.0)]})
    first = _fake_run(pipe, {})
    assert _current(pipe) == [(D1, "a", 1.0), (D1, "b", 2.0)]
    (s,) = first.slices
    assert (s.status, s.rows_received, s.applied) == ("partial", 0, False)
    assert "dropped from 2 rows to none" in s.detail

    second = _fake_run(pipe, {})
    assert _current(pipe) == []
    assert second.slices[0].status == "complete" and second.slices[0].applied


def test_drop_then_rows_again_replaces_as_usual(tmp_path: Path) -> None:
    """A glitch (none, then rows again) never empties the slice."""
    pipe = duckdb_pipeline(tmp_path, "glitch")
    _fake_run(pipe, {("a1", D1): [("a", 1.0)]})
    _fake_run(pipe, {})
    assert _current(pipe) == [(D1, "a", 1.0)]
    _fake_run(pipe, {("a1", D1): [("a", 1.25)]})
    assert _current(pipe) == [(D1, "a", 1.25)]


# -- long waits are deferrals ---------------------------------------------------------------

OK: Reply = (200, {}, {"ok": True})
QUOTA: Reply = (429, {"Retry-After": str(LONG_WAIT)}, {"error": "quota"})
DATES = [AT.date() - timedelta(days=i) for i in range(4, -1, -1)]  # lookback_days=3: five one-day windows


def _http_run(server: FakeServer, pipe: Any, workers: int, **load: Any) -> tuple[FakeConnector, LoadSummary]:
    conn = FakeConnector(
        base_url=server.url, requests_per_second=0, max_concurrency=workers, retry=RetryPolicy()
    )
    conn.via_http = True
    conn.data = {("a1", d): [(f"i{n}", float(n))] for n, d in enumerate(DATES)}
    return conn, conn.load(pipe, mode="lookback", logical_time=AT, **load)


@pytest.mark.timeout(60)
def test_long_quota_wait_ends_the_pull_at_once_as_a_deferral(server: FakeServer, tmp_path: Path) -> None:
    """A 429 asking for 17941 s: the run returns in seconds (no sleeping), does not raise, applies
    the windows fetched before, and records the rest as deferred until logical time + 17941 s."""
    pipe = duckdb_pipeline(tmp_path, "defer")
    server.script(OK)
    _http_run(server, pipe, 1)
    loaded = _current(pipe)
    assert len(loaded) == 5

    server.script(OK, OK, QUOTA)
    t0 = time.monotonic()
    _, summary = _http_run(server, pipe, 1)
    assert time.monotonic() - t0 < 15.0  # the dlt load included; one slept wait would be 300 s
    resume = AT + timedelta(seconds=LONG_WAIT)
    assert summary.resume_after == resume
    assert [(s.report_date, s.status) for s in summary.slices] == [
        (d, "complete" if i < 2 else "deferred") for i, d in enumerate(DATES)
    ]
    assert {s.resume_after for s in summary.slices if s.status == "deferred"} == {resume}
    assert f"deferred, resume after {resume.isoformat()}" in summary.one_line()
    assert "\n" not in summary.one_line() and str(LONG_WAIT) in (summary.deferral or "")
    assert _current(pipe) == loaded  # deferred slices keep their rows; the others were re-pulled
    log = read_rows(pipe, "fake_ads__slices", ["report_date", "status", "applied"])
    assert sorted(x for x in log if x[1] == "deferred") == [(d, "deferred", False) for d in DATES[2:]]


@pytest.mark.timeout(60)
def test_deferral_stops_the_requests_in_flight(server: FakeServer) -> None:
    """Three workers, every answer a long quota wait: the pull returns at once (< 5 s), with no
    retries and no more requests than workers; every window comes back deferred."""
    server.script(QUOTA)
    server.delay = 0.05
    conn = FakeConnector(base_url=server.url, requests_per_second=0, max_concurrency=3, retry=RetryPolicy())
    conn.via_http = True
    t0 = time.monotonic()
    _, results, _ = conn.extract("lookback", AT)
    assert time.monotonic() - t0 < 5.0
    assert [r.status for r in results] == ["deferred"] * 5
    assert {r.deferred_for for r in results} == {LONG_WAIT}
    assert len(server.seen) <= 3 and conn.stats.retries == 0


def test_session_defers_instead_of_sleeping(server: FakeServer) -> None:
    """The session itself: a wait beyond ``max_wait_seconds`` raises PullDeferred with the wait, unslept."""
    server.script(QUOTA, OK)
    slept: list[float] = []
    s = ApiSession("p", HTTP_ONLY.resolve, RetryPolicy(), sleep=slept.append, max_wait_seconds=300)
    with pytest.raises(PullDeferred) as err:
        s.get(server.url + "/x")
    assert err.value.delay_seconds == LONG_WAIT and slept == [] and len(server.seen) == 1
    assert "\n" not in str(err.value) and str(LONG_WAIT) in str(err.value)
    server.script((429, {"Retry-After": "300"}, {}), OK)  # at the limit: waited, not deferred
    assert s.get(server.url + "/x").json() == {"ok": True} and slept == [pytest.approx(300.0)]


@pytest.mark.timeout(60)
def test_deferred_slices_are_reopened_by_a_later_run(server: FakeServer, tmp_path: Path) -> None:
    """The slices a deferral left open are listed by the log and pulled by the run they are passed to."""
    pipe = duckdb_pipeline(tmp_path, "reopen")
    server.script(QUOTA)
    _, summary = _http_run(server, pipe, 2)
    conn = FakeConnector()
    open_ = [(s.account_id, s.report_date) for s in conn.open_slices(pipe)]
    assert open_ == [(s.account_id, s.report_date) for s in summary.slices] and len(open_) == 5

    later = AT + timedelta(days=1)  # an hourly run pulls only its two days, plus the reopened ones
    conn.data = {("a1", d): [("x", 1.0)] for d in DATES}
    after = conn.load(pipe, mode="hourly", logical_time=later, reopen=open_)
    pulled = sorted(d for _, w in conn.windows for d in w.dates())
    assert set(DATES) <= set(pulled) and later.date() in pulled
    assert {s.status for s in after.slices} == {"complete"} and conn.open_slices(pipe) == []


def test_reopen_adds_slices_to_the_plan() -> None:
    """``reopen`` dates join the mode's dates (once each); other accounts' dates are left out."""
    conn = FakeConnector()
    old = date(2026, 9, 1)
    conn.extract("hourly", AT, reopen=[("a1", old), ("a1", AT.date()), ("gone", old)])
    assert sorted(d for _, w in conn.windows for d in w.dates()) == [
        old,
        AT.date() - timedelta(days=1),
        AT.date(),
    ]


class ListingConnector(FakeConnector):
    """Lists its accounts over HTTP (as most platforms do) before pulling."""

    def list_accounts(self) -> list[Account]:
        """One GET, then the configured accounts."""
        self.get_json(None, "/accounts")
        return list(self.accounts)


@pytest.mark.timeout(60)
def test_deferral_while_listing_accounts_is_a_deferral_too(server: FakeServer, tmp_path: Path) -> None:
    """Even the account list asking for hours: no exception, the reopened slices stay deferred."""
    server.script(QUOTA)
    conn = ListingConnector(base_url=server.url, requests_per_second=0, retry=RetryPolicy())
    summary = conn.load(
        duckdb_pipeline(tmp_path, "list"), mode="hourly", logical_time=AT, reopen=[("a1", D1)]
    )
    assert summary.resume_after == AT + timedelta(seconds=LONG_WAIT) and summary.accounts == 0
    assert [(s.report_date, s.status) for s in summary.slices] == [(D1, "deferred")]
    assert conn.open_slices(duckdb_pipeline(tmp_path, "list"))[0].report_date == D1
