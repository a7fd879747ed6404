"""``audit.pipeline_runs``: one row per flow run, written at start and completed at the end."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from roi.core import __version__
from roi.core.redact import one_line_error
from roi.core.warehouse import Warehouse, get_warehouse, table_exists

# The statuses of ``audit.pipeline_runs.status``: every reader names them through these.
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"


def _now() -> datetime:
    # Audit timestamps are wall-clock by design: they record when the run happened, not
    # which data it took (that is the window, the run's logical time).
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class PipelineRun:
    """A run being recorded; steps add their row counts with :meth:`count`."""

    run_id: str
    flow_name: str
    window_start: datetime | None
    window_end: datetime | None
    row_counts: dict[str, int] = field(default_factory=dict)

    def count(self, step: str, rows: int) -> None:
        """Add ``rows`` to the row count of ``step``."""
        self.row_counts[step] = self.row_counts.get(step, 0) + int(rows)


def _naive_utc(ts: datetime | None) -> datetime | None:
    if ts is None or ts.tzinfo is None:
        return ts
    return ts.astimezone(UTC).replace(tzinfo=None)


@contextmanager
def record_run(
    flow_name: str,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    run_id: str | None = None,
    warehouse: Warehouse | None = None,
) -> Iterator[PipelineRun]:
    """Record a pipeline run: a ``running`` row now, ``succeeded``/``failed`` with counts at exit."""
    wh = warehouse or get_warehouse()
    run = PipelineRun(
        run_id=run_id or str(uuid.uuid4()),
        flow_name=flow_name,
        window_start=_naive_utc(window_start),
        window_end=_naive_utc(window_end),
    )
    _execute(
        wh,
        "insert into audit.pipeline_runs (run_id, flow_name, window_start, window_end, status, "
        "started_at, code_version) values (?, ?, ?, ?, ?, ?, ?)",
        (run.run_id, flow_name, run.window_start, run.window_end, RUNNING, _now(), __version__),
    )
    try:
        yield run
    except BaseException as exc:
        # One line, no response body, no secret: dlt's errors embed whole API responses.
        _finish(wh, run, FAILED, one_line_error(exc))
        raise
    _finish(wh, run, SUCCEEDED, None)


def _finish(wh: Warehouse, run: PipelineRun, status: str, error: str | None) -> None:
    _execute(
        wh,
        "update audit.pipeline_runs set status = ?, finished_at = ?, row_counts = ?, error = ? "
        "where run_id = ?",
        (status, _now(), json.dumps(run.row_counts, sort_keys=True), error, run.run_id),
    )


def _execute(wh: Warehouse, sql: str, params: tuple[Any, ...]) -> None:
    # Its own short turn on the warehouse: a run's row is written at its start and its end,
    # and the run's steps take their own turns in between.
    with wh.session("run audit"):
        cur = wh.connection().cursor()
        try:
            cur.execute(sql, params)
        finally:
            cur.close()


def last_succeeded_window_end(warehouse: Warehouse | None = None) -> datetime | None:
    """The latest window end of a succeeded run (naive UTC): the logical now of the data, or None.

    None when no run with a window has succeeded (or the audit table does not exist yet).
    """
    wh = warehouse or get_warehouse()
    with wh.session("last succeeded run"):
        cur = wh.connection().cursor()
        try:
            if not table_exists(cur, "audit", "pipeline_runs"):
                return None
            row = cur.execute(
                "select max(window_end) from audit.pipeline_runs where status = ? and window_end is not null",
                (SUCCEEDED,),
            ).fetchone()
        finally:
            cur.close()
    value = row[0] if row else None
    return _naive_utc(value) if isinstance(value, datetime) else None
