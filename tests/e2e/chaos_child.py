"""Helpers of the chaos matrix (``test_chaos.py``): a child process that runs the hourly flow (and can die).

Run as ``python -m tests.e2e.chaos_child --start ISO --end ISO --marker FILE
[--kill-at PIPELINE | --kill-after TASK[:SOURCE]]``, with ``ROI_*`` and ``PREFECT_API_URL`` in
the environment. With ``--kill-at``, the process SIGKILLs itself inside dlt's ``Pipeline.load``
of that pipeline while a normalized load package is still pending on disk: the crash a power
cut or an OOM kill gives, in the middle of a task. With ``--kill-after``, it SIGKILLs itself the
moment that task of the hourly flow returned (``load_ads:meta_ads`` names one ad source): a
crash at a task boundary, its work done and nothing after it. Everything is patched in this
process only; production code carries no test hook.

The marker file (JSON) tells the parent what happened: the pending load ids at the moment
of the kill.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

from roi.core.telemetry import disable_telemetry
from tests.e2e.hashes import base_tables, has_column, table_hash


def fast_retries() -> None:
    """Connectors retry with the same logic but without real sleeping (``FAST_RETRY``)."""
    import connector_sdk.base as base
    from connector_sdk.http import FAST_RETRY

    base.RetryPolicy = lambda: FAST_RETRY  # type: ignore[assignment,misc]


def _write(marker: Path, state: dict[str, Any]) -> None:
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(marker)


def _arm_kill(pipeline_name: str, marker: Path, state: dict[str, Any]) -> None:
    """SIGKILL this process when ``pipeline_name`` starts loading a normalized package."""
    from dlt.pipeline.pipeline import Pipeline

    load = Pipeline.load

    def killing_load(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.pipeline_name == pipeline_name:
            pending = list(self.list_normalized_load_packages())
            if pending:
                state["killed_with_pending"] = pending
                state["pipeline"] = pipeline_name
                _write(marker, state)
                os.kill(os.getpid(), signal.SIGKILL)
        return load(self, *args, **kwargs)

    Pipeline.load = killing_load  # type: ignore[method-assign]


def _arm_kill_after(boundary: str, marker: Path, state: dict[str, Any]) -> None:
    """SIGKILL this process as soon as the hourly flow's task ``boundary`` has returned."""
    import flows.pipeline as pipeline

    name, _, source = boundary.partition(":")
    task = getattr(pipeline, name)

    def then_die(*args: Any, **kwargs: Any) -> Any:
        result = task(*args, **kwargs)
        if not source or (args and args[0] == source):
            state["killed_after"] = boundary
            _write(marker, state)
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(pipeline, name, then_die)


def main() -> None:
    """Run one hourly window (see the module docstring)."""
    disable_telemetry()  # before this process imports Prefect, which reads its settings once
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--marker", required=True, type=Path)
    parser.add_argument("--kill-at", default=None)
    parser.add_argument("--kill-after", default=None)
    args = parser.parse_args()
    state: dict[str, Any] = {"killed_with_pending": None, "pipeline": None, "killed_after": None}
    _write(args.marker, state)
    fast_retries()
    if args.kill_at:
        _arm_kill(args.kill_at, args.marker, state)
    if args.kill_after:
        _arm_kill_after(args.kill_after, args.marker, state)
    from flows.pipeline import hourly_incremental

    run_id = hourly_incremental(
        window_start=datetime.fromisoformat(args.start), window_end=datetime.fromisoformat(args.end)
    )
    state["run_id"] = run_id
    _write(args.marker, state)


# Columns that name a pull, a load or a place rather than data: left out when comparing raw tables.
RAW_RUN_COLUMNS = (
    "_dlt_load_id",
    "_load_id",
    "_extracted_at",
    "_dlt_valid_from",
    "_dlt_valid_to",
    "_dlt_id",
    "pulled_at",
    "file_url",
)


def current_raw_hashes(con: Any, schema: str) -> dict[str, tuple[int, str]]:
    """Row count and sorted-row hash of each *current* raw table of ``schema``.

    Current: the tables that hold the latest state (not ``*_history`` nor ``*__slices``, which
    log every pull, nor dlt's ``_dlt_*`` bookkeeping); scd2 entity tables by their open versions.
    """
    tables = base_tables(
        con,
        schema,
        "and table_name not like '\\_dlt%' escape '\\' and table_name not like '%history' "
        "and table_name not like '%\\_\\_slices' escape '\\'",
    )
    return {
        t: table_hash(
            con,
            schema,
            t,
            RAW_RUN_COLUMNS,
            "where _dlt_valid_to is null" if has_column(con, schema, t, "_dlt_valid_to") else "",
        )
        for t in tables
    }


if __name__ == "__main__":
    main()
