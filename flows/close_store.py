"""The close's tables and the reads every close reader shares (``roi close status``, adjustments).

Kept apart from :mod:`flows.close` so that the read-only ``roi close status`` does not load
Prefect: this module imports only ``roi.core`` and :mod:`flows.published`.

Tables (created on first use, on either warehouse):

- ``analytics.mart_marketing_roi_closed``: one row per close version x UTC date x platform x
  campaign, the published mart row as it was at the close, with ``spend_local``/``currency``
  from ``fact_ad_spend``. Rows are only ever inserted: a re-close adds version 2 beside 1.
- ``analytics.mart_marketing_roi_adjustments``: dated deltas since a close version (see
  :mod:`flows.adjustments`).
- ``audit.close_runs``: one row per close attempt, with every gate's result as JSON.
- ``audit.close_inputs``: the inputs each attempt saw (raw load ids, landing files, SKAN
  postbacks), one row each, keyed by the attempt's ``close_id``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flows.published import Published
from roi.core.errors import UserInputError
from roi.core.warehouse import table_exists

# Finance reads day D at 06:00 UTC of D+1; the close runs at 05:00, after the 04:00 lookback.
CLOSE_AT = time(5, 0)
DEADLINE_AT = time(6, 0)

CLOSED = "closed"
BLOCKED = "blocked"
LATE = "late"

CLOSED_DDL = """
create table if not exists analytics.mart_marketing_roi_closed (
    close_id varchar not null,
    close_version integer not null,
    closed_at timestamp not null,
    report_date date not null,
    platform varchar not null,
    campaign_id varchar not null,
    campaign_name varchar,
    attribution_config varchar not null,
    attribution_version varchar not null,
    attribution_config_hash varchar not null,
    spend_definition_version varchar not null,
    signup_definition_version varchar not null,
    spend_usd decimal(38, 6),
    spend_local decimal(38, 6),
    currency varchar,
    impressions bigint,
    clicks bigint,
    platform_conversions decimal(18, 4),
    signups double,
    modeled_signups double,
    first_conversions double,
    revenue_usd decimal(38, 6),
    cac_usd decimal(38, 6),
    roas double,
    roi double
)
"""

ADJUSTMENTS_DDL = """
create table if not exists analytics.mart_marketing_roi_adjustments (
    close_id varchar not null,
    report_date date not null,
    adjusted_on date not null,
    platform varchar not null,
    campaign_id varchar not null,
    cause varchar not null,
    delta_spend_usd decimal(38, 6) not null,
    delta_spend_local decimal(38, 6) not null,
    currency varchar,
    delta_signups double not null,
    delta_modeled_signups double not null,
    delta_revenue_usd decimal(38, 6) not null,
    recorded_at timestamp not null
)
"""

CLOSE_RUNS_DDL = """
create table if not exists audit.close_runs (
    close_id varchar not null,
    report_date date not null,
    close_version integer,
    outcome varchar not null,
    late boolean not null,
    trigger varchar not null,
    reason varchar,
    logical_time timestamp not null,
    attempted_at timestamp not null,
    blocked_by varchar,
    message varchar not null,
    gates varchar not null,
    published varchar not null,
    inputs varchar not null
)
"""

CLOSE_INPUTS_DDL = """
create table if not exists audit.close_inputs (
    close_id varchar not null,
    kind varchar not null,
    platform varchar,
    input_key varchar not null,
    arrived_at timestamp,
    detail varchar
)
"""

# The published mart rows of one day beside their local spend: what a close freezes and what
# adjustments compare against. Parameters: day, spend definition, day, then Published.params().
CURRENT_ROWS_SQL = f"""
with local_spend as (
    select platform, campaign_id,
           case when count(distinct currency) = 1 then sum(spend_local) end as spend_local,
           case when count(distinct currency) = 1 then min(currency) else 'MIXED' end as currency
    from analytics.fact_ad_spend
    where spend_date = ? and spend_definition_version = ?
    group by platform, campaign_id
)
select m.report_date, m.platform, m.campaign_id, m.campaign_name, m.attribution_version,
       m.spend_definition_version, m.signup_definition_version, m.spend_usd, s.spend_local,
       s.currency, m.impressions, m.clicks, m.platform_conversions, m.signups, m.modeled_signups,
       m.first_conversions, m.revenue_usd, m.cac_usd, m.roas, m.roi
from (
    select * from analytics.mart_marketing_roi_daily where report_date = ? and {Published.MART_FILTER}
) as m
left join local_spend as s on m.platform = s.platform and m.campaign_id = s.campaign_id
"""


def current_rows_params(day: date, pub: Published) -> list[Any]:
    """Parameters of :data:`CURRENT_ROWS_SQL` for ``day``."""
    return [day, pub.spend_definition, day, *pub.params()]


def ensure_tables(cur: Any) -> None:
    """Create the close's tables if missing (idempotent)."""
    for ddl in (CLOSED_DDL, ADJUSTMENTS_DDL, CLOSE_RUNS_DDL, CLOSE_INPUTS_DDL):
        cur.execute(ddl)


def deadline(day: date) -> datetime:
    """06:00 UTC of the day after ``day`` (naive UTC): a close after it is late."""
    return datetime.combine(day + timedelta(days=1), DEADLINE_AT)


def close_time(day: date) -> datetime:
    """05:00 UTC of the day after ``day`` (naive UTC): from then on, the day is ready to close."""
    return datetime.combine(day + timedelta(days=1), CLOSE_AT)


@dataclass(frozen=True)
class LatestClose:
    """The published close of a day: its latest version."""

    report_date: date
    close_id: str
    close_version: int
    closed_at: datetime


def latest_closes(cur: Any, days: list[date] | None = None) -> dict[date, LatestClose]:
    """The latest close version of every closed day (or of ``days``)."""
    if not table_exists(cur, "audit", "close_runs"):
        return {}
    rows = cur.execute(
        "select report_date, close_id, close_version, logical_time from ("
        " select *, row_number() over (partition by report_date order by close_version desc) as rn"
        " from audit.close_runs where close_version is not null) where rn = 1"
    ).fetchall()
    out = {r[0]: LatestClose(r[0], str(r[1]), int(r[2]), r[3]) for r in rows}
    return out if days is None else {d: c for d, c in out.items() if d in days}


@dataclass(frozen=True)
class DayStatus:
    """What ``roi close status`` shows for one day."""

    report_date: date
    state: str  # closed | closed late | blocked | late | not attempted
    version: int | None
    closed_at: datetime | None
    attempts: int
    detail: str


def _status_of(day: date, attempts: list[tuple[Any, ...]], now: datetime | None) -> DayStatus:
    """One day's status from its attempts (oldest first): version, outcome, late, logical time, gate, message."""
    closed = [a for a in attempts if a[0] is not None]
    if closed:
        version, _, late, at, _, message = closed[-1]
        state = "closed late" if late else "closed"
        return DayStatus(day, state, int(version), at, len(attempts), message)
    if attempts:
        _, outcome, _, _, _, message = attempts[-1]
        return DayStatus(day, outcome, None, None, len(attempts), message)
    past = now is not None and now >= deadline(day)
    return DayStatus(day, "late" if past else "not attempted", None, None, 0, "no close attempted")


def close_status(cur: Any, first: date, last: date, now: datetime | None) -> list[DayStatus]:
    """Per UTC day in [first, last], newest first: closed (version, when), blocked (gate), late, not attempted.

    ``now`` (naive UTC logical time, e.g. the last run's window end) marks a day never
    attempted whose deadline has passed as late.
    """
    found: dict[date, list[tuple[Any, ...]]] = {}
    if table_exists(cur, "audit", "close_runs"):
        rows = cur.execute(
            "select report_date, close_version, outcome, late, logical_time, blocked_by, message "
            "from audit.close_runs where report_date between ? and ? "
            "order by report_date, logical_time, attempted_at",
            [first, last],
        ).fetchall()
        for r in rows:
            found.setdefault(r[0], []).append(tuple(r[1:]))
    out = []
    day = last
    while day >= first:
        out.append(_status_of(day, found.get(day, []), now))
        day -= timedelta(days=1)
    return out


def recent_status(cur: Any, days: int, now: datetime | None) -> list[DayStatus]:
    """:func:`close_status` of the ``days`` UTC days up to the day before ``now`` (the last run's
    logical time), or, without any run, up to the last day a close was attempted."""
    if now is not None:
        last = (now - timedelta(microseconds=1)).date() - timedelta(days=1)
    else:
        found = (
            cur.execute("select max(report_date) from audit.close_runs").fetchone()
            if table_exists(cur, "audit", "close_runs")
            else None
        )
        if not found or found[0] is None:
            raise UserInputError("nothing to show: no pipeline run and no close attempt is recorded yet")
        last = found[0]
    return close_status(cur, last - timedelta(days=days - 1), last, now)


def gate_results(cur: Any, close_id: str) -> list[dict[str, Any]]:
    """The gate results one attempt recorded (as written: gate, passed, detail, numbers)."""
    row = cur.execute("select gates from audit.close_runs where close_id = ?", [close_id]).fetchone()
    return list(json.loads(row[0])) if row else []
