"""Embedded mode: every flow on its schedule, served by one Prefect runner (``roi serve``).

Prefect's runner starts each flow run in a process of its own, so ops (every 5 minutes), hourly
(:05) and a backfill started by hand run side by side. They share the one DuckDB file by taking
turns step by step (``flows/locks.py``, ``roi.core.turns``); this process itself holds the file
only while bootstrapping it. Scheduling needs a real Prefect API: ``roi serve`` starts one when
none is configured (``flows/prefect_api.py``). The schedules match ``prefect.yaml`` (UTC cron).

For tests and demos, ``ROI_SERVE_EVERY_SECONDS`` replaces every cron by one interval, from one
start shared by all flows (so they are due together), and ``ROI_SERVE_TICKS`` stops each
schedule after that many runs.
"""

from __future__ import annotations

import math
import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import serve
from prefect.schedules import Interval

from flows.bootstrap import bootstrap_warehouse
from flows.close import close_daily
from flows.erasure import erasure
from flows.ops import ops_refresh
from flows.pipeline import backfill, hourly_incremental, restatement_lookback
from flows.retention import retention
from roi.core.settings import get_settings

# name -> (flow, cron or None for unscheduled)
SCHEDULES: dict[str, tuple[Any, str | None]] = {
    "hourly-incremental": (hourly_incremental, "5 * * * *"),
    "restatement-lookback": (restatement_lookback, "0 4 * * *"),
    "close-daily": (close_daily, "0 5 * * *"),
    "ops-refresh": (ops_refresh, "*/5 * * * *"),
    "erasure": (erasure, "35 * * * *"),
    "retention": (retention, "15 3 * * *"),
    "backfill": (backfill, None),
    "bootstrap-warehouse": (bootstrap_warehouse, None),
}
# The first sped-up tick comes this long after start: the deployments must be registered and
# the scheduler must have seen them first (it never creates runs in the past).
FIRST_TICK_LEAD = timedelta(seconds=10)


def sped_up_schedule(every_seconds: int, ticks: int | None, now: datetime) -> dict[str, Any]:
    """``to_deployment`` arguments for a schedule every ``every_seconds`` (``ticks`` runs, or forever).

    Every flow gets the same start (the whole second ``FIRST_TICK_LEAD`` after ``now``), so the
    flows are due at the same instants.
    """
    start = datetime.fromtimestamp(math.ceil((now.astimezone(UTC) + FIRST_TICK_LEAD).timestamp()), UTC)
    if ticks is None:
        return {"schedule": Interval(timedelta(seconds=every_seconds), anchor_date=start, timezone="UTC")}
    rrule = f"DTSTART:{start:%Y%m%dT%H%M%SZ}\nRRULE:FREQ=SECONDLY;INTERVAL={every_seconds};COUNT={ticks}"
    return {"rrule": rrule}


def deployments(now: datetime | None = None) -> list[Any]:
    """The deployments ``roi serve`` runs, one per flow.

    No deployment concurrency limit: runs that overlap (a tick while the last run still works)
    take turns step by step like any two runs.
    """
    settings = get_settings()
    out = []
    for name, (flow_obj, cron) in SCHEDULES.items():
        kwargs: dict[str, Any] = {"name": name, "tags": ["roi", "embedded"]}
        if cron is not None:
            if settings.serve_every_seconds:
                kwargs.update(
                    sped_up_schedule(
                        settings.serve_every_seconds, settings.serve_ticks, now or datetime.now(UTC)
                    )
                )
            else:
                kwargs["cron"] = cron
        out.append(flow_obj.to_deployment(**kwargs))
    return out


def _stop_gracefully(signum: int, frame: Any) -> None:
    """Ctrl-C: stop as on SIGTERM (Prefect's runner cancels its runs and stops); a second Ctrl-C stops at once."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.kill(os.getpid(), signal.SIGTERM)


def serve_all() -> None:
    """Serve every deployment until interrupted (Ctrl-C or SIGTERM); needs a Prefect API with a scheduler.

    Prefect's runner shuts down cleanly on SIGTERM only: a Ctrl-C inside its event loop leaves
    it waiting, so Ctrl-C is turned into SIGTERM.
    """
    signal.signal(signal.SIGINT, _stop_gracefully)
    try:
        serve(*deployments())
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
