"""Slice semantics without a simulator: vanished rows and slices disappear, hourly dates in the
account's zone (across a DST change), and a backfill leaves incremental state alone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from connector_sdk.exceptions import ConnectorError
from connector_sdk.specs import Account
from connector_sdk.testing import duckdb_pipeline, read_rows
from tests.connectors.fakes import FakeConnector

D1, D2, D3 = date(2026, 10, 23), date(2026, 10, 24), date(2026, 10, 25)
AT = datetime(2026, 10, 25, 12, tzinfo=UTC)


def _run(
    pipe: Any,
    data: dict[tuple[str, date], list[tuple[str, float]]],
    mode: str,
    at: datetime,
    start: date | None = None,
    end: date | None = None,
) -> FakeConnector:
    conn = FakeConnector(lookback_days=2)
    conn.data = data
    conn.load(pipe, mode=mode, logical_time=at, start=start, end=end)
    return conn


def _current(pipe: Any) -> list[tuple[Any, ...]]:
    return read_rows(pipe, "fake_ads__items", ["report_date", "item_id", "spend"])


def test_vanished_row_and_vanished_slice_are_removed(tmp_path: Path) -> None:
    """Pull 1 has rows x, y on D1 and z on D2; pull 2 returns only x (changed) on D1 and nothing on D2."""
    pipe = duckdb_pipeline(tmp_path, "v")
    _run(pipe, {("a1", D1): [("x", 1.0), ("y", 2.0)], ("a1", D2): [("z", 3.0)]}, "lookback", AT)
    before = _current(pipe)
    assert before == [(D1, "x", 1.0), (D1, "y", 2.0), (D2, "z", 3.0)]  # both existed

    _run(pipe, {("a1", D1): [("x", 1.5)]}, "lookback", AT)
    # y (vanished row) is gone at once; D2 dropping from 1 row to none waits for a second pull
    assert _current(pipe) == [(D1, "x", 1.5), (D2, "z", 3.0)]
    _run(pipe, {("a1", D1): [("x", 1.5)]}, "lookback", AT)
    assert _current(pipe) == [(D1, "x", 1.5)]  # confirmed: all of D2 (vanished slice) gone
    # every applied pull stays in history, and the slice log records D2's empty pulls
    hist = read_rows(pipe, "fake_ads__items_history", ["report_date", "item_id", "spend"])
    assert hist == sorted([*before, (D1, "x", 1.5), (D1, "x", 1.5)])
    log = read_rows(pipe, "fake_ads__slices", ["report_date", "row_count", "status"])
    d2 = [(n, st) for d, n, st in log if d == D2]
    assert sorted(d2) == [(0, "complete"), (0, "partial"), (1, "complete")]


@pytest.mark.parametrize(
    ("tz", "at", "expected"),
    [
        ("UTC", datetime(2026, 10, 25, 12, tzinfo=UTC), [D2, D3]),
        # Berlin leaves summer time on 2026-10-25: 22:30 UTC is 23:30 CET, still the 25th
        ("Europe/Berlin", datetime(2026, 10, 25, 22, 30, tzinfo=UTC), [D2, D3]),
        # ... and 23:30 UTC is already the 26th there
        ("Europe/Berlin", datetime(2026, 10, 25, 23, 30, tzinfo=UTC), [D3, date(2026, 10, 26)]),
        # Los Angeles is 7 h behind: 05:00 UTC on the 25th is the evening of the 24th
        ("America/Los_Angeles", datetime(2026, 10, 25, 5, tzinfo=UTC), [D1, D2]),
        # Sydney enters summer time on 2026-10-04 (UTC+11): 13:30 UTC on the 3rd is 23:30 on the 3rd
        (
            "Australia/Sydney",
            datetime(2026, 10, 3, 13, 30, tzinfo=UTC),
            [date(2026, 10, 2), date(2026, 10, 3)],
        ),
    ],
)
def test_hourly_pulls_today_and_yesterday_in_account_zone(
    tz: str, at: datetime, expected: list[date]
) -> None:
    """An hourly run requests exactly yesterday and today as the account's clock sees them."""
    conn = FakeConnector()
    conn.accounts = (Account("a1", tz),)
    conn.extract("hourly", at)
    assert sorted(d for _, w in conn.windows for d in w.dates()) == expected


def test_backfill_leaves_incremental_state_untouched(tmp_path: Path) -> None:
    """After an hourly run, a backfill of older dates moves neither dlt state nor the newer slices."""
    pipe = duckdb_pipeline(tmp_path, "b")
    data = {("a1", D2): [("p", 1.0)], ("a1", D3): [("q", 2.0)], ("a1", date(2026, 10, 1)): [("old", 9.0)]}
    _run(pipe, data, "hourly", AT)
    state_before = dict(pipe.state["sources"]["fake_ads"])
    assert state_before["last_logical_time"] == AT.isoformat()
    current_before = _current(pipe)

    later = datetime(2026, 10, 27, tzinfo=UTC)
    conn = _run(pipe, data, "backfill", later, date(2026, 10, 1), date(2026, 10, 2))
    assert sorted(d for _, w in conn.windows for d in w.dates()) == [date(2026, 10, 1), date(2026, 10, 2)]
    assert dict(pipe.state["sources"]["fake_ads"]) == state_before  # incremental state unchanged
    assert _current(pipe) == sorted([*current_before, (date(2026, 10, 1), "old", 9.0)])
    modes = read_rows(pipe, "fake_ads__slices", ["report_date", "mode"])
    assert {m for d, m in modes if d >= D2} == {"hourly"}  # the hourly slices keep their latest pull


def test_key_pulled_twice_keeps_the_last_pull(tmp_path: Path) -> None:
    """Overlapping pages (x twice): the current table keeps x's last value, history keeps both pulls."""
    pipe = duckdb_pipeline(tmp_path, "dup")
    _run(pipe, {("a1", D1): [("x", 1.0), ("y", 2.0), ("x", 1.25)]}, "lookback", AT)
    assert _current(pipe) == [(D1, "x", 1.25), (D1, "y", 2.0)]
    assert len(read_rows(pipe, "fake_ads__items_history", ["item_id"])) == 3
    _run(
        pipe, {("a1", D1): [("y", 2.5)]}, "lookback", AT
    )  # unique keys: the rows are copied in the warehouse
    assert _current(pipe) == [(D1, "y", 2.5)]


def test_run_killed_between_load_and_fill_is_completed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt's load (history, tombstones) committed, the copy into the current table never ran: the
    next run restores that load's rows before it pulls, then replaces them as usual."""

    pipe = duckdb_pipeline(tmp_path, "k")
    _run(pipe, {("a1", D1): [("x", 1.0)], ("a1", D2): [("z", 3.0)]}, "lookback", AT)

    def killed(self: Any, pipeline: Any, load_id: str) -> None:
        raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(FakeConnector, "fill_current", killed)
        with pytest.raises(ConnectorError, match="the next run completes it"):
            _run(pipe, {("a1", D1): [("x", 2.0), ("y", 4.0)], ("a1", D2): [("z", 3.5)]}, "lookback", AT)
    assert _current(pipe) == []  # the slices were emptied, their rows not yet copied
    assert FakeConnector(lookback_days=2).restore_current(pipe) is not None
    assert _current(pipe) == [(D1, "x", 2.0), (D1, "y", 4.0), (D2, "z", 3.5)]
    assert FakeConnector(lookback_days=2).restore_current(pipe) is None  # nothing left to do
    _run(pipe, {("a1", D1): [("x", 5.0)], ("a1", D2): [("z", 3.75)]}, "lookback", AT)
    assert _current(pipe) == [(D1, "x", 5.0), (D2, "z", 3.75)]


def test_tables_without_dlt_load_id_are_filled_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With dlt's normalizer not adding ``_dlt_load_id`` the copy uses the columns the tables have."""
    monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "false")
    pipe = duckdb_pipeline(tmp_path, "nolid")
    _run(pipe, {("a1", D1): [("x", 1.0)]}, "lookback", AT)
    _run(pipe, {("a1", D1): [("x", 2.0), ("y", 3.0)]}, "lookback", AT)
    assert _current(pipe) == [(D1, "x", 2.0), (D1, "y", 3.0)]
