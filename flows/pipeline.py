"""The flows StreamRide runs: hourly incremental, restatement lookback, backfill.

"Now" is always the run's logical time: the window end passed in, or the Prefect run's
scheduled time. Nothing here reads the wall clock to decide which data to take.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from connector_sdk.windows import as_utc
from flows import pull_slices
from flows.adjustments import record_adjustments
from flows.close import retry_blocked_closes
from flows.locks import warehouse_step
from flows.monitor import alert_failed_run
from flows.retention import refuse_expired_backfill
from flows.tasks import (
    ATTRIBUTION_TRAILING_DAYS,
    ad_sources,
    attribute,
    build_facts,
    build_mart,
    load_ads,
    load_events,
    publish_mart,
    publish_roi_artifact,
    run_checks,
)
from roi.core.errors import PullsFailed, UserInputError
from roi.core.redact import one_line_error
from roi.core.runs import record_run
from roi.core.warehouse import FACTS_EVENT_LOADS_DDL, table_exists

# Hourly runs refresh "today and yesterday" in each account's time zone; in UTC that spans
# up to three dates (an account 10 h behind UTC is still on yesterday at 09:00 UTC).
HOURLY_AD_DAYS = 2
FX_SOURCE = "fx_rates"
# The platforms restate up to 7 days back by default; the lookback rebuilds that many days.
LOOKBACK_DAYS = 7


def owed_dates(mode: str, logical_time: datetime, start: date | None, end: date | None) -> list[date]:
    """The report dates a pull of ``mode`` covers, generously (account-local days reach one more
    UTC day): what a failed pull leaves owed to the next run."""
    if mode == "backfill" and start is not None and end is not None:
        first, last = start, end
    else:
        last = logical_time.date()
        first = last - timedelta(days=HOURLY_AD_DAYS if mode == "hourly" else LOOKBACK_DAYS + 2)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def pull_ads(
    run: Any, mode: str, logical_time: datetime, start: date | None = None, end: date | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every ad source in turn (FX first); returns the summaries and the failures.

    A source whose pull still fails after its retries (a platform down, a credential revoked)
    does not stop the others: its dates are recorded as owed (``audit.pull_slices``, deferred
    and due at once, so the next run pulls them again) and the run goes on with the rest; the
    flow fails at its end naming it (:func:`raise_failed_pulls`).
    """
    summaries, failures = [], []
    for source in ad_sources():
        # FX is nine small requests: every hourly run refreshes its whole window, so a
        # provisional (not yet published) rate is replaced as soon as the real one exists.
        how = "lookback" if source == FX_SOURCE and mode == "hourly" else mode
        state = load_ads(source, how, logical_time, start=start, end=end, return_state=True)
        if state.is_failed():
            exc = state.result(raise_on_failure=False)
            why = one_line_error(exc) if isinstance(exc, BaseException) else str(state.message)
            with warehouse_step("owe a failed pull") as warehouse:
                pull_slices.owe(
                    warehouse, source, owed_dates(how, logical_time, start, end), logical_time, why
                )
            failures.append(f"{source}: {why}")
            run.count(f"ads_{source}_failed", 1)
            continue
        summary = state.result()
        run.count(f"ads_{source}", summary.get("rows", 0))
        summaries.append(summary)
    return summaries, failures


def raise_failed_pulls(failures: list[str]) -> None:
    """End a run whose other work is done: the failed pulls in one line (their dates are owed)."""
    if failures:
        raise PullsFailed(
            f"ads pull failed for {'; '.join(failures)} (the rest of the run completed; "
            "the next run pulls the owed dates again)"
        )


def logical_end(window_end: datetime | None) -> datetime:
    """The run's logical time: the given window end, else the scheduled time, floored to the hour."""
    if window_end is not None:
        return as_utc(window_end)
    scheduled = flow_run.scheduled_start_time
    ts = datetime.fromisoformat(str(scheduled)) if scheduled is not None else None
    if ts is None:
        raise UserInputError("no window end given and the run has no scheduled time: pass --end")
    return as_utc(ts).replace(minute=0, second=0, microsecond=0)


def first_event_date(load_ids: list[str]) -> date | None:
    """The earliest UTC event date among the rows of these loads (late files reach old days)."""
    if not load_ids:
        return None
    with warehouse_step("first event date") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            marks = ", ".join("?" for _ in load_ids)
            sql = " union all ".join(
                f"select min(cast({col} as date)) from raw_events.{table} where _dlt_load_id in ({marks})"
                for table, col in (
                    ("events", "event_ts"),
                    ("mmp_touches", "touch_ts"),
                    ("skan_postbacks", "received_at"),
                )
            )
            days = [r[0] for r in cur.execute(sql, load_ids * 3).fetchall() if r[0] is not None]
        finally:
            cur.close()
    return min(days) if days else None


def pending_event_loads() -> list[str]:
    """Product-event loads not yet folded into the facts (``audit.facts_event_loads``), oldest first.

    Every loader of ``raw_events`` counts (the hourly run's and ``ops_refresh``'s alike), so a
    file that ops loaded between two hourly runs still reaches the facts, and loads of a run that
    failed before its models finished are picked up by the next one.
    """
    with warehouse_step("pending event loads") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            if not table_exists(cur, "raw_events", "_dlt_loads"):
                return []
            cur.execute(FACTS_EVENT_LOADS_DDL)
            rows = cur.execute(
                "select load_id from raw_events._dlt_loads where status = 0 "
                "and load_id not in (select load_id from audit.facts_event_loads) order by load_id"
            ).fetchall()
        finally:
            cur.close()
    return [str(r[0]) for r in rows]


def mark_event_loads_folded(load_ids: list[str], run_id: str) -> None:
    """Record ``load_ids`` as folded into the facts (after the run's models succeeded)."""
    if not load_ids:
        return
    with warehouse_step("mark event loads folded") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            cur.execute(FACTS_EVENT_LOADS_DDL)
            now = datetime.now(UTC).replace(tzinfo=None)
            cur.executemany(
                "insert into audit.facts_event_loads (load_id, run_id, folded_at) values (?, ?, ?)",
                [(load_id, run_id, now) for load_id in load_ids],
            )
        finally:
            cur.close()


def first_affected_signup_date(start: date) -> date:
    """The earliest sign-up date the last facts build may have changed, at most ``start``.

    ``fact_signups`` re-derives every user with an event in the window, and a late sign-up or
    a merge can move a user's first sign-up to, or away from, a date before the window. The
    attribution and the mart must then redo that date too, or the mart would count the user
    on the old date and the new one.
    """
    with warehouse_step("first affected sign-up date") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            has_attr = table_exists(cur, "analytics", "fact_attribution")
            sql = (
                "select min(signup_date) from analytics.fact_signups "
                "where signup_id in (select user_id from analytics.int_signup_users__affected)"
            )
            if has_attr:
                sql += (
                    " union all select min(signup_date) from analytics.fact_attribution "
                    "where signup_id in (select user_id from analytics.int_signup_users__affected)"
                )
            days: list[date] = [r[0] for r in cur.execute(sql).fetchall() if r[0] is not None]
        finally:
            cur.close()
    return min([start, *days])


def _build_facts(run: Any, start: date, end: date, event_load_ids: list[str] | None = None) -> date:
    """The facts for [start, end), then the earliest sign-up date they changed (see below).

    One turn for both: the facts build leaves the users it re-derived in
    ``int_signup_users__affected``, which another flow's facts build would replace.
    """
    with warehouse_step("facts"):
        run.count("dbt_facts_nodes", build_facts(start, end, event_load_ids))
        return first_affected_signup_date(start)


def _transform(
    run: Any, start: date, end: date, window_end: datetime, event_load_ids: list[str] | None = None
) -> None:
    """Facts -> attribution -> candidate mart for the UTC dates [start, end) -> checks -> the
    published mart (only when every check passed) -> the artifact.

    With ``event_load_ids`` the touchpoints re-derive only the identifiers of those event loads
    (dates still bound spend, sign-ups, attribution and the mart); without, every touch of the window.
    """
    start = _build_facts(run, start, end, event_load_ids)
    attr = attribute(start, end)
    run.count("attribution_rows", attr.get("rows_out", 0))
    run.count("dbt_mart_nodes", build_mart(start, end))
    run.count("checks", run_checks(datetime.combine(start, datetime.min.time(), UTC), window_end))
    run.count("dbt_publish_nodes", publish_mart(start, end))
    run.count("close_adjustments", record_adjustments(window_end.date(), days=(start, end)))  # closed days
    publish_roi_artifact((window_end - timedelta(microseconds=1)).date())


def _transform_folding_event_loads(run: Any, start: date, end: date, window_end: datetime) -> None:
    """:func:`_transform` for the event loads not yet folded into the facts, then marks them folded.

    The dates reach back to the oldest event of those loads (a late file, whether this run or
    ``ops_refresh`` loaded it, reaches an old day); the loads are listed as folded only once
    every model, attribution, the mart and the checks succeeded.
    """
    pending = pending_event_loads()
    run.count("event_loads_folded", len(pending))
    lo = first_event_date(pending)
    if lo is not None:
        start = min(start, lo)
    _transform(run, start, end, window_end, event_load_ids=pending)
    mark_event_loads_folded(pending, run.run_id)


@flow(
    name="hourly_incremental", log_prints=True, on_failure=[alert_failed_run], on_crashed=[alert_failed_run]
)
def hourly_incremental(window_start: datetime | None = None, window_end: datetime | None = None) -> str:
    """Ads (today and yesterday), new landing files, models for the affected dates,
    attribution over its trailing window, the mart, the Soda contracts."""
    end = logical_end(window_end)
    start = as_utc(window_start) if window_start is not None else end - timedelta(hours=1)
    if start >= end:
        raise UserInputError(
            f"window start {start:%Y-%m-%dT%H:%M} is not before its end {end:%Y-%m-%dT%H:%M}"
        )
    with record_run("hourly_incremental", start, end) as run:
        _, failures = pull_ads(run, "hourly", end)
        events = load_events()
        run.count("events_loaded", events.get("loaded", 0))
        end_date = (end - timedelta(microseconds=1)).date() + timedelta(days=1)
        first = min(start.date(), end_date - timedelta(days=HOURLY_AD_DAYS + 1))
        first = min(first, end_date - timedelta(days=ATTRIBUTION_TRAILING_DAYS))
        _transform_folding_event_loads(run, first, end_date, end)
        raise_failed_pulls(failures)
    retry_blocked_closes(end)  # a blocked close closes as soon as its data is fixed
    return run.run_id


@flow(
    name="restatement_lookback", log_prints=True, on_failure=[alert_failed_run], on_crashed=[alert_failed_run]
)
def restatement_lookback(window_end: datetime | None = None) -> str:
    """Daily before the close: re-pull every platform's restatement window, rebuild those days."""
    end = logical_end(window_end)
    end_date = (end - timedelta(microseconds=1)).date() + timedelta(days=1)
    # The connectors pull today and LOOKBACK_DAYS + 1 local days back; in UTC that reaches one more day.
    start_date = end_date - timedelta(days=LOOKBACK_DAYS + 3)
    with record_run("restatement_lookback", datetime.combine(start_date, datetime.min.time()), end) as run:
        summaries, failures = pull_ads(run, "lookback", end)
        for summary in summaries:
            # a platform whose restatement window is longer (Meta 28 days, Apple 30, Impact until
            # LockingDate) widens the rebuild; a local report date reaches one more UTC day back
            if summary.get("first_report_date"):
                pulled = date.fromisoformat(summary["first_report_date"]) - timedelta(days=1)
                start_date = min(start_date, pulled)
        # the lookback re-pulls ads only: touches need re-deriving just for event loads not yet folded
        _transform_folding_event_loads(run, start_date, end_date, end)
        raise_failed_pulls(failures)
    return run.run_id


@flow(name="backfill", log_prints=True, on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def backfill(start: date, end: date) -> str:
    """Whole UTC days [start, end] (both included), one day at a time.

    Re-pulls the ads of each day as an explicit range (never moving incremental state) and
    rebuilds that day's models, attribution and mart. New landing files are left to the
    incremental flows.
    """
    if end < start:
        raise UserInputError(f"backfill end {end} is before its start {start}: swap them")
    # Before any work: data older than the retention period is deleted and must not come back.
    refuse_expired_backfill(start)
    window_start = datetime.combine(start, datetime.min.time(), UTC)
    window_end = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
    with record_run("backfill", window_start, window_end) as run:
        failures: list[str] = []
        day = published_from = start
        while day <= end:
            next_day = day + timedelta(days=1)
            logical = datetime.combine(next_day, datetime.min.time(), UTC)
            # Platforms report in account-local days: UTC day d needs local days d-1..d+1.
            first_local = day - timedelta(days=1) if day == start else day
            # Each step holds the warehouse for itself (flows/locks.py): an ops refresh or an
            # hourly run waits for one step, not for the whole backfill.
            _, failed = pull_ads(run, "backfill", logical, start=first_local, end=next_day)
            failures += failed
            first = _build_facts(run, day, next_day)
            published_from = min(published_from, first)
            attr = attribute(first, next_day)
            run.count("attribution_rows", attr.get("rows_out", 0))
            run.count("dbt_mart_nodes", build_mart(first, next_day))
            day = next_day
        run.count("checks", run_checks(window_start, window_end))
        run.count("dbt_publish_nodes", publish_mart(published_from, end + timedelta(days=1)))
        run.count("close_adjustments", record_adjustments(window_end.date()))  # every closed day
        publish_roi_artifact(end)
        raise_failed_pulls(failures)
    return run.run_id
