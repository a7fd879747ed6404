"""Each anomaly rule fires on one small injected incident and stays quiet on the clean version.

The data is :mod:`tests.monitoring.ops_world`: five weeks of an ops table with seeded noise; an
incident changes one signal of some keys from a start time on. The rules read the table at
``NOW`` (the run's logical time), spend up to the hour before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from flows.alerts import apply, ensure_table
from flows.rules import RULES, Firing, configured_rules
from roi.core.warehouse import get_warehouse
from tests.monitoring.ops_world import NOW, SHAPE, SPEND_PER_HOUR, Incident, load_budgets, load_ops, ops_rows

ANOMALIES = ("spend_spike", "spend_drop", "cac_spike", "signups_drop", "tracking_break", "overspend")
LAST_HOUR = NOW.replace(minute=0) - timedelta(hours=1)  # the latest reported spend hour
# A normal day's spend per campaign is SPEND_PER_HOUR * 24; budgets a third above it.
BUDGET = SPEND_PER_HOUR * 24 * 1.33


def fired(rule: str, now: datetime = NOW) -> list[Firing]:
    wh = get_warehouse()
    with wh.session("test rule"):
        cur = wh.connection().cursor()
        try:
            return RULES[rule](cur, now, configured_rules()[rule])
        finally:
            cur.close()


def all_fired(now: datetime = NOW) -> dict[str, list[str]]:
    return {rule: sorted(f.key for f in fired(rule, now)) for rule in ANOMALIES}


@pytest.fixture
def world(wh: Any) -> Any:
    load_budgets({("google_ads", "g1"): BUDGET, ("google_ads", "g2"): BUDGET, ("meta_ads", "m1"): BUDGET})
    return wh


def test_the_clean_world_fires_no_anomaly_at_any_hour_of_a_day(world: Any) -> None:
    load_ops(ops_rows())
    for hours in range(0, 24, 3):
        now = NOW - timedelta(hours=hours)
        assert all_fired(now) == {rule: [] for rule in ANOMALIES}, now


@pytest.mark.parametrize(
    ("rule", "incident", "expected"),
    [
        ("spend_spike", Incident("spend", 5.0, LAST_HOUR, campaign="g1"), ["google_ads:g1"]),
        ("spend_drop", Incident("spend", 0.1, LAST_HOUR, campaign="m1"), ["meta_ads:m1"]),
        (
            "cac_spike",
            Incident("spend", 5.0, LAST_HOUR - timedelta(hours=1), campaign="t1"),
            ["tiktok_ads:t1"],
        ),
        (
            "signups_drop",
            Incident("signups", 0.5, NOW - timedelta(minutes=12)),
            # half the sign-ups everywhere: the total and Google (two campaigns) hold enough sign-ups
            # in ten minutes to tell at 4 sigma; Meta's and TikTok's ~30 each do not (quiet there)
            ["all", "google_ads"],
        ),
        (
            "tracking_break",
            Incident("attributed", 0.0, NOW - timedelta(minutes=12), platform="meta_ads"),
            ["meta_ads"],
        ),
        (
            "overspend",
            Incident("spend", 5.0, LAST_HOUR - timedelta(hours=2), campaign="g2"),
            ["google_ads:g2"],
        ),
    ],
)
def test_each_rule_fires_on_its_incident(
    world: Any, rule: str, incident: Incident, expected: list[str]
) -> None:
    load_ops(ops_rows(incidents=(incident,)))
    firings = fired(rule)
    assert sorted(f.key for f in firings) == expected
    assert all(f.numbers for f in firings)
    # the same data without the incident is quiet
    load_ops(ops_rows())
    assert fired(rule) == []


def test_a_spend_drop_to_nothing_is_a_drop(world: Any) -> None:
    """A campaign that stops spending has no spend rows at all (Google leaves out all-zero rows)."""
    load_ops(ops_rows(incidents=(Incident("spend", 0.0, LAST_HOUR, campaign="g2"),)))
    assert [f.key for f in fired("spend_drop")] == ["google_ads:g2"]


def test_overspend_once_the_budget_is_spent_even_at_a_normal_pace(world: Any) -> None:
    load_ops(ops_rows())
    load_budgets({("google_ads", "g1"): SPEND_PER_HOUR * 3})
    (firing,) = fired("overspend")
    assert firing.key == "google_ads:g1"
    assert firing.numbers["spent_today_usd"] > firing.numbers["daily_budget_usd"] * 1.2
    load_budgets({})
    assert fired("overspend") == []


def test_a_young_history_falls_back_to_the_days_before_then_to_silence(world: Any) -> None:
    incident = (Incident("signups", 0.5, NOW - timedelta(minutes=12)),)
    load_ops(ops_rows(days=5, incidents=incident))
    (firing,) = [f for f in fired("signups_drop") if f.key == "all"]
    assert firing.numbers["baseline_basis"] == "day"
    load_ops(ops_rows(days=1, incidents=incident))
    assert fired("signups_drop") == []


def test_a_young_history_compares_a_weekend_with_weekend_days_only(world: Any) -> None:
    """Nine days of history (one week back: too young for the weekday baseline) and weekends at
    55 % of a weekday: a Saturday compared with the weekdays before it looked like a sign-ups
    drop (bench_alerts found it every young weekend). The days-before baseline takes days of the
    same kind only, so a Saturday with one weekend day behind it stays quiet; a Friday still
    compares with the weekdays before it."""
    saturday = NOW + timedelta(days=1)
    load_ops(ops_rows(now=saturday, days=9, weekend=0.55))
    assert fired("signups_drop", saturday) == []
    incident = (Incident("signups", 0.5, NOW - timedelta(minutes=12)),)
    load_ops(ops_rows(days=9, weekend=0.55, incidents=incident))
    (firing,) = [f for f in fired("signups_drop") if f.key == "all"]
    assert firing.numbers["baseline_basis"] == "day"


def test_a_few_sign_ups_short_is_noise_not_a_cac_spike(world: Any) -> None:
    """A small campaign buying ~12 sign-ups in two hours that gets a third of them (its CAC ~3x)
    is what chance gives one campaign-hour in hundreds: bench_alerts saw 770 such alerts in 15
    days. The CAC rule needs the shortfall of sign-ups against what the spend buys at the
    baseline CAC to be beyond Poisson noise (``z``), as a runaway's is (the parametrised test)."""
    small = Incident("signups", 0.03, NOW - timedelta(days=60), campaign="t1")  # ~12 per 2 h at noon
    dip = Incident("signups", 0.33, LAST_HOUR - timedelta(hours=1), campaign="t1")
    load_ops(ops_rows(incidents=(small, dip)))
    assert fired("cac_spike") == []


def test_one_alert_per_incident_while_the_signal_wavers(world: Any) -> None:
    """Open at half the sign-ups; still open at 75 % (above the opening ratio, below the resolving one)."""
    specs = {"signups_drop": configured_rules()["signups_drop"]}
    wh = get_warehouse()

    def evaluate(now: datetime) -> dict[str, int]:
        with wh.session("test apply"):
            cur = wh.connection().cursor()
            try:
                ensure_table(cur)
                return apply(
                    cur, specs, {"signups_drop": RULES["signups_drop"](cur, now, specs["signups_drop"])}, now
                )
            finally:
                cur.close()

    start = NOW - timedelta(minutes=40)
    load_ops(
        ops_rows(
            incidents=(
                Incident("signups", 0.5, start, NOW - timedelta(minutes=20)),
                Incident("signups", 0.75, NOW - timedelta(minutes=20)),
            )
        )
    )
    assert evaluate(NOW - timedelta(minutes=25))["opened"] >= 1
    assert evaluate(NOW)["opened"] == 0
    assert [f.key for f in fired("signups_drop")], "a 75 % level keeps the open alert open"
    load_ops(ops_rows(incidents=(Incident("signups", 0.5, start, NOW - timedelta(minutes=20)),)))
    assert evaluate(NOW)["resolved"] >= 1


def test_spend_rules_skip_a_platform_whose_latest_hour_is_stale(world: Any) -> None:
    """A platform not reported for hours is the pull rule's business, not a spend drop."""
    frame = ops_rows(incidents=(Incident("spend", 0.1, LAST_HOUR, campaign="m1"),))
    stale = frame.filter(
        (frame["platform"] == "meta_ads") & (frame["bucket_start"] >= NOW - timedelta(hours=7))
    ).with_columns(spend_usd=0.0, spend_basis=None)
    fresh = frame.filter(
        ~((frame["platform"] == "meta_ads") & (frame["bucket_start"] >= NOW - timedelta(hours=7)))
    )
    load_ops(fresh.vstack(stale.select(fresh.columns)))
    assert fired("spend_drop") == []


def test_the_shape_has_quiet_nights() -> None:
    """The synthetic world's premise: the rules must cope with a 8x day/night swing."""
    assert SHAPE.max() / SHAPE.min() > 8
