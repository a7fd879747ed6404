"""Embedded mode: every flow on its schedule in one Prefect ``serve`` process.

DuckDB allows one writing process, so in embedded mode the flows must share this process
(and its one database instance); the ``warehouse-writer`` concurrency limit orders their
writes. The schedules match ``prefect.yaml`` (UTC cron).
"""

from __future__ import annotations

from typing import Any

from prefect import serve

from flows.bootstrap import bootstrap_warehouse
from flows.ops import ops_refresh
from flows.pipeline import backfill, hourly_incremental, restatement_lookback

# name -> (flow, cron or None for unscheduled)
SCHEDULES: dict[str, tuple[Any, str | None]] = {
    "hourly-incremental": (hourly_incremental, "5 * * * *"),
    "restatement-lookback": (restatement_lookback, "0 4 * * *"),
    "ops-refresh": (ops_refresh, "*/5 * * * *"),
    "backfill": (backfill, None),
    "bootstrap-warehouse": (bootstrap_warehouse, None),
}


def deployments() -> list[Any]:
    """The deployments ``roi serve`` runs, one per flow."""
    out = []
    for name, (flow_obj, cron) in SCHEDULES.items():
        kwargs: dict[str, Any] = {"name": name, "tags": ["roi", "embedded"]}
        if cron is not None:
            kwargs["cron"] = cron
        out.append(flow_obj.to_deployment(**kwargs))
    return out


def serve_all() -> None:
    """Serve every deployment until interrupted (Ctrl-C)."""
    serve(*deployments())
