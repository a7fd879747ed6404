"""``audit.pull_slices``: the latest outcome of every slice an ads pull planned.

A connector run returns one :class:`~connector_sdk.completeness.SliceOutcome` per (account,
report date) slice it planned: ``complete``, ``partial`` (the rows were not applied: the loaded
ones stay until a second pull confirms the change) or ``deferred`` (the platform asked for a
wait longer than a run can give; ``resume_after`` says when). The table keeps the latest of each
slice, so the open ones (partial or deferred) are the work a later run owes: the next pull of
the platform re-requests them, and the close gates and monitoring rules read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from roi.core.warehouse import PULL_SLICES_DDL, Warehouse

OPEN_STATUSES = ("partial", "deferred")
PLATFORM_WIDE = "*"
"""``account_id`` of a deferral that stopped a pull before it knew its accounts."""

_COLUMNS = (
    "platform, account_id, report_date, status, rows_expected, rows_received, resume_after, load_id, "
    "applied, detail, logical_time, recorded_at"
)


@dataclass(frozen=True)
class OpenSlice:
    """A slice a later run must pull again."""

    account_id: str
    report_date: date
    status: str
    resume_after: datetime | None


def _naive_utc(ts: datetime | None) -> datetime | None:
    return None if ts is None or ts.tzinfo is None else ts.astimezone(UTC).replace(tzinfo=None)


def _aware(ts: datetime | None) -> datetime | None:
    return None if ts is None else (ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts)


def _row(platform: str, o: Mapping[str, Any], logical_time: datetime, now: datetime) -> tuple[Any, ...]:
    resume = o.get("resume_after")
    if isinstance(resume, str):
        resume = datetime.fromisoformat(resume)
    report_date = o["report_date"]
    if isinstance(report_date, str):
        report_date = date.fromisoformat(report_date)
    return (
        platform,
        str(o["account_id"]),
        report_date,
        str(o["status"]),
        o.get("rows_expected"),
        o.get("rows_received"),
        _naive_utc(resume),
        o.get("load_id"),
        o.get("applied"),
        (o.get("detail") or "")[:300] or None,
        _naive_utc(logical_time),
        now,
    )


def record(
    warehouse: Warehouse,
    platform: str,
    outcomes: Sequence[Mapping[str, Any]],
    logical_time: datetime,
    resume_after: datetime | None = None,
) -> int:
    """Replace the latest outcome of each slice in ``outcomes``; returns the slices recorded.

    ``resume_after`` without outcomes: the pull was deferred before it knew its slices; a
    platform-wide row (account ``*``) holds the deferral so the next runs wait for it.
    """
    now = datetime.now(UTC).replace(tzinfo=None)  # when it was recorded, not which data
    rows = [_row(platform, o, logical_time, now) for o in outcomes]
    if not rows and resume_after is not None:
        wide = {"account_id": PLATFORM_WIDE, "report_date": logical_time.date(), "status": "deferred"}
        rows = [_row(platform, {**wide, "resume_after": resume_after}, logical_time, now)]
    con = warehouse.connection()
    cur = con.cursor()
    try:
        cur.execute(PULL_SLICES_DDL)
        # a pull that got through closes the platform-wide deferral
        closes_wide = any(r[1] != PLATFORM_WIDE and r[3] != "deferred" for r in rows)
        if closes_wide:
            cur.execute(
                "delete from audit.pull_slices where platform = ? and account_id = ?",
                [platform, PLATFORM_WIDE],
            )
        for r in rows:
            cur.execute(
                "delete from audit.pull_slices where platform = ? and account_id = ? and report_date = ?",
                [r[0], r[1], r[2]],
            )
        if rows:
            marks = ", ".join("?" for _ in range(12))
            cur.executemany(f"insert into audit.pull_slices ({_COLUMNS}) values ({marks})", rows)
    finally:
        cur.close()
    return len(rows)


def owe(
    warehouse: Warehouse, platform: str, dates: Sequence[date], logical_time: datetime, detail: str
) -> int:
    """Record the dates of a pull that failed as deferred and due at once: the next run pulls them.

    The failed pull knows no accounts, so the accounts are those the platform's earlier pulls
    recorded; before any pull got through, a platform-wide row keeps the failure visible (the
    next run's own dates cover it). Returns the slices recorded.
    """
    cur = warehouse.connection().cursor()
    try:
        cur.execute(PULL_SLICES_DDL)
        accounts = [
            str(r[0])
            for r in cur.execute(
                "select distinct account_id from audit.pull_slices where platform = ? and account_id <> ? "
                "order by 1",
                [platform, PLATFORM_WIDE],
            ).fetchall()
        ]
    finally:
        cur.close()
    owed = [
        {"account_id": account, "report_date": day, "status": "deferred", "detail": detail}
        for account in (accounts or [PLATFORM_WIDE])
        for day in dates
    ]
    return record(warehouse, platform, owed, logical_time)


def open_slices(warehouse: Warehouse, platform: str) -> list[OpenSlice]:
    """The platform's slices whose latest pull was partial or deferred, oldest first."""
    con = warehouse.connection()
    cur = con.cursor()
    try:
        cur.execute(PULL_SLICES_DDL)
        found = cur.execute(
            "select account_id, report_date, status, resume_after from audit.pull_slices "
            "where platform = ? and status in (?, ?) order by report_date, account_id",
            [platform, *OPEN_STATUSES],
        ).fetchall()
    finally:
        cur.close()
    return [OpenSlice(str(a), d, str(s), _aware(r)) for a, d, s, r in found]


def deferred_until(slices: Iterable[OpenSlice], logical_time: datetime) -> datetime | None:
    """The latest ``resume_after`` still ahead of ``logical_time`` (None: nothing to wait for)."""
    ahead = [s.resume_after for s in slices if s.resume_after is not None and s.resume_after > logical_time]
    return max(ahead) if ahead else None


def due(slices: Iterable[OpenSlice]) -> list[tuple[str, date]]:
    """The (account, date) slices to pull again (the platform-wide marker is no slice)."""
    return [(s.account_id, s.report_date) for s in slices if s.account_id != PLATFORM_WIDE]
