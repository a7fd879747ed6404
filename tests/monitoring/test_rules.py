"""Each operational rule fires on one small injected case and stays quiet on the clean version."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flows.close_store import CLOSE_RUNS_DDL
from flows.rules import RULES, Firing, RuleSpec, configured_rules, evaluate
from roi.core.warehouse import get_warehouse
from tests.monitoring.helpers import NOW, add_files, add_runs, add_slices, run_row


def fired(rule: str, now: datetime = NOW, spec: RuleSpec | None = None) -> list[Firing]:
    wh = get_warehouse()
    with wh.session("test rule"):
        cur = wh.connection().cursor()
        try:
            return RULES[rule](cur, now, spec or configured_rules()[rule])
        finally:
            cur.close()


def keys(firings: list[Firing]) -> list[str]:
    return [f.key for f in firings]


def test_pull_failing_two_failed_runs_in_a_row(wh: Any) -> None:
    failed = {"ads_meta_ads_failed": 1, "ads_google_ads": 10}
    add_runs(wh, [run_row("hourly_incremental", NOW - timedelta(hours=1), "failed", failed)])
    add_slices(wh, "meta_ads", "deferred", NOW - timedelta(hours=1), "HTTP 503")
    assert fired("pull_failing") == []  # one failed run is not yet an alert
    add_runs(wh, [run_row("hourly_incremental", NOW, "failed", failed)])
    wh.execute("update audit.pull_slices set logical_time = ?", [NOW])  # owe() rewrites the slice
    (f,) = fired("pull_failing")
    assert (
        f.key == "meta_ads" and f.numbers["failed_runs_in_a_row"] == 2 and f.numbers["detail"] == "HTTP 503"
    )


def test_pull_failing_is_quiet_once_a_pull_got_through(wh: Any) -> None:
    add_runs(
        wh,
        [
            run_row("hourly_incremental", NOW - timedelta(hours=1), "failed", {"ads_meta_ads_failed": 1}),
            run_row("hourly_incremental", NOW, "succeeded", {"ads_meta_ads": 5}),
        ],
    )
    add_slices(wh, "meta_ads", "complete", NOW)
    assert fired("pull_failing") == []


def test_pull_failing_a_deferral_waiting_for_two_runs(wh: Any) -> None:
    add_slices(wh, "tiktok_ads", "deferred", NOW - timedelta(hours=1), "rate limited")
    add_runs(wh, [run_row("hourly_incremental", NOW - timedelta(hours=1))])
    assert fired("pull_failing") == []
    add_runs(wh, [run_row("hourly_incremental", NOW)])
    assert keys(fired("pull_failing")) == ["tiktok_ads"]
    # a per-platform override in the YAML asks for more runs
    base = configured_rules()["pull_failing"]
    patient = RuleSpec(base.name, base.params, {"tiktok_ads": {"runs": 3}})
    assert fired("pull_failing", spec=patient) == []


def test_close_at_risk_after_0545_only_for_days_not_closed(wh: Any) -> None:
    add_runs(wh, [run_row("hourly_incremental", datetime(2026, 11, 18, 1))])
    wh.execute(CLOSE_RUNS_DDL)
    closed = "insert into audit.close_runs values (?, ?, 1, 'closed', false, 'schedule', null, ?, ?, null, 'ok', '[]', '{}', '{}')"
    wh.execute(
        closed, ["c18", datetime(2026, 11, 18).date(), datetime(2026, 11, 19, 5), datetime(2026, 11, 19, 5)]
    )
    assert fired("close_at_risk", datetime(2026, 11, 20, 5, 40)) == []  # before the deadline
    (f,) = fired("close_at_risk", datetime(2026, 11, 20, 5, 50))
    assert f.key == "2026-11-19" and f.numbers["minutes_past_deadline"] == 5
    wh.execute(
        closed, ["c19", datetime(2026, 11, 19).date(), datetime(2026, 11, 20, 5), datetime(2026, 11, 20, 5)]
    )
    assert fired("close_at_risk", datetime(2026, 11, 20, 5, 50)) == []


def test_close_at_risk_is_quiet_before_the_pipeline_ran(wh: Any) -> None:
    assert fired("close_at_risk", datetime(2026, 11, 20, 7)) == []


def test_failed_flow_run_until_the_flow_succeeds_again(wh: Any) -> None:
    add_runs(
        wh,
        [
            run_row("close_daily", NOW - timedelta(hours=1)),
            run_row("hourly_incremental", NOW, "failed", error="boom"),
        ],
    )
    (f,) = fired("failed_flow_run")
    assert f.key == "hourly_incremental" and f.numbers["error"] == "boom"
    add_runs(wh, [run_row("hourly_incremental", NOW + timedelta(hours=1))])
    assert fired("failed_flow_run", NOW + timedelta(hours=2)) == []


def _dead_letters(wh: Any, day: str, n: int, replayed: bool = False) -> None:
    rows = [(f"events/dt={day}/a.jsonl", i, NOW if replayed else None) for i in range(n)]
    wh.many("insert into raw_events.dead_letters values (?, ?, ?)", rows)


def test_dead_letter_rate_above_the_close_ceiling(wh: Any) -> None:
    wh.execute(
        "insert into raw_events.landing_manifest values ('events/dt=2026-11-20/a.jsonl', ?, 1000)", [NOW]
    )
    _dead_letters(wh, "2026-11-20", 5)
    _dead_letters(wh, "2026-11-19", 500)  # another day's
    _dead_letters(wh, "2026-11-20", 50, replayed=True)  # replayed: no longer dead
    assert fired("dead_letter_rate") == []  # 0.5% < 1%
    _dead_letters(wh, "2026-11-20", 15)
    (f,) = fired("dead_letter_rate")
    assert f.numbers == {
        "day": "2026-11-20",
        "dead_letters": 20,
        "lines_read": 1000,
        "rate": 0.02,
        "ceiling": 0.01,
    }


def test_landing_stall_when_files_stop_arriving(wh: Any) -> None:
    add_files(wh, NOW - timedelta(minutes=60), NOW - timedelta(minutes=12))
    (f,) = fired("landing_stall")
    assert f.key == "events" and f.numbers["minutes_quiet"] == 12


def test_landing_stall_quiet_while_files_arrive_or_when_none_were_arriving(wh: Any) -> None:
    assert fired("landing_stall") == []  # nothing was arriving: a quiet night is no stall
    add_files(wh, NOW - timedelta(minutes=60), NOW - timedelta(minutes=2))
    assert fired("landing_stall") == []


def test_erasure_overdue_quiet_without_its_table_then_fires_after_48_hours(wh: Any) -> None:
    assert fired("erasure_overdue") == []
    wh.execute(
        "create table audit.erasure_requests (request_id varchar, requested_at timestamp, completed_at timestamp)"
    )
    wh.execute("insert into audit.erasure_requests values ('r1', ?, null), ('r2', ?, null), ('r3', ?, ?)", [
        NOW - timedelta(hours=50), NOW - timedelta(hours=47), NOW - timedelta(hours=60), NOW - timedelta(hours=1)])  # fmt: skip
    (f,) = fired("erasure_overdue")
    assert f.key == "r1" and f.numbers["open_hours"] == 50.0


def test_a_rule_that_errors_is_reported_not_silent(wh: Any) -> None:
    wh.execute("drop table raw_events.landing_manifest")
    wh.execute("create table raw_events.landing_manifest (file_key varchar)")  # no modified_at
    with get_warehouse().session("test"):
        cur = get_warehouse().connection().cursor()
        results = evaluate(cur, NOW, configured_rules())
        cur.close()
    assert isinstance(results["landing_stall"], str) and results["failed_flow_run"] == []
