"""`roi checks` measures freshness against the recorded runs' logical time, never the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from roi.core.errors import UserInputError


def _record(flow: str, end: datetime, fail: bool = False) -> None:
    from roi.core.runs import record_run

    if fail:
        with pytest.raises(RuntimeError), record_run(flow, end.replace(hour=0), end):
            raise RuntimeError("boom")
        return
    with record_run(flow, end.replace(hour=0), end):
        pass


def test_logical_now_is_the_last_succeeded_runs_window_end(fresh_warehouse: Path) -> None:
    """The status runs record ('succeeded') is the one the checks read: the window end, not now."""
    from flows.checks import _logical_now
    from roi.core.warehouse import get_warehouse

    get_warehouse().bootstrap()
    _record("hourly_incremental", datetime(2024, 11, 5, 6, tzinfo=UTC))
    _record("hourly_incremental", datetime(2024, 11, 6, 6, tzinfo=UTC), fail=True)
    assert _logical_now(None) == datetime(2024, 11, 5, 6)


def test_checks_without_a_recorded_run_ask_for_a_window(fresh_warehouse: Path) -> None:
    """No succeeded run and no window: a one-line error asking for one, not the wall clock."""
    from flows.checks import _logical_now
    from roi.core.warehouse import get_warehouse

    get_warehouse().bootstrap()
    _record("hourly_incremental", datetime(2024, 11, 6, 6, tzinfo=UTC), fail=True)
    with pytest.raises(UserInputError, match="--start and --end"):
        _logical_now(None)


def test_an_explicit_end_is_now(fresh_warehouse: Path) -> None:
    from flows.checks import _logical_now

    assert _logical_now(datetime(2024, 11, 5, 7, tzinfo=UTC)) == datetime(2024, 11, 5, 7)
