"""The finance close on a small world built by the real flows (tests/close/conftest.py).

The tests run in file order on one world: 10-26 is closed (v1), every gate is broken on 10-25
in turn (each attempt blocked, naming the gate), 10-25 is retried past its deadline (late),
then closed; 10-26 is closed again (v2); a restatement of 10-26 then becomes a dated
adjustment, and closed + adjustments = the mart. Each test restores the tables it breaks.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from flows import gates, reconciliation
from flows.adjustments import adjustment_mismatches, record_adjustments
from flows.close import attempt_close, close_daily, retry_blocked_closes
from flows.close_store import close_status
from flows.gates import GATE_NAMES, GateResult
from flows.pipeline import _transform, hourly_incremental
from flows.published import Published, published
from roi.cli import main
from roi.core.runs import record_run
from roi.core.settings import reset_settings
from tests.close.conftest import World

# The slower tier (make slower, run by .ci/run): a world through two real hourly runs, kept out of
# make test's budget; make test closes every day of the e2e history against the truth.
pytestmark = pytest.mark.slower

D1 = date(2026, 10, 25)
D2 = date(2026, 10, 26)
D1_CLOSE = datetime(2026, 10, 26, 5)  # 05:00 of D1 + 1: the scheduled close, before the deadline
D2_CLOSE = datetime(2026, 10, 27, 5)

PUBLISHED_CELLS = f"""
select platform, campaign_id, spend_usd, signups, modeled_signups, revenue_usd
from analytics.mart_marketing_roi_daily where report_date = ? and {Published.MART_FILTER}
order by platform, campaign_id
"""


def _mart(world: World, day: date) -> list[tuple[Any, ...]]:
    return world.rows(PUBLISHED_CELLS, [day, *published().params()])


def _closed(world: World, day: date, version: int) -> list[tuple[Any, ...]]:
    return world.rows(
        "select platform, campaign_id, spend_usd, signups, modeled_signups, revenue_usd "
        "from analytics.mart_marketing_roi_closed where report_date = ? and close_version = ? "
        "order by platform, campaign_id",
        [day, version],
    )


def _attempt(world: World, close_id: str) -> dict[str, Any]:
    row = world.rows(
        "select outcome, late, blocked_by, message, gates, published, inputs, close_version "
        "from audit.close_runs where close_id = ?",
        [close_id],
    )[0]
    keys = ("outcome", "late", "blocked_by", "message", "gates", "published", "inputs", "close_version")
    out = dict(zip(keys, row, strict=True))
    for k in ("gates", "published", "inputs"):
        out[k] = json.loads(out[k])
    return out


@pytest.fixture
def soda_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Soda gate passes without running the contracts (they ran for real in the first test):
    the other gates' tests then cost a second each instead of a contract suite."""
    monkeypatch.setattr(gates, "gate_soda", lambda day: GateResult("soda", True, "stubbed in this test", {}))


# -- 1. a close ---------------------------------------------------------------------------------


def test_close_daily_freezes_yesterdays_published_mart_with_local_spend_and_inputs(world: World) -> None:
    out = close_daily(logical_time=D2_CLOSE)  # no day: yesterday of the logical time
    assert (out["report_date"], out["outcome"], out["close_version"], out["late"]) == (
        D2.isoformat(),
        "closed",
        1,
        False,
    )
    mart = _mart(world, D2)
    assert mart and _closed(world, D2, 1) == mart
    # spend_local and currency per row, from fact_ad_spend per platform x campaign
    local = world.rows(
        "select platform, campaign_id, sum(spend_local), min(currency) from analytics.fact_ad_spend "
        "where spend_date = ? group by all order by 1, 2",
        [D2],
    )
    frozen = world.rows(
        "select platform, campaign_id, spend_local, currency from analytics.mart_marketing_roi_closed "
        "where report_date = ? and spend_local is not null order by 1, 2",
        [D2],
    )
    assert frozen == local
    pub = published()
    (hash_,) = world.rows(
        "select distinct attribution_config_hash from analytics.mart_marketing_roi_closed where report_date = ?",
        [D2],
    )[0]
    assert hash_ == pub.attribution_config_hash
    audit = _attempt(world, out["close_id"])
    assert [g["gate"] for g in audit["gates"]] == list(GATE_NAMES)
    assert all(g["passed"] for g in audit["gates"]), audit["gates"]
    assert audit["published"]["attribution_version"] == pub.attribution_version
    assert set(audit["inputs"]["raw_loads"]) == {r[0] for r in local}
    assert audit["inputs"]["landing_files"] > 0 and audit["inputs"]["last_landing_arrival"]
    kinds = {
        r[0] for r in world.rows("select kind from audit.close_inputs where close_id = ?", [out["close_id"]])
    }
    assert {"raw_load", "landing_file", "skan_watermark"} <= kinds
    assert "postbacks received so far" in audit["inputs"]["skan_watermark"]


# -- 2. each gate fails -------------------------------------------------------------------------


def _backup(world: World, table: str) -> Callable[[], None]:
    """Copy ``table``; the returned function puts the copy back."""
    copy = "test_backup_" + table.replace(".", "_")
    world.execute(f"create or replace table main.{copy} as select * from {table}")

    def restore() -> None:
        world.execute(f"delete from {table}")
        world.execute(f"insert into {table} select * from main.{copy}")
        world.execute(f"drop table main.{copy}")

    return restore


def _break_soda(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    restore = _backup(world, "analytics.fact_ad_spend")  # a duplicate spend_key fails the contract
    world.execute(
        "insert into analytics.fact_ad_spend select * from analytics.fact_ad_spend "
        "where spend_date = ? order by spend_key limit 1",
        [D1],
    )
    return restore


def _break_pulls(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    restore = _backup(world, "audit.pull_slices")
    world.execute(
        "update audit.pull_slices set status = 'partial' where report_date = ? and platform = 'google_ads'",
        [D1],
    )
    return restore


def _break_raw_match(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    restore = _backup(world, "analytics.fact_ad_spend")
    world.execute(
        "update analytics.fact_ad_spend set spend_local = spend_local + 1 where spend_key = "
        "(select min(spend_key) from analytics.fact_ad_spend where spend_date = ?)",
        [D1],
    )
    return restore


def _break_account_totals(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    mismatch = {
        "platform": "google_ads",
        "account_id": "7262923098",
        "local_date": D1,
        "metric": "spend_micros",
        "fine": 277_980_000,
        "coarse": 280_000_000,
        "currency": "GBP",
    }
    mp.setattr(reconciliation, "account_day_mismatches", lambda cur, day: [mismatch])
    return lambda: None


def _one_row_signups(world: World, n: int) -> list[str]:
    return [
        r[0]
        for r in world.rows(
            "select a.signup_id from analytics.fact_attribution as a join analytics.fact_signups as s "
            "using (signup_id) where s.signup_date = ? and a.attribution_version = ? "
            "group by a.signup_id having count(*) = 1 order by 1 limit ?",
            [D1, published().attribution_version, n],
        )
    ]


def _break_conservation(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    restore = _backup(world, "analytics.fact_attribution")
    (lost,) = _one_row_signups(world, 1)  # a sign-up that lost its attribution row
    world.execute("delete from analytics.fact_attribution where signup_id = ?", [lost])
    return restore


def _break_credit(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    restore = _backup(world, "analytics.fact_attribution")
    a, b = _one_row_signups(world, 2)  # 0.5 + 1.5: the day's total stays, each sign-up is off
    world.execute("update analytics.fact_attribution set credit = 0.5 where signup_id = ?", [a])
    world.execute("update analytics.fact_attribution set credit = 1.5 where signup_id = ?", [b])
    return restore


def _break_fx(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    restore = _backup(world, "analytics.fact_ad_spend")
    world.execute(
        "update analytics.fact_ad_spend set spend_usd = null, fx_rate_date = null where spend_key = "
        "(select min(spend_key) from analytics.fact_ad_spend where spend_date = ? and currency <> 'USD')",
        [D1],
    )
    return restore


def _settings(mp: pytest.MonkeyPatch, name: str, value: str) -> Callable[[], None]:
    mp.setenv(name, value)
    reset_settings()

    def restore() -> None:
        mp.delenv(name)
        reset_settings()

    return restore


def _break_dead_letters(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    # the day's real rate is about 0.1 %: a ceiling of 0.05 % is below it
    return _settings(mp, "ROI_DEAD_LETTER_CEILING", "0.0005")


def _break_deferred(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    restore = _backup(world, "audit.pull_slices")
    world.execute(
        "insert into audit.pull_slices (platform, account_id, report_date, status, resume_after, "
        "logical_time, recorded_at) values ('meta_ads', '*', ?, 'deferred', ?, ?, ?)",
        [D1, datetime(2026, 10, 26, 12), D1_CLOSE, D1_CLOSE],
    )
    return restore


def _break_mart_published(world: World, mp: pytest.MonkeyPatch) -> Callable[[], None]:
    # a published config no run has built: the published mart slice of the day is empty
    return _settings(mp, "ROI_DEFAULT_ATTRIBUTION_CONFIG", "position_based_v1")


BREAKERS: dict[str, Callable[[World, pytest.MonkeyPatch], Callable[[], None]]] = {
    "soda": _break_soda,
    "mart_published": _break_mart_published,
    "pulls_complete": _break_pulls,
    "spend_matches_raw": _break_raw_match,
    "account_totals": _break_account_totals,
    "signups_conserved": _break_conservation,
    "credit_sums_to_one": _break_credit,
    "fx_present": _break_fx,
    "dead_letters_below_ceiling": _break_dead_letters,
    "no_deferred_pulls": _break_deferred,
}


def test_every_gate_is_tested() -> None:
    assert set(BREAKERS) == set(GATE_NAMES)


@pytest.mark.parametrize("gate", list(BREAKERS))
def test_a_failing_gate_blocks_the_close_and_names_the_gate(
    world: World, gate: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if gate != "soda":
        request.getfixturevalue("soda_passed")
    restore = BREAKERS[gate](world, monkeypatch)
    try:
        out = attempt_close(D1, D1_CLOSE)
    finally:
        restore()
    assert (out.outcome, out.close_version, out.late) == ("blocked", None, False)
    assert out.message.startswith(f"close of {D1} blocked by gate {gate}: "), out.message
    assert "\n" not in out.message and any(ch.isdigit() for ch in out.message.split(gate, 1)[1])
    audit = _attempt(world, out.close_id)
    assert audit["blocked_by"] == gate and audit["outcome"] == "blocked"
    assert [g["gate"] for g in audit["gates"] if not g["passed"]][0] == gate
    assert _closed(world, D1, 1) == []  # the closed table is untouched


def test_a_blocked_close_is_retried_recorded_late_then_closed(world: World, soda_passed: None) -> None:
    # still broken after the 06:00 deadline: the hourly retry records it late
    restore = _break_pulls(world, pytest.MonkeyPatch())
    try:
        blocked = attempt_close(D1, D1_CLOSE)
        late = retry_blocked_closes(datetime(2026, 10, 26, 7))
    finally:
        restore()
    assert blocked.outcome == "blocked"
    assert [(o.report_date, o.outcome, o.late) for o in late] == [(D1, "late", True)]
    assert "gate pulls_complete" in late[0].message
    # fixed: the next hourly retry closes it, after the deadline
    closed = retry_blocked_closes(datetime(2026, 10, 26, 8))
    assert [(o.report_date, o.outcome, o.close_version, o.late) for o in closed] == [(D1, "closed", 1, True)]
    assert _closed(world, D1, 1) == _mart(world, D1)
    assert retry_blocked_closes(datetime(2026, 10, 26, 9)) == []  # nothing open any more
    # the hourly run ends with the retry (the hook a user relies on)
    assert "retry_blocked_closes(end)" in inspect.getsource(hourly_incremental.fn)


# -- 3. re-close -------------------------------------------------------------------------------


def test_reclose_needs_a_reason_and_makes_version_2_beside_version_1(world: World, soda_passed: None) -> None:
    v1 = world.rows(
        "select * from analytics.mart_marketing_roi_closed where report_date = ? and close_version = 1 "
        "order by platform, campaign_id",
        [D2],
    )
    again = attempt_close(D2, datetime(2026, 10, 27, 9))
    assert again.outcome == "already_closed" and "--reason" in again.message
    out = attempt_close(D2, datetime(2026, 10, 27, 9), reason="Meta restated 10-26")
    assert (out.outcome, out.close_version) == ("closed", 2)
    assert _closed(world, D2, 2) == _mart(world, D2)
    assert v1 == world.rows(
        "select * from analytics.mart_marketing_roi_closed where report_date = ? and close_version = 1 "
        "order by platform, campaign_id",
        [D2],
    )
    (reason,) = world.rows("select reason from audit.close_runs where close_id = ?", [out.close_id])[0]
    assert reason == "Meta restated 10-26"


# -- 4. adjustments ----------------------------------------------------------------------------


def _restate_one_raw_row(world: World, day: date, micros: int) -> tuple[str, str]:
    """Add ``micros`` to one raw Google Ads row whose UTC date is ``day``; returns its (platform, campaign)."""
    acct, camp, grp, ad, rdate, rhour = world.rows(
        "select account_id, campaign_id, ad_group_id, ad_id, report_date, report_hour "
        "from analytics.stg_google_ads__ad_performance where spend_date = ? and spend_local > 0 "
        "order by 1, 2, 3, 4, 5, 6 limit 1",
        [day],
    )[0]
    world.execute(
        "update raw_ads.google_ads__ad_performance set cost_micros = cost_micros + ? where account_id = ? "
        "and campaign_id = ? and ad_group_id = ? and ad_id = ? and report_date = ? and report_hour = ?",
        [micros, acct, camp, grp, ad, rdate, rhour],
    )
    return "google_ads", str(camp)


def test_a_restatement_after_the_close_becomes_a_dated_adjustment_and_the_invariant_holds(
    world: World,
) -> None:
    platform, campaign = _restate_one_raw_row(world, D2, 2_500_000)  # +2.50 in the account's currency
    end = datetime(2026, 10, 27, 6, tzinfo=UTC)
    with record_run("test_restatement", end, end) as run:
        _transform(run, D2, date(2026, 10, 27), end)  # the flows' own path: facts, attribution, mart, hook
    rows = world.rows(
        "select adjusted_on, platform, campaign_id, cause, delta_spend_local, delta_spend_usd, currency, "
        "delta_signups from analytics.mart_marketing_roi_adjustments a join audit.close_runs c using (close_id) "
        "where a.report_date = ? and c.close_version = 2",
        [D2],
    )
    restated = [r for r in rows if r[3] == "ad_restatement"]
    assert [(r[0], r[1], r[2], r[4]) for r in restated] == [
        (date(2026, 10, 27), platform, campaign, Decimal("2.5"))
    ]
    assert restated[0][5] > 0 and restated[0][6] is not None
    with world.warehouse.session("test"):
        cur = world.warehouse.connection().cursor()
        assert adjustment_mismatches(cur) == []  # closed v2 + Σ adjustments = current mart
        cur.close()
    # closed versions never change
    assert _closed(world, D2, 2) != _mart(world, D2)
    # a rerun that changes nothing writes nothing
    before = world.rows("select count(*), sum(delta_spend_usd) from analytics.mart_marketing_roi_adjustments")
    assert record_adjustments(date(2026, 10, 27)) == 0
    assert (
        world.rows("select count(*), sum(delta_spend_usd) from analytics.mart_marketing_roi_adjustments")
        == before
    )


def test_the_invariant_check_catches_a_lost_adjustment(world: World) -> None:
    restore = _backup(world, "analytics.mart_marketing_roi_adjustments")
    try:
        world.execute("delete from analytics.mart_marketing_roi_adjustments where cause = 'ad_restatement'")
        with world.warehouse.session("test"):
            cur = world.warehouse.connection().cursor()
            broken = adjustment_mismatches(cur)
            cur.close()
    finally:
        restore()
    assert broken and {b["report_date"] for b in broken} == {D2}


# -- 5. status ---------------------------------------------------------------------------------


def test_status_shows_each_day_closed_blocked_late_or_not_attempted(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    with world.warehouse.session("test"):
        cur = world.warehouse.connection().cursor()
        rows = {
            r.report_date: r for r in close_status(cur, date(2026, 10, 23), D2, datetime(2026, 10, 27, 6))
        }
        cur.close()
    assert (rows[D2].state, rows[D2].version) == ("closed", 2)
    assert (rows[D1].state, rows[D1].version) == ("closed late", 1)
    assert rows[date(2026, 10, 24)].state == "late"  # never attempted, deadline passed
    assert main(["close", "status", "--days", "3"]) == 0
    out = capsys.readouterr().out
    assert "closed late" in out and "2026-10-26" in out and "2026-10-24" in out


def test_cli_close_validates_and_reports_an_already_closed_day(
    capsys: pytest.CaptureFixture[str], world: World
) -> None:
    assert main(["close", "--date", "2026-02-30"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --date '2026-02-30' is not a date")
    assert main(["close", "status", "--days", "0"]) == 2
    assert main(["close", "--date", D2.isoformat()]) == 0
    assert "already closed (version 2)" in capsys.readouterr().out


# -- 6. another attribution config changes no closed number -----------------------------------


def test_a_non_default_attribution_run_changes_no_close_nor_adjustment(
    world: World, soda_passed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manual linear_v1 run over a closed day reaches the mart as its own version; the close
    reads the published one: no adjustment is written and a re-close freezes the same numbers."""
    from datetime import timedelta

    # the restatement test above changed a fine raw row without its coarse total: not this test's subject
    monkeypatch.setattr(reconciliation, "account_day_mismatches", lambda cur, day: [])

    from attribution.store import run_attribution
    from flows.dbt_runner import build_mart

    (latest,) = world.rows(
        "select max(close_version) from analytics.mart_marketing_roi_closed where report_date = ?", [D2]
    )[0]
    before_adjustments = world.rows("select count(*) from analytics.mart_marketing_roi_adjustments")
    published_before = _mart(world, D2)
    linear = run_attribution(world.warehouse.connection(), D2, D2, "linear_v1")
    build_mart(D2, D2 + timedelta(days=1))
    versions = {
        r[0]
        for r in world.rows(
            "select distinct attribution_version from analytics.mart_marketing_roi_daily where report_date = ?",
            [D2],
        )
    }
    assert (
        linear.attribution_version in versions
        and linear.attribution_version != published().attribution_version
    )
    assert record_adjustments(D2 + timedelta(days=1), days=(D2, D2 + timedelta(days=1))) == 0
    assert world.rows("select count(*) from analytics.mart_marketing_roi_adjustments") == before_adjustments
    out = attempt_close(D2, datetime(2026, 10, 27, 10), reason="after a linear_v1 run")
    assert out.outcome == "closed" and out.close_version == latest + 1, out.message
    assert _mart(world, D2) == published_before
    assert _closed(world, D2, latest + 1) == published_before
