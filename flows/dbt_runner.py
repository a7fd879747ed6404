"""Run the dbt project in ``sql_models/`` from Python (dbt's programmatic runner).

The profile is written from ``roi.core.warehouse.get_warehouse().dbt_profile()`` into
``<warehouse dir>/dbt/profiles.yml`` at every call, never edited by hand; dbt's target and log
folders live beside it so the source tree stays clean and concurrent checkouts do not collide.
DuckDB allows one process to open the file: dbt-duckdb opens the same file in this process, which
DuckDB maps to the warehouse's instance, closes it after each invocation (so the file closes when
the warehouse turn ends), and a lock keeps dbt to one invocation at a time.

Windows: every incremental model reads ``start_date`` / ``end_date`` (half-open, UTC dates) and
``lookback_days`` from dbt vars; :func:`window_vars` turns a run's [start, end) timestamps into
them. Without a window the incremental models re-derive every date (equal to a full refresh).
The pipeline order is :func:`build_facts` -> attribution engine -> :func:`stage_mart` (the
candidate ``mart_marketing_roi_daily__staged`` and its tests) -> Soda checks ->
:func:`publish_mart` (the window's rows into ``mart_marketing_roi_daily``, one transaction);
:func:`build_mart` is stage + publish without the Soda checks (tests, full rebuilds).

Definitions: every invocation passes vars ``spend_definition_version`` and
``signup_definition_version``, the published versions (``ROI_PUBLISHED_SPEND_DEFINITION``,
``ROI_PUBLISHED_SIGNUP_DEFINITION``) unless the caller passes others: the pipeline builds what is
published, and a v2 is built beside it by passing the var (docs/definitions.md).

Platforms: every invocation passes var ``ad_platforms`` (:func:`ad_platforms`, from the connector
registry); the models union their platforms' staging models over it and the tests accept
exactly it, so a newly registered ad connector needs only its own staging models.

dbt unit tests (``unit_tests:`` in the models' yml, given rows -> expected rows) are left out of
the pipeline's builds, as dbt advises for production: the test suite runs them
(``dbt test --select test_type:unit``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner

import connectors  # noqa: F401  (importing the package registers every connector)
from connector_sdk.registry import connector_names
from roi.core.errors import RoiError
from roi.core.settings import get_settings
from roi.core.warehouse import get_warehouse

PROJECT_DIR = Path(__file__).resolve().parent.parent / "sql_models"
AFTER_ATTRIBUTION = "tag:after_attribution"
# The mart readers see: written only by publish_mart, from the checked candidate.
PUBLISHED_MART = "tag:published_mart"
# Registered connectors that bring reference data, not an ad platform's spend and campaigns.
REFERENCE_SOURCES = frozenset({"fx_rates"})

_DBT_LOCK = threading.Lock()


class DbtError(RoiError):
    """A dbt invocation failed (a model error or a failing test)."""


@dataclass
class NodeResult:
    """One dbt node's outcome (model, seed or test)."""

    name: str
    resource_type: str
    status: str
    message: str | None
    failures: int | None = None


@dataclass
class DbtRun:
    """The outcome of one dbt invocation."""

    args: list[str]
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)

    @property
    def failed(self) -> list[NodeResult]:
        """Nodes that errored or failed (tests with failing rows included)."""
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]


def ad_platforms() -> list[str]:
    """The ad platforms: every registered connector but the reference data (FX rates), sorted.

    The one platform list of the pipeline (dbt var ``ad_platforms``, the Soda contracts' valid
    platform values): ``roi connector new`` registers a connector, and it is a platform here.
    """
    return [name for name in connector_names() if name not in REFERENCE_SOURCES]


def definition_vars() -> dict[str, str]:
    """The definition versions the pipeline builds: the published ones (settings)."""
    settings = get_settings()
    return {
        "spend_definition_version": settings.published_spend_definition,
        "signup_definition_version": settings.published_signup_definition,
    }


def dbt_dir() -> Path:
    """The folder holding the generated profile, dbt's target/ and logs/ (beside the warehouse)."""
    # ROI_DUCKDB_PATH's folder is the pipeline's working folder (.roi) on both warehouses.
    path = get_warehouse().duckdb_path.parent / "dbt"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_profile(threads: int = 1) -> Path:
    """Write ``profiles.yml`` from the warehouse settings; returns the profiles directory."""
    profile = get_warehouse().dbt_profile(threads=threads)
    for output in profile["streamride_roi"]["outputs"].values():
        if output.get("type") == "duckdb":
            # Timestamps are stored as naive UTC; the session zone makes casts of timestamptz agree.
            output.setdefault("settings", {})["TimeZone"] = "UTC"
    path = dbt_dir()
    target = path / "profiles.yml"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(profile, sort_keys=True))
    tmp.replace(target)
    return path


def window_vars(
    start: datetime | date, end: datetime | date, lookback_days: int | None = None
) -> dict[str, Any]:
    """dbt vars for the half-open run window [start, end): whole UTC dates covering it.

    ``end`` is exclusive: a run ending at midnight does not touch the new day, one ending at
    10:00 includes that day. ``as_of_date`` is the run's logical date (FX completeness rule).
    """
    s = start.date() if isinstance(start, datetime) else start
    if isinstance(end, datetime):
        e = end.date() if end.time() == time(0) else end.date() + timedelta(days=1)
        as_of = (end - timedelta(microseconds=1)).date()
    else:
        e, as_of = end, end - timedelta(days=1)
    if e <= s:
        raise DbtError(f"empty window: end {end} is not after start {start}")
    out: dict[str, Any] = {
        "start_date": s.isoformat(),
        "end_date": e.isoformat(),
        "as_of_date": as_of.isoformat(),
    }
    if lookback_days is not None:
        out["lookback_days"] = int(lookback_days)
    return out


def _release_duckdb() -> None:
    """Close dbt-duckdb's connection after an invocation (a no-op on Snowflake).

    dbt-duckdb keeps one connection per process open between invocations (its ``keep_open``,
    on by default), and with it the database file: the file must close when the warehouse turn
    ends (``roi.core.warehouse``). Turning ``keep_open`` off instead makes it reconnect for every
    node, which doubled a facts build here.
    """
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
        DuckDBConnectionManager.close_all_connections()


def run_dbt(args: list[str], dbt_vars: dict[str, Any] | None = None, raise_on_failure: bool = True) -> DbtRun:
    """Invoke dbt (``args`` such as ``["build", "--select", "staging"]``) on our project.

    ``dbt_vars`` add to (or override) the vars every invocation passes: ``ad_platforms`` and
    the published definition versions (:func:`definition_vars`).
    Raises :class:`DbtError` (one line naming the failing nodes) unless ``raise_on_failure`` is
    false. Only one dbt invocation runs at a time in a process.
    """
    base = dbt_dir()
    folders = {
        "--project-dir": PROJECT_DIR,
        "--profiles-dir": write_profile(),
        "--target-path": base / "target",
        "--log-path": base / "logs",
    }
    all_vars = {"ad_platforms": ad_platforms(), **definition_vars(), **(dbt_vars or {})}
    full = [*args, *(part for flag, path in folders.items() for part in (flag, str(path))), "--quiet"]
    full += ["--vars", json.dumps(all_vars, sort_keys=True)]
    with _DBT_LOCK:
        try:
            res = dbtRunner().invoke(full)
        finally:
            _release_duckdb()
    run = DbtRun(args=list(args), success=bool(res.success))
    results = getattr(res.result, "results", None) or []
    for r in results:
        node = getattr(r, "node", None)
        run.nodes.append(
            NodeResult(
                name=getattr(node, "name", "?"),
                resource_type=str(getattr(node, "resource_type", "?")),
                status=str(getattr(r, "status", "?")),
                message=getattr(r, "message", None),
                failures=getattr(r, "failures", None),
            )
        )
    if res.exception is not None and raise_on_failure:
        first = (
            str(res.exception).strip().splitlines()[0]
            if str(res.exception).strip()
            else type(res.exception).__name__
        )
        raise DbtError(f"dbt {args[0]} failed: {first}")
    if not run.success and raise_on_failure:
        names = ", ".join(f"{n.name} ({n.status})" for n in run.failed[:6]) or "see .roi/dbt/logs/dbt.log"
        raise DbtError(f"dbt {args[0]} failed: {names}")
    return run


def seed(full_refresh: bool = False) -> DbtRun:
    """Load the seeds (utm_source mapping, FX holidays)."""
    return run_dbt(["seed", *(["--full-refresh"] if full_refresh else [])])


def build_facts(
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    full_refresh: bool = False,
    lookback_days: int | None = None,
    event_load_ids: list[str] | None = None,
    dbt_vars: dict[str, Any] | None = None,
) -> DbtRun:
    """Seeds, staging, intermediate, facts and dim_campaign with their tests (everything before attribution).

    With ``start``/``end`` the incremental facts replace only [start - lookback, end); with
    ``full_refresh`` every model is rebuilt from scratch. ``event_load_ids`` (the event loads
    not yet folded into the facts) narrows the touches re-derived to the identifiers in them.
    ``dbt_vars`` add vars, such as a definition version to build beside the published one.
    """
    window = window_vars(start, end, lookback_days) if start is not None and end is not None else {}
    dbt_vars = {**window, **(dbt_vars or {})}
    if event_load_ids is not None:
        dbt_vars["event_load_ids"] = sorted(event_load_ids)
    args = ["build", "--exclude", AFTER_ATTRIBUTION, "--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    return run_dbt(args, dbt_vars)


def stage_mart(
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    full_refresh: bool = False,
    lookback_days: int | None = None,
    dbt_vars: dict[str, Any] | None = None,
) -> DbtRun:
    """The candidate ``mart_marketing_roi_daily__staged`` for [start, end) and its tests (identities).

    Runs after attribution wrote ``fact_attribution``; readers see none of it until :func:`publish_mart`.
    """
    window = window_vars(start, end, lookback_days) if start is not None and end is not None else {}
    args = ["build", "--select", AFTER_ATTRIBUTION, "--exclude", PUBLISHED_MART]
    args += ["--exclude-resource-type", "unit_test", *(["--full-refresh"] if full_refresh else [])]
    return run_dbt(args, {**window, **(dbt_vars or {})})


def publish_mart(
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    full_refresh: bool = False,
    lookback_days: int | None = None,
    dbt_vars: dict[str, Any] | None = None,
) -> DbtRun:
    """Replace the window's rows of ``mart_marketing_roi_daily`` by the checked candidate's.

    The same window (and lookback) as the :func:`stage_mart` it publishes. One dbt incremental
    model: the window's delete (pre-hook) and the insert commit together, so readers see the
    old rows or the new ones. Without a window every date is copied.
    """
    window = window_vars(start, end, lookback_days) if start is not None and end is not None else {}
    args = ["run", "--select", PUBLISHED_MART, *(["--full-refresh"] if full_refresh else [])]
    return run_dbt(args, {**window, **(dbt_vars or {})})


def build_mart(
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    full_refresh: bool = False,
    lookback_days: int | None = None,
) -> DbtRun:
    """:func:`stage_mart` then :func:`publish_mart`, gated by the dbt tests only (not the Soda contracts).

    For tests and rebuilds by hand; the flows check the candidate with Soda before publishing.
    """
    staged = stage_mart(start, end, full_refresh, lookback_days)
    published = publish_mart(start, end, full_refresh, lookback_days)
    return DbtRun(
        args=staged.args, success=staged.success and published.success, nodes=staged.nodes + published.nodes
    )
