"""A connector's further report (``extra_reports``, Meta's daily conversions) lands beside the main one
with the same slice semantics: replaced per (account, date), emptied when the slice comes back empty,
kept in its own history, and restored when a run died between the load and the copy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from connector_sdk import extract, land
from connector_sdk.specs import Account, Field, ReportSpec
from connector_sdk.testing import count_rows, duckdb_pipeline, read_rows
from connector_sdk.windows import DateWindow
from tests.connectors.fakes import FakeConnector

D1, D2 = date(2026, 10, 23), date(2026, 10, 24)
AT = datetime(2026, 10, 24, 12, tzinfo=UTC)

DAILY = ReportSpec(
    table="items_daily",
    fields=(
        Field("account_id"),
        Field("item_id", "item_id"),
        Field("report_date", type=pa.date32()),
        Field("conversions", "conversions", type=pa.float64()),
    ),
    grain=("account_id", "item_id", "report_date"),
    spend_column="conversions",
)


class TwoReports(FakeConnector):
    """The fake connector with a second report fed from ``daily``."""

    extra_reports = (DAILY,)
    daily: ClassVar[dict[tuple[str, date], list[tuple[str, float]]]] = {}

    def fetch_extra_report(
        self, report: ReportSpec, account: Account, window: DateWindow
    ) -> Iterator[pa.Table]:
        """Rows of ``daily`` per date of the window."""
        for d in window.dates():
            rows = [{"item_id": i, "conversions": c} for i, c in self.daily.get((account.account_id, d), [])]
            if rows:
                yield extract.report_page(report, rows, extract.page_values(account, report_date=d))


def _run(pipe: Any, main: dict[Any, Any], daily: dict[Any, Any]) -> TwoReports:
    conn = TwoReports(lookback_days=1)
    conn.data, conn.daily = main, daily
    conn.load(pipe, mode="lookback", logical_time=AT)
    return conn


def _daily(pipe: Any) -> list[tuple[Any, ...]]:
    return read_rows(pipe, "fake_ads__items_daily", ["report_date", "item_id", "conversions"])


def test_extra_report_is_replaced_by_slice_like_the_main_one(tmp_path: Path) -> None:
    """Pull 2 changes D1 and returns nothing for D2: the daily table follows, its history keeps both."""
    pipe = duckdb_pipeline(tmp_path, "x")
    conn = _run(pipe, {("a1", D1): [("x", 1.0)]}, {("a1", D1): [("x", 2.0)], ("a1", D2): [("y", 5.0)]})
    assert _daily(pipe) == [(D1, "x", 2.0), (D2, "y", 5.0)]
    assert conn.table_names["items_daily"] == "fake_ads__items_daily"

    _run(pipe, {("a1", D1): [("x", 1.0)]}, {("a1", D1): [("x", 3.0)]})
    assert _daily(pipe) == [(D1, "x", 3.0)]  # D2 emptied: its slice was pulled and came back empty
    assert count_rows(pipe, "fake_ads__items_daily_history") == 3
    assert read_rows(pipe, "fake_ads__items", ["report_date", "item_id"]) == [(D1, "x")]
    keys = read_rows(pipe, "fake_ads__items_daily", ["_row_key", "_load_id", "_dlt_load_id"])
    assert all(k and load == dlt_load for k, load, dlt_load in keys)


def test_extra_report_is_restored_after_a_run_killed_before_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that died between dlt's load and the copy into the current tables is finished by the next."""
    pipe = duckdb_pipeline(tmp_path, "r")
    with monkeypatch.context() as m:
        m.setattr(land, "fill_current", lambda *a, **k: None)  # the copy never happens
        _run(pipe, {("a1", D1): [("x", 1.0)]}, {("a1", D1): [("x", 2.0)]})
    assert _daily(pipe) == []
    TwoReports().restore_current(pipe)
    assert _daily(pipe) == [(D1, "x", 2.0)]
    assert read_rows(pipe, "fake_ads__items", ["report_date", "item_id"]) == [(D1, "x")]
