"""How a restated day was ingested: the spend of one (platform, report date) at every pull.

Reads the append-only ``<report>_history`` table and the ``__slices`` log (so a pull that
came back empty shows as spend 0; pulls held back as partial or deferred replaced nothing and
are left out), and returns one row per load id, oldest first. The last
two rows are "before" and "after" a restatement. Works on any DB-API connection whose
default search path or ``dataset`` holds the raw tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connector_sdk.land import table_names
from connector_sdk.registry import get_connector


@dataclass(frozen=True)
class PullSpend:
    """Spend of one slice as one load saw it."""

    load_id: str
    pulled_at: datetime | None
    rows: int
    spend: float


def restatement_report(
    connection: Any,
    platform: str,
    report_date: date,
    *,
    account_id: str | None = None,
    dataset: str = "raw_ads",
) -> list[PullSpend]:
    """Spend (account currency) of ``platform`` on ``report_date`` at every pull, oldest first."""
    cls = get_connector(platform)
    spec = cls.report
    acc_col, date_col = spec.slice_columns
    tables = table_names(platform, spec, cls.entities)
    history = f"{dataset}.{tables['history']}"
    slices = f"{dataset}.{tables['slices']}"
    # pulls held back (partial, deferred) replaced nothing: only applied pulls count
    applied = "and coalesce(applied, true)" if "applied" in _columns(connection, slices) else ""
    acc_filter = "and account_id = ?" if account_id else ""
    acc_filter_h = f"and {acc_col} = ?" if account_id else ""
    params: list[Any] = [report_date] + ([account_id] if account_id else [])
    sql = f"""
        with pulls as (
            select _load_id, min(pulled_at) as pulled_at
            from {slices} where report_date = ? {acc_filter} {applied} group by _load_id
        ), spend as (
            select _load_id, count(*) as n, sum(cast({spec.spend_column} as double)) as spend
            from {history} where {date_col} = ? {acc_filter_h} group by _load_id
        )
        select p._load_id, p.pulled_at, coalesce(s.n, 0), coalesce(s.spend, 0)
        from pulls p left join spend s using (_load_id)
        order by p._load_id
    """
    cur = connection.cursor()
    try:
        cur.execute(sql, params + params)
        rows = cur.fetchall()
    finally:
        cur.close()
    return [PullSpend(str(r[0]), r[1], int(r[2]), float(r[3]) / spec.spend_divisor) for r in rows]


def _columns(connection: Any, table: str) -> set[str]:
    """The lower-cased column names of ``table``."""
    cur = connection.cursor()
    try:
        cur.execute(f"select * from {table} where 1 = 0")
        return {str(d[0]).lower() for d in cur.description}
    finally:
        cur.close()


def before_after(pulls: list[PullSpend]) -> tuple[PullSpend, PullSpend] | None:
    """The last pull whose spend differs from the latest one, and the latest one (None if never restated)."""
    if len(pulls) < 2:
        return None
    after = pulls[-1]
    for p in reversed(pulls[:-1]):
        if abs(p.spend - after.spend) > 1e-9 or p.rows != after.rows:
            return p, after
    return None
