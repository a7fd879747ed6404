"""Synthetic rows for the monitoring tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 20, 12, 0)


def run_row(
    flow: str,
    end: datetime,
    status: str = "succeeded",
    counts: dict[str, int] | None = None,
    error: str | None = None,
) -> tuple[Any, ...]:
    """One audit.pipeline_runs row: an hour's window ending at ``end``, finished a few minutes after."""
    return (
        f"{flow}-{end:%Y%m%d%H%M}",
        flow,
        end - timedelta(hours=1),
        end,
        status,
        end + timedelta(minutes=5),
        end + timedelta(minutes=15),
        json.dumps(counts or {}),
        "test",
        error,
    )


def add_runs(wh: Any, rows: list[tuple[Any, ...]]) -> None:
    wh.many("insert into audit.pipeline_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def add_slices(wh: Any, platform: str, status: str, logical: datetime, detail: str | None = None) -> None:
    wh.execute(
        "insert into audit.pull_slices (platform, account_id, report_date, status, logical_time, recorded_at, detail) "
        "values (?, 'acc1', ?, ?, ?, ?, ?)",
        [platform, logical.date(), status, logical, logical, detail],
    )


def add_files(
    wh: Any, start: datetime, end: datetime, every_minutes: int = 2, folder: str = "events"
) -> None:
    rows = []
    ts = start
    while ts <= end:
        rows.append((f"{folder}/dt={ts.date()}/{ts:%H%M}.jsonl", ts, 100))
        ts += timedelta(minutes=every_minutes)
    wh.many("insert into raw_events.landing_manifest values (?, ?, ?)", rows)
