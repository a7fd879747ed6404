"""A light ``flows.tasks`` for the serve test (loaded in its place by ``sitecustomize.py``).

The same names as ``flows/tasks.py``; each step holds the warehouse through the real
``holds_warehouse``, as the real tasks do, but only sleeps ``SERVE_STEP_SECONDS`` and records
itself in ``audit.serve_steps`` (pid, flow run, step, start, end), so the test sees the turns.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime
from typing import Any

from prefect import task
from prefect.runtime import flow_run

from flows.locks import holds_warehouse
from roi.core.warehouse import get_warehouse

STEP = float(os.environ.get("SERVE_STEP_SECONDS", "0.3"))


def _step(name: str) -> None:
    """Write as a real step would: the turn is held (the caller's), the file open for writing."""
    t0 = time.time()
    time.sleep(STEP)
    cur = get_warehouse().connection().cursor()
    try:
        cur.execute(
            "create table if not exists audit.serve_steps "
            "(pid integer, flow_run varchar, step varchar, t0 double, t1 double)"
        )
        cur.execute(
            "insert into audit.serve_steps values (?, ?, ?, ?, ?)",
            [os.getpid(), str(flow_run.name or ""), name, t0, time.time()],
        )
    finally:
        cur.close()


@task
@holds_warehouse
def load_ads(platform: str, mode: str, logical_time: datetime, **_: Any) -> dict[str, Any]:
    _step(f"ads-{platform}-{mode}")
    return {"rows": 0, "first_report_date": None}


@task
@holds_warehouse
def load_events() -> dict[str, Any]:
    _step("events")
    return {"loaded": 0, "load_ids": []}


@task
@holds_warehouse
def build_facts(start: date, end: date, event_load_ids: list[str] | None = None) -> int:
    _step("facts")
    cur = get_warehouse().connection().cursor()
    try:
        cur.execute("create table if not exists analytics.fact_signups (signup_id varchar, signup_date date)")
        cur.execute("create table if not exists analytics.int_signup_users__affected (user_id varchar)")
    finally:
        cur.close()
    return 1


@task
@holds_warehouse
def attribute(start: date, end: date) -> dict[str, Any]:
    _step("attribution")
    return {"rows_out": 0}


@task
@holds_warehouse
def build_mart(start: date, end: date) -> int:
    _step("mart")
    return 1


@task
@holds_warehouse
def publish_mart(start: date, end: date) -> int:
    _step("publish mart")
    return 1


@task
@holds_warehouse
def run_checks(window_start: datetime, window_end: datetime) -> int:
    _step("checks")
    return 0


@task
def publish_roi_artifact(report_date: date) -> int:
    return 0


ATTRIBUTION_TRAILING_DAYS = 4


def ad_sources() -> list[str]:
    return ["fx_rates", "google_ads"]
