"""Retention: raw event-level data older than the retained period is deleted, once a day.

The retained period is ``ROI_RAW_RETENTION_MONTHS`` calendar months (13 by default) back from
the run's logical now (its scheduled time, never the wall clock). Its first day, the *cutoff*,
is now's UTC date minus that many months by the calendar (same day of the month, clamped to the
month's last day: 2026-03-31 minus 13 months is 2025-02-28). Whatever is dated before the cutoff
goes; the cutoff day itself stays. What is deleted, and by which date (docs/privacy.md):

- ``raw_events.events``, ``mmp_touches``, ``skan_postbacks``: ``event_date`` (UTC date of the event);
- ``raw_events.dead_letters``: the ``dt=`` partition of the line's landing file (dead lines may have
  no readable event time; the Kafka sink partitions files by event time);
- ``raw_events.identity_map``: a merge older than the cutoff once no retained event carries the
  merged-away user id (while one does, the edge still resolves it to its canonical user);
- landing files: every ``events/dt=YYYY-MM-DD/`` folder before the cutoff. Their manifest rows stay
  (file keys and line counts, no personal data), so a deleted file put back is not loaded again;
- ``analytics.fact_signups``, ``fact_attribution`` and ``audit.attribution_history`` by
  ``signup_date``; ``analytics.fact_touchpoints`` by ``touch_ts``.

Kept forever: the mart, the closes and their adjustments (aggregates without user ids), the ad
platforms' tables and their ``_history`` (campaign-level, no personal data; the closes' evidence),
the manifest, quarantine and erasure tombstones. Every delete is by date, so a rerun deletes
nothing more. The run records the cutoff (``window_start``) and the rows or files deleted per table
in ``audit.pipeline_runs``; a backfill reaching before the latest cutoff refuses
(:func:`refuse_expired_backfill`), so deleted data is not brought back.
"""

from __future__ import annotations

import calendar
import contextlib
import posixpath
import re
from datetime import UTC, date, datetime, time
from typing import Any

from dlt.common.configuration import resolve_configuration
from dlt.common.storages.fsspec_filesystem import fsspec_from_config
from dlt.sources.filesystem.helpers import FilesystemConfigurationResource
from prefect import flow, task
from prefect.runtime import flow_run

from connectors.product_events import settings as events_settings
from connectors.product_events.discovery import normalise_url
from flows.common import TASK_RETRY
from flows.locks import holds_warehouse
from flows.monitor import alert_failed_run, naive_utc
from roi.core.errors import UserInputError
from roi.core.runs import SUCCEEDED, last_succeeded_window_end, record_run
from roi.core.settings import get_settings
from roi.core.warehouse import get_warehouse, table_exists

FLOW_NAME = "retention"
LANDING_FILES = "landing_files"
_DT_FOLDER = re.compile(r"dt=(\d{4}-\d{2}-\d{2})")
_DT_PREFIX = f"{events_settings.LANDING_PREFIX}/dt="

# (table, predicate) per step, in order; each predicate takes the cutoff once, as a date (date
# columns, dead letters' file keys) or as midnight UTC of it (timestamp columns). The identity map
# comes after the events, whose retained user ids decide which old merges are still needed.
RAW_EVENT_DELETES: tuple[tuple[str, str], ...] = (
    ("raw_events.events", "event_date < ?"),
    ("raw_events.mmp_touches", "event_date < ?"),
    ("raw_events.skan_postbacks", "event_date < ?"),
    ("raw_events.dead_letters", f"file_key like '{_DT_PREFIX}%' and file_key < ?"),
    (
        "raw_events.identity_map",
        "merged_at < ? and from_user_id not in "
        "(select user_id from raw_events.events where user_id is not null)",
    ),
)
USER_LEVEL_DELETES: tuple[tuple[str, str], ...] = (
    ("analytics.fact_signups", "signup_date < ?"),
    ("analytics.fact_touchpoints", "touch_ts < ?"),
    ("analytics.fact_attribution", "signup_date < ?"),
    ("audit.attribution_history", "signup_date < ?"),
)


def months_before(day: date, months: int) -> date:
    """``day`` minus ``months`` calendar months: same day of the month, clamped to the month's end
    (and to ``date.min``: before year 1 nothing is older)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    if year < 1:
        return date.min
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def retention_cutoff(now: datetime, months: int | None = None) -> date:
    """The first UTC day retained at logical ``now``: everything dated before it is deleted."""
    keep = get_settings().raw_retention_months if months is None else months
    return months_before(naive_utc(now).date(), keep)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _param(table: str, predicate: str, cutoff: date) -> Any:
    """The cutoff as the predicate compares it: a file-key prefix, midnight UTC, or the date.

    Midnight is given as the column holds time: ``fact_touchpoints.touch_ts`` is naive UTC (dbt
    staging), ``identity_map.merged_at`` carries its zone (dlt). A naive value against a zoned
    column (or the reverse) would be shifted by DuckDB's session time zone.
    """
    if table == "raw_events.dead_letters":
        return _DT_PREFIX + cutoff.isoformat()
    if predicate.startswith("touch_ts"):
        return _midnight(cutoff).replace(tzinfo=None)
    if predicate.startswith("merged_at"):
        return _midnight(cutoff)
    return cutoff


def _delete_rows(deletes: tuple[tuple[str, str], ...], cutoff: date) -> dict[str, int]:
    """Delete the rows before ``cutoff`` from each existing table, in one transaction; rows per table."""
    wh = get_warehouse()
    cur = wh.connection().cursor()
    counts: dict[str, int] = {}
    try:
        present = [(t, p) for t, p in deletes if table_exists(cur, *t.split("."))]
        cur.execute("begin transaction")
        for table, predicate in present:
            cur.execute(f"delete from {table} where {predicate}", [_param(table, predicate, cutoff)])
            # DuckDB answers a delete with its row count; DB-API drivers (Snowflake) set rowcount.
            deleted = cur.fetchone()[0] if wh.kind == "duckdb" else cur.rowcount
            counts[table] = int(deleted or 0)
        cur.execute("commit")
    except Exception:
        with contextlib.suppress(Exception):
            cur.execute("rollback")
        raise
    finally:
        cur.close()
    return counts


@task(**TASK_RETRY, timeout_seconds=3600)
@holds_warehouse
def delete_raw_events(cutoff: date) -> dict[str, int]:
    """Raw events, MMP touches, SKAN postbacks, dead letters and expired merges before ``cutoff``."""
    return _delete_rows(RAW_EVENT_DELETES, cutoff)


@task(**TASK_RETRY, timeout_seconds=3600)
@holds_warehouse
def delete_user_level_rows(cutoff: date) -> dict[str, int]:
    """Sign-ups, touches and attribution rows (current and history) dated before ``cutoff``."""
    return _delete_rows(USER_LEVEL_DELETES, cutoff)


def landing_fs(landing_url: str) -> tuple[Any, str]:
    """The fsspec filesystem and root of the landing URL, configured as the loader's (one set of
    credentials, dlt's ``sources.filesystem`` sections, serves both)."""
    url = normalise_url(landing_url)
    cfg = resolve_configuration(
        FilesystemConfigurationResource(bucket_url=url), sections=("sources", "filesystem")
    )
    fs, root = fsspec_from_config(cfg)
    return fs, fs._strip_protocol(root if "://" in root else url)


def delete_landing_folders(landing_url: str, cutoff: date) -> int:
    """Delete every ``events/dt=YYYY-MM-DD/`` folder before ``cutoff``; returns the files deleted.

    Whole partitions, listed one level deep: the retained 13 months are never walked.
    """
    fs, root = landing_fs(landing_url)
    events_dir = posixpath.join(root, events_settings.LANDING_PREFIX)
    if not fs.exists(events_dir):
        return 0
    deleted = 0
    for entry in sorted(fs.ls(events_dir, detail=False)):
        match = _DT_FOLDER.fullmatch(posixpath.basename(str(entry).rstrip("/")))
        if match is None or date.fromisoformat(match.group(1)) >= cutoff:
            continue
        deleted += len(fs.find(entry))
        fs.rm(entry, recursive=True)
    return deleted


@task(**TASK_RETRY, timeout_seconds=3600)
@holds_warehouse
def delete_landing_files(cutoff: date) -> int:
    """Landing files before ``cutoff``, inside a warehouse turn: the loaders list and read files
    inside theirs, so none lists a file that is then deleted under it."""
    return delete_landing_folders(get_settings().landing_url, cutoff)


def _logical_now(now: datetime | None) -> datetime:
    if now is not None:
        return naive_utc(now)
    scheduled = flow_run.scheduled_start_time
    if scheduled is None:
        raise UserInputError("retention needs a logical time: pass now, or run it from its schedule")
    return naive_utc(scheduled)


@flow(name=FLOW_NAME, log_prints=True, on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def retention(now: datetime | None = None) -> dict[str, Any]:
    """Delete raw event-level data dated before the retention cutoff of ``now`` (default: the
    run's scheduled time); returns the cutoff and the rows or files deleted per table."""
    cutoff = retention_cutoff(_logical_now(now))
    # The run's window starts at the cutoff: the retained period (read back by
    # latest_retention_cutoff). No window end: the run says nothing about how fresh the data is
    # (readers of the latest window end, such as the freshness checks, must not see it).
    with record_run(FLOW_NAME, _midnight(cutoff), None) as run:
        counts = {
            LANDING_FILES: delete_landing_files(cutoff),
            **delete_raw_events(cutoff),
            **delete_user_level_rows(cutoff),
        }
        for name, n in counts.items():
            run.count(name, n)
    print(f"retention: deleted everything before {cutoff}: {counts}")
    return {"cutoff": cutoff.isoformat(), "deleted": counts, "run_id": run.run_id}


def latest_retention_cutoff() -> date | None:
    """The cutoff of the latest succeeded retention run (None before the first)."""
    wh = get_warehouse()
    with wh.session("latest retention cutoff"):
        cur = wh.connection().cursor()
        try:
            if not table_exists(cur, "audit", "pipeline_runs"):
                return None
            row = cur.execute(
                "select max(window_start) from audit.pipeline_runs where flow_name = ? and status = ?",
                [FLOW_NAME, SUCCEEDED],
            ).fetchone()
        finally:
            cur.close()
    value = row[0] if row else None
    return naive_utc(value).date() if value is not None else None


def expired_before() -> date | None:
    """The first day a backfill may rebuild: the latest retention cutoff, or the cutoff of the
    data's logical now (the latest succeeded window end) if retention has not caught up with it."""
    candidates = [latest_retention_cutoff()]
    data_now = last_succeeded_window_end()
    if data_now is not None:
        candidates.append(retention_cutoff(data_now))
    known = [d for d in candidates if d is not None]
    return max(known) if known else None


def refuse_expired_backfill(start: date) -> None:
    """Raise a one-line :class:`UserInputError` when ``start`` is before the retained period."""
    first = expired_before()
    if first is not None and start < first:
        months = get_settings().raw_retention_months
        raise UserInputError(
            f"backfill start {start} is older than the {months}-month retention period (data before "
            f"{first} is deleted): start on {first} or later"
        )
