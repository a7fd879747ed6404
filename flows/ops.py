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

from datetime import UTC, datetime
from typing import Any

from prefect import flow, task

from flows.common import TASK_RETRY
from flows.locks import holds_warehouse
from flows.monitor import alert_failed_run, monitor_alerts
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
    updated_at timestamp not null
)
"""

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


def refresh_ops_table(load_ids: list[str], now: datetime | None = None) -> int:
    """Recompute the ops buckets of the UTC days the given loads touched; returns rows written."""
    if not load_ids:
        return 0
    wh = get_warehouse()
    cur = wh.connection().cursor()
    try:
        cur.execute(OPS_DDL)
        ids = ", ".join("'" + i.replace("'", "''") + "'" for i in load_ids)
        sql = _OPS_SQL.format(load_ids=ids, utm_platform=_utm_platform(cur), bucket=_bucket_expr(wh.kind))
        updated = (now or datetime.now(UTC)).replace(tzinfo=None)
        days = [
            r[0]
            for r in cur.execute(
                f"select distinct cast(event_ts as date) from raw_events.events where _dlt_load_id in ({ids}) "
                f"union select distinct cast(touch_ts as date) from raw_events.mmp_touches where _dlt_load_id in ({ids})"
            ).fetchall()
        ]
        cur.execute("begin transaction")
        for d in days:
            cur.execute("delete from analytics.ops_campaign_15min where cast(bucket_start as date) = ?", [d])
        cur.execute(
            f"insert into analytics.ops_campaign_15min select *, cast(? as timestamp) from ({sql})", [updated]
        )
        # DuckDB answers an insert with its row count; DB-API drivers (Snowflake) set rowcount.
        written = cur.fetchone()[0] if wh.kind == "duckdb" else cur.rowcount
        cur.execute("commit")
        return int(written or 0)
    except Exception:
        cur.execute("rollback")
        raise
    finally:
        cur.close()


@task(**TASK_RETRY, timeout_seconds=600)
@holds_warehouse
def refresh_ops(load_ids: list[str]) -> int:
    """Task wrapper of :func:`refresh_ops_table`."""
    return refresh_ops_table(load_ids)


@flow(name="ops_refresh", log_prints=True, on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def ops_refresh() -> str:
    """New landing files -> ``raw_events`` -> ``analytics.ops_campaign_15min`` (15-minute buckets)."""
    # Each step takes its own turn on the warehouse (flows/locks.py): behind a long run the
    # refresh waits for that run's current step, not for the run.
    with record_run("ops_refresh") as run:
        events = load_events()
        run.count("events_loaded", events.get("loaded", 0))
        run.count("ops_rows", refresh_ops(list(events.get("load_ids", []))))
        # the monitoring rules, every 5 minutes at this run's scheduled time (docs/monitoring.md)
        run.count("alerts_opened", monitor_alerts().get("opened", 0))
    return run.run_id
