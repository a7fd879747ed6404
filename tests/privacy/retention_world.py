"""A sparse 14-month world for the retention flow, written straight into a fresh warehouse.

Simulating 14 months of days would take hours; retention only reads dates. So a handful of days
spread over 14 months each get one row in every table retention touches (raw events, MMP
touches, SKAN postbacks, a dead letter, a merge, the user-level facts, attribution rows and
history) and two landing files on disk, beside the aggregates it must leave alone (the mart,
closes, adjustments, ops buckets, ad history, the landing manifest). Every row carries its day,
so the expected survivors are computed from these Python rows, not from SQL.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

# Scheduled at 03:15 UTC on 10 Jan 2027 (not the wall clock's date): the retained period starts
# on 10 Dec 2025, 13 calendar months back.
NOW = datetime(2027, 1, 10, 3, 15, tzinfo=UTC)
CUTOFF = date(2025, 12, 10)
DAYS = (
    date(2025, 11, 10),  # 14 months back
    date(2025, 12, 9),  # the day before the cutoff: deleted
    CUTOFF,  # the cutoff day: kept
    date(2026, 5, 15),
    date(2027, 1, 9),  # yesterday
)
# An old merge whose merged-away id still has a retained event: the edge must stay.
KEPT_EDGE_USER = "m_still_active"

RAW_DDL = (
    "create table raw_events.events (event_id varchar, event_type varchar, event_ts timestamptz, "
    "event_date date, user_id varchar, anonymous_id varchar, device_id varchar, email_hash varchar, "
    "from_user_id varchar, to_user_id varchar, _file_key varchar)",
    "create table raw_events.mmp_touches (event_id varchar, event_ts timestamptz, event_date date, "
    "device_id varchar, touch_ts timestamptz)",
    "create table raw_events.skan_postbacks (event_id varchar, event_ts timestamptz, event_date date, "
    "postback_id varchar)",
    "create table raw_events.dead_letters (file_key varchar, line_no integer, reason varchar, "
    "line varchar, line_hash varchar, replayed_at timestamptz)",
    "create table raw_events.identity_map (from_user_id varchar, to_user_id varchar, "
    "merged_at timestamptz, event_id varchar, canonical_user_id varchar)",
    "create table raw_events.landing_manifest (file_key varchar, lines_read bigint, loaded bigint)",
    "create table analytics.fact_signups (signup_id varchar, user_id varchar, signup_date date, "
    "signup_ts timestamp, signup_definition_version varchar)",
    "create table analytics.fact_touchpoints (touch_id varchar, user_id varchar, identifier varchar, "
    "touch_ts timestamp)",
    "create table analytics.fact_attribution (attribution_run_id varchar, signup_id varchar, "
    "touch_id varchar, credit double, signup_date date)",
    "create table audit.attribution_history (attribution_run_id varchar, signup_id varchar, "
    "touch_id varchar, credit double, signup_date date)",
)
AGGREGATE_DDL = (
    "create table analytics.mart_marketing_roi_daily (report_date date, platform varchar, "
    "campaign_id varchar, signups double, spend_usd double)",
    "create table analytics.mart_marketing_roi_closed (close_id varchar, close_version integer, "
    "report_date date, platform varchar, campaign_id varchar, signups double, spend_usd double)",
    "create table analytics.mart_marketing_roi_adjustments (close_id varchar, report_date date, "
    "adjusted_on date, platform varchar, campaign_id varchar, cause varchar, delta_signups double)",
    "create table analytics.ops_campaign_15min (bucket_start timestamp, platform varchar, "
    "campaign_id varchar, signups bigint)",
    "create table raw_ads.google_ads__ad_performance_history (report_date date, ad_id varchar, "
    "cost_micros bigint, _load_id varchar)",
)
# What retention deletes by date, and what it must leave byte for byte.
DATED = {
    "raw_events.events": "event_date",
    "raw_events.mmp_touches": "event_date",
    "raw_events.skan_postbacks": "event_date",
    "raw_events.dead_letters": "file_key",
    "raw_events.identity_map": "merged_at",
    "analytics.fact_signups": "signup_date",
    "analytics.fact_touchpoints": "touch_ts",
    "analytics.fact_attribution": "signup_date",
    "audit.attribution_history": "signup_date",
}
AGGREGATES = (
    "analytics.mart_marketing_roi_daily",
    "analytics.mart_marketing_roi_closed",
    "analytics.mart_marketing_roi_adjustments",
    "analytics.ops_campaign_15min",
    "raw_ads.google_ads__ad_performance_history",
    "raw_events.landing_manifest",
    "audit.pipeline_runs",  # checked without the retention runs' own rows
)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def landing_keys(day: date) -> list[str]:
    """The day's two landing files (an on-time part and a late one in the same partition)."""
    return [f"events/dt={day}/hour=10/part-0.jsonl.gz", f"events/dt={day}/hour=23/part-late.jsonl.gz"]


def _raw_rows(day: date) -> dict[str, list[tuple[Any, ...]]]:
    u, ts = f"u_{day:%Y%m%d}", _at(day, 10)
    key = landing_keys(day)[0]
    return {
        "raw_events.events": [
            (f"e_{u}", "user_signup", ts, day, u, f"a_{u}", None, f"h_{u}", None, None, key),
            (f"l_{u}", "landing", ts, day, None, f"a_{u}", None, None, None, None, key),
            (f"g_{u}", "user_merged", ts, day, None, None, None, None, f"old_{u}", u, key),
        ],
        "raw_events.mmp_touches": [(f"t_{u}", ts, day, f"d_{u}", ts - timedelta(hours=1))],
        "raw_events.skan_postbacks": [(f"s_{u}", ts, day, f"p_{u}")],
        "raw_events.dead_letters": [
            (key, 3, "missing:event_id", '{"event_type":"landing"}', f"lh_{u}", None)
        ],
        "raw_events.identity_map": [(f"old_{u}", u, ts, f"g_{u}", u)],
        "analytics.fact_signups": [(u, u, day, ts.replace(tzinfo=None), "signup_v1")],
        "analytics.fact_touchpoints": [(f"t_{u}", u, f"a_{u}", ts.replace(tzinfo=None) - timedelta(hours=1))],
        "analytics.fact_attribution": [("run_2", u, f"t_{u}", 1.0, day)],
        "audit.attribution_history": [("run_1", u, f"t_{u}", 1.0, day), ("run_2", u, f"t_{u}", 1.0, day)],
    }


def _aggregate_rows(day: date) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "analytics.mart_marketing_roi_daily": [(day, "google_ads", "c1", 1.0, 12.5)],
        "analytics.mart_marketing_roi_closed": [(f"close_{day}", 1, day, "google_ads", "c1", 1.0, 12.5)],
        "analytics.mart_marketing_roi_adjustments": [
            (f"close_{day}", day, day + timedelta(days=3), "google_ads", "c1", "restatement", 0.5)
        ],
        "analytics.ops_campaign_15min": [(_at(day, 10).replace(tzinfo=None), "google_ads", "c1", 1)],
        "raw_ads.google_ads__ad_performance_history": [(day, "ad1", 1_250_000, "1700000000.1")],
        "raw_events.landing_manifest": [(k, 4, 3) for k in landing_keys(day)],
    }


def rows_by_table() -> dict[str, list[tuple[Any, ...]]]:
    """Every row written, per table (the raw, dated ones and the aggregates)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for day in DAYS:
        for part in (_raw_rows(day), _aggregate_rows(day)):
            for table, rows in part.items():
                out.setdefault(table, []).extend(rows)
    # The oldest day's merged-away user still has a retained event (a first ride yesterday).
    oldest, last = DAYS[0], DAYS[-1]
    out["raw_events.identity_map"].append(
        (KEPT_EDGE_USER, f"u_{oldest:%Y%m%d}", _at(oldest, 11), "g_x", "u_x")
    )
    out["raw_events.events"].append(
        ("r_active", "first_ride", _at(last, 9), last, KEPT_EDGE_USER, None, None, None, None, None, "k")
    )
    return out


def build(cur: Any, landing: Path) -> None:
    """Write the world's tables through ``cur`` and its landing files under ``landing``."""
    for ddl in RAW_DDL + AGGREGATE_DDL:
        cur.execute(ddl)
    for table, rows in rows_by_table().items():
        marks = ", ".join("?" for _ in rows[0])
        cur.executemany(f"insert into {table} values ({marks})", rows)
    for day in DAYS:
        for key in landing_keys(day):
            path = landing / key
            path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"event_id": f"x_{day}", "event_type": "landing", "anonymous_id": "a"})
            path.write_bytes(gzip.compress((line + "\n").encode()))


def row_day(table: str, row: tuple[Any, ...]) -> date:
    """The day a row is dated by, as retention reads it (dead letters: their file's partition)."""
    if table == "raw_events.dead_letters":
        return date.fromisoformat(str(row[0]).split("dt=")[1][:10])
    value = {
        "raw_events.identity_map": row[2],
        "analytics.fact_touchpoints": row[3],
        "raw_events.events": row[3],
        "raw_events.mmp_touches": row[2],
        "raw_events.skan_postbacks": row[2],
        "analytics.fact_signups": row[2],
    }.get(table, row[-1])
    return value.date() if isinstance(value, datetime) else value
