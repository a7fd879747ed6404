"""Bootstrap flow: create the warehouse schemas and audit tables, and record the run."""

from __future__ import annotations

from prefect import flow, task

from flows.common import TASK_RETRY
from flows.locks import holds_warehouse
from roi.core.runs import record_run
from roi.core.warehouse import SCHEMAS, get_warehouse


@task(**TASK_RETRY, timeout_seconds=120)
@holds_warehouse
def bootstrap_warehouse_task() -> int:
    """Create schemas and audit tables if missing; returns the number of schemas ensured."""
    get_warehouse().bootstrap()
    return len(SCHEMAS)


@flow(name="bootstrap_warehouse", log_prints=True)
def bootstrap_warehouse() -> str:
    """Bootstrap the warehouse (idempotent) and record it in ``audit.pipeline_runs``."""
    bootstrap_warehouse_task()
    with record_run("bootstrap_warehouse") as run:
        run.count("schemas", len(SCHEMAS))
    return run.run_id
