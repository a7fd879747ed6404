"""Near-real-time ops refresh: every 5 minutes, new landing files into 15-minute buckets.

Operations watch clicks, installs and sign-ups per campaign within minutes of them landing;
the finance-grade numbers come from the hourly flow and the mart. The refresh loads new
landing files with the same incremental loader as the hourly flow (one manifest of files
seen, so nothing is loaded twice), then recomputes ``analytics.ops_campaign_15min`` for the
UTC days those files touched: delete + insert of whole days, so a rerun changes nothing.

Attribution here is a deliberately simple last click/view in the 7 days before the
conversion (web via ``anonymous_id``, app via ``device_id``), not the versioned engine: it
is a monitoring signal, labelled as such in docs/operations.md.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prefect import flow, task

from flows.common import TASK_RETRY
from flows.locks import holds_warehouse
from flows.monitor import alert_failed_run, monitor_alerts, scheduled_now
from flows.published import published
from flows.tasks import load_events
from roi.core.runs import record_run
from roi.core.warehouse import get_warehouse, table_exists

OPS_DDL = """
create table if not exists analytics.ops_campaign_15min (
    bucket_start timestamp not null,
    platform varchar not null,
    campaign_id varchar not null,
    clicks bigint not null,
    installs bigint not null,
    signups bigint not null,
    updated_at timestamp not null,
    platform_clicks double not null default 0,
    impressions double not null default 0,
    spend_usd double,
    spend_basis varchar
)
"""
# Tables created before the spend signals gain their columns (a refresh then fills them).
OPS_SPEND_COLUMNS = (
    ("platform_clicks", "double not null default 0"),
    ("impressions", "double not null default 0"),
    ("spend_usd", "double"),
    ("spend_basis", "varchar"),
)
EVENT_COLUMNS = "clicks, installs, signups"
SPEND_COLUMNS = "platform_clicks, impressions, spend_usd, spend_basis"

# Click ids decide the platform before utm_source does (as in int_touches__unioned); the utm_source values
# are mapped by the dbt seed when it is loaded, else by the platform's own canonical name.
_OPS_SQL = """
with new_days as (
    select distinct cast(event_ts as date) as d from raw_events.events where _dlt_load_id in ({load_ids})
    union
    select distinct cast(touch_ts as date) from raw_events.mmp_touches where _dlt_load_id in ({load_ids})
),
bounds as (
    select min(d) - 7 as lo, max(d) as hi from new_days
),
events as (
    select * from raw_events.events
    where cast(event_ts as date) in (select d from new_days)
       or (event_type = 'landing'
           and cast(event_ts as date) between (select lo from bounds) and (select hi from bounds))
),
web_clicks as (
    select event_ts as touch_ts, anonymous_id,
           case when gclid is not null then 'google_ads'
                when fbclid is not null then 'meta_ads'
                when ttclid is not null then 'tiktok_ads'
                else {utm_platform} end as platform,
           utm_campaign as campaign_id
    from events
    where event_type = 'landing' and (gclid is not null or fbclid is not null or ttclid is not null
                                       or utm_campaign is not null)
),
app_touches as (
    select touch_ts, device_id, platform, campaign_id, touch_type
    from raw_events.mmp_touches
    where cast(touch_ts as date) between (select lo from bounds) and (select hi from bounds)
),
installs as (
    select e.event_ts, t.platform, t.campaign_id,
           row_number() over (partition by e.event_id order by t.touch_ts desc, t.platform, t.campaign_id) as rn
    from events e
    join app_touches t
      on t.device_id = e.device_id and t.touch_ts <= e.event_ts and t.touch_ts >= e.event_ts - interval '7 days'
    where e.event_type = 'app_install' and cast(e.event_ts as date) in (select d from new_days)
),
signup_events as (
    select event_id, event_ts, anonymous_id, device_id from events
    where event_type = 'user_signup' and cast(event_ts as date) in (select d from new_days)
),
-- Two equi-joins (web by anonymous_id, app by device_id), not one join on an OR: an OR join
-- is a nested loop, minutes at a promotion's volume.
signup_touches as (
    select s.event_id, s.event_ts, c.touch_ts, c.platform, c.campaign_id
    from signup_events s
    join web_clicks c
      on c.anonymous_id = s.anonymous_id and c.touch_ts <= s.event_ts
     and c.touch_ts >= s.event_ts - interval '7 days'
    union all
    select s.event_id, s.event_ts, t.touch_ts, t.platform, t.campaign_id
    from signup_events s
    join app_touches t
      on t.device_id = s.device_id and t.touch_ts <= s.event_ts
     and t.touch_ts >= s.event_ts - interval '7 days'
),
signups as (
    select event_ts, platform, campaign_id,
           row_number() over (partition by event_id order by touch_ts desc, platform, campaign_id) as rn
    from signup_touches
),
counted as (
    select touch_ts as ts, platform, campaign_id, 1 as clicks, 0 as installs, 0 as signups
    from web_clicks where cast(touch_ts as date) in (select d from new_days)
    union all
    select touch_ts, platform, campaign_id, 1, 0, 0
    from app_touches where touch_type = 'click' and cast(touch_ts as date) in (select d from new_days)
    union all
    select event_ts, platform, campaign_id, 0, 1, 0 from installs where rn = 1
    union all
    select event_ts, platform, campaign_id, 0, 0, 1 from signups where rn = 1
)
select {bucket} as bucket_start, platform, campaign_id,
       sum(clicks) as clicks, sum(installs) as installs, sum(signups) as signups
from counted
where platform is not null and campaign_id is not null
group by 1, 2, 3
"""


def _bucket_expr(kind: str) -> str:
    if kind == "duckdb":
        return "time_bucket(interval 15 minute, ts)"
    return "time_slice(ts, 15, 'MINUTE')"


def _utm_platform(cur: Any) -> str:
    if table_exists(cur, "analytics", "utm_source_map"):
        return "(select m.platform from analytics.utm_source_map m where m.utm_source = lower(utm_source))"
    return "case when lower(utm_source) in ('google_ads','meta_ads','tiktok_ads','impact') then lower(utm_source) end"


# The ad pulls' figures per 15-minute bucket, from the hourly flow's fact_ad_spend (published
# spend definition): an hourly row is spread evenly over its four buckets (basis utc_hour); a
# row reported per UTC day (Apple Ads) stays whole on the day's first bucket (basis utc_day).
# spend_usd stays null where the spend has no USD rate yet (a missing FX rate is not zero spend).
_SPREAD = " union all ".join(
    f"select spend_ts + interval '{m} minutes' as bucket_start, platform, campaign_id, "
    "clicks / 4.0 as platform_clicks, impressions / 4.0 as impressions, spend_usd / 4.0 as spend_usd, "
    "'utc_hour' as spend_basis from spend where date_basis = 'utc_hour'"
    for m in (0, 15, 30, 45)
)
_SPEND_SQL = f"""
with spend as (
    select platform, campaign_id, spend_ts, date_basis,
           sum(clicks) as clicks, sum(impressions) as impressions,
           case when count(spend_usd) = count(*) then sum(spend_usd) end as spend_usd
    from analytics.fact_ad_spend
    where spend_definition_version = ? and spend_date in ({{days}})
    group by 1, 2, 3, 4
)
{_SPREAD}
union all
select spend_ts, platform, campaign_id, clicks, impressions, spend_usd, 'utc_day'
from spend where date_basis = 'utc_day'
"""


def _days_of_loads(cur: Any, ids: str) -> set[date]:
    return {
        r[0]
        for r in cur.execute(
            f"select distinct cast(event_ts as date) from raw_events.events where _dlt_load_id in ({ids}) "
            f"union select distinct cast(touch_ts as date) from raw_events.mmp_touches where _dlt_load_id in ({ids})"
        ).fetchall()
    }


def _stage_events(cur: Any, kind: str, ids: str, kept: list[date]) -> None:
    """``ops_events``: recomputed event counts of the loads' days, the stored counts of ``kept`` days."""
    cur.execute(
        "create or replace temporary table ops_events as select bucket_start, platform, campaign_id, "
        f"{EVENT_COLUMNS} from analytics.ops_campaign_15min where 1 = 0"
    )
    if ids:
        sql = _OPS_SQL.format(load_ids=ids, utm_platform=_utm_platform(cur), bucket=_bucket_expr(kind))
        cur.execute(f"insert into ops_events {sql}")
    if kept:
        marks = ", ".join("?" for _ in kept)
        cur.execute(
            f"insert into ops_events select bucket_start, platform, campaign_id, {EVENT_COLUMNS} "
            f"from analytics.ops_campaign_15min where cast(bucket_start as date) in ({marks})",
            kept,
        )


def _stage_spend(cur: Any, days: list[date]) -> None:
    """``ops_spend``: the ad pulls' figures of ``days`` in 15-minute buckets (none before the first hourly run)."""
    cur.execute(
        "create or replace temporary table ops_spend as select bucket_start, platform, campaign_id, "
        f"{SPEND_COLUMNS} from analytics.ops_campaign_15min where 1 = 0"
    )
    if days and table_exists(cur, "analytics", "fact_ad_spend"):
        marks = ", ".join("?" for _ in days)
        cur.execute(
            f"insert into ops_spend {_SPEND_SQL.format(days=marks)}",
            [published().spend_definition, *days],
        )


def _ensure_table(cur: Any) -> None:
    cur.execute(OPS_DDL)
    have = {
        str(r[0]).lower()
        for r in cur.execute(
            "select column_name from information_schema.columns "
            "where lower(table_schema) = 'analytics' and lower(table_name) = 'ops_campaign_15min'"
        ).fetchall()
    }
    for name, ddl in OPS_SPEND_COLUMNS:
        if name not in have:
            cur.execute(f"alter table analytics.ops_campaign_15min add column {name} {ddl}")


def refresh_ops_table(load_ids: list[str], now: datetime | None = None) -> int:
    """Recompute the ops buckets of the days the loads touched and of today and yesterday; returns rows written.

    ``now`` is the refresh's logical time (its scheduled time; default the wall clock). Event
    counts are recomputed for the UTC days the loads touched (the stored counts of the other
    days are kept); the ad figures are taken again for all of those days, as the hourly flow
    restates them. Whole days are deleted and inserted in one transaction: a rerun changes nothing.
    """
    wh = get_warehouse()
    cur = wh.connection().cursor()
    at = (now or datetime.now(UTC)).replace(tzinfo=None)
    try:
        _ensure_table(cur)
        ids = ", ".join("'" + i.replace("'", "''") + "'" for i in load_ids)
        touched = _days_of_loads(cur, ids) if ids else set()
        days = sorted(touched | {at.date(), at.date() - timedelta(days=1)})
        _stage_events(cur, wh.kind, ids, [d for d in days if d not in touched])
        _stage_spend(cur, days)
        marks = ", ".join("?" for _ in days)
        cur.execute("begin transaction")
        cur.execute(
            f"delete from analytics.ops_campaign_15min where cast(bucket_start as date) in ({marks})", days
        )
        cur.execute(
            "insert into analytics.ops_campaign_15min (bucket_start, platform, campaign_id, "
            f"{EVENT_COLUMNS}, updated_at, {SPEND_COLUMNS}) "
            "select coalesce(e.bucket_start, s.bucket_start), coalesce(e.platform, s.platform), "
            "coalesce(e.campaign_id, s.campaign_id), coalesce(e.clicks, 0), coalesce(e.installs, 0), "
            "coalesce(e.signups, 0), cast(? as timestamp), coalesce(s.platform_clicks, 0), "
            "coalesce(s.impressions, 0), case when s.bucket_start is null then 0 else s.spend_usd end, "
            "s.spend_basis from ops_events e full outer join ops_spend s "
            "on e.bucket_start = s.bucket_start and e.platform = s.platform and e.campaign_id = s.campaign_id",
            [at],
        )
        # DuckDB answers an insert with its row count; DB-API drivers (Snowflake) set rowcount.
        written = cur.fetchone()[0] if wh.kind == "duckdb" else cur.rowcount
        cur.execute("commit")
        return int(written or 0)
    except Exception:
        with contextlib.suppress(Exception):
            cur.execute("rollback")
        raise
    finally:
        with contextlib.suppress(Exception):
            cur.execute("drop table if exists ops_events")
            cur.execute("drop table if exists ops_spend")
        cur.close()


@task(**TASK_RETRY, timeout_seconds=600)
@holds_warehouse
def refresh_ops(load_ids: list[str], now: datetime) -> int:
    """Task wrapper of :func:`refresh_ops_table`."""
    return refresh_ops_table(load_ids, now)


@flow(name="ops_refresh", log_prints=True, on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def ops_refresh() -> str:
    """New landing files -> ``raw_events`` -> ``analytics.ops_campaign_15min`` (15-minute buckets)."""
    # Each step takes its own turn on the warehouse (flows/locks.py): behind a long run the
    # refresh waits for that run's current step, not for the run.
    with record_run("ops_refresh") as run:
        events = load_events()
        run.count("events_loaded", events.get("loaded", 0))
        run.count("ops_rows", refresh_ops(list(events.get("load_ids", [])), scheduled_now()))
        # the monitoring rules, every 5 minutes at this run's scheduled time (docs/monitoring.md)
        run.count("alerts_opened", monitor_alerts().get("opened", 0))
    return run.run_id
