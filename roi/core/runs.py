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
from roi.core.warehouse import Warehouse, get_warehouse


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
        "started_at, code_version) values (?, ?, ?, ?, 'running', ?, ?)",
        (run.run_id, flow_name, run.window_start, run.window_end, _now(), __version__),
    )
    try:
        yield run
    except BaseException as exc:
        _finish(wh, run, "failed", f"{type(exc).__name__}: {exc}"[:2000])
        raise
    _finish(wh, run, "succeeded", None)


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
