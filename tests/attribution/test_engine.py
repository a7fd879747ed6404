"""Deterministic attribution rules on hand-built cases: models, windows, precedence, ties, spam, merges."""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl
import pytest

from attribution import attribute, load_config
from tests.attribution.builders import DAY, NOON, assert_credit_sums_to_one, cfg, credits, signups, touches

D = timedelta(days=1)
H = timedelta(hours=1)
S = timedelta(seconds=1)

# One user with three clicks (10 d, 6 d, 2 d, 1 h before) — the 10-day one is out of window.
JOURNEY = touches(
    ("t0", "u1", NOON - 10 * D, "click", "google_ads", "g0"),
    ("t1", "u1", NOON - 6 * D, "click", "google_ads", "g1"),
    ("t2", "u1", NOON - 2 * D, "click", "meta_ads", "m1"),
    ("t3", "u1", NOON - H, "click", "tiktok_ads", "k1"),
)
ONE = signups(("s1", "u1", NOON))


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("last_touch", {"t3": 1.0}),
        ("first_touch", {"t1": 1.0}),
        ("linear", {"t1": 1 / 3, "t2": 1 / 3, "t3": 1 / 3}),
        ("position_based", {"t1": 0.4, "t2": 0.2, "t3": 0.4}),
    ],
)
def test_models_split_credit_over_the_journey(model: str, expected: dict[str, float]) -> None:
    out = attribute(ONE, JOURNEY, load_config(f"{model}_v1"), DAY)
    got = credits(out, "s1")
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k] == pytest.approx(v)
    assert set(out["method"]) == {"deterministic"}
    assert out["model"].unique().to_list() == [model]


def test_time_decay_halves_credit_per_half_life() -> None:
    tt = touches(
        ("a", "u1", NOON - 2 * D, "click", "google_ads", "g1"),
        ("b", "u1", NOON - 1 * D, "click", "meta_ads", "m1"),
        ("c", "u1", NOON - 1 * D, "click", "meta_ads", "m2"),
    )
    out = attribute(ONE, tt, cfg(model="time_decay", half_life="1d"), DAY)
    got = credits(out, "s1")
    # weights 0.5, 1, 1 -> 0.2, 0.4, 0.4
    assert got == pytest.approx({"a": 0.2, "b": 0.4, "c": 0.4})
    # the default 7-day half-life on the standard journey: weight 2^(-age/7d)
    out7 = credits(attribute(ONE, JOURNEY, load_config("time_decay_v1"), DAY), "s1")
    w = {"t1": 2 ** (-6 / 7), "t2": 2 ** (-2 / 7), "t3": 2 ** (-(1 / 24) / 7)}
    assert out7 == pytest.approx({k: v / sum(w.values()) for k, v in w.items()})


def test_position_based_shares_the_middle() -> None:
    tt = touches(*[(f"t{i}", "u1", NOON - (6 - i) * H, "click", "google_ads", f"g{i}") for i in range(6)])
    got = credits(attribute(ONE, tt, load_config("position_based_v1"), DAY), "s1")
    assert got == pytest.approx({"t0": 0.4, "t1": 0.05, "t2": 0.05, "t3": 0.05, "t4": 0.05, "t5": 0.4})
    skewed = cfg(model="position_based", position_weights={"first": 0.3, "middle": 0.0, "last": 0.7})
    assert credits(attribute(ONE, tt, skewed, DAY), "s1") == pytest.approx({"t0": 0.3, "t5": 0.7})


def test_unsorted_output_has_the_same_rows() -> None:
    c = load_config("linear_v1")
    a = attribute(ONE, JOURNEY, c, DAY)
    b = attribute(ONE, JOURNEY, c, DAY, sort=False)
    assert a.equals(b.sort(a.columns[3:], nulls_last=True).select(a.columns))


def test_position_based_with_one_and_two_touches() -> None:
    c = load_config("position_based_v1")
    one = touches(("a", "u1", NOON - H, "click", "google_ads", "g1"))
    assert credits(attribute(ONE, one, c, DAY), "s1") == {"a": 1.0}
    two = touches(
        ("a", "u1", NOON - 2 * H, "click", "google_ads", "g1"), ("b", "u1", NOON - H, "view", "meta_ads", "m")
    )
    assert credits(attribute(ONE, two, cfg(model="position_based", precedence="none"), DAY), "s1") == {
        "a": 0.5,
        "b": 0.5,
    }


@pytest.mark.parametrize(
    ("age", "touch_type", "counted"),
    [
        (7 * D, "click", True),  # exactly 7 days: inclusive
        (7 * D + S, "click", False),  # 7 days + 1 s: out
        (7 * D + timedelta(microseconds=1), "click", False),
        (1 * D, "view", True),  # exactly 1 day: inclusive
        (1 * D + S, "view", False),
        (timedelta(0), "click", True),  # same instant as the sign-up
        (-S, "click", False),  # after the sign-up
    ],
)
def test_window_edges(age: timedelta, touch_type: str, counted: bool) -> None:
    tt = touches(("a", "u1", NOON - age, touch_type, "google_ads", "g1"))
    out = attribute(ONE, tt, load_config("last_touch_v1"), DAY)
    assert credits(out, "s1") == ({"a": 1.0} if counted else {"unattributed:unattributed": 1.0})


def test_click_in_window_beats_a_later_view() -> None:
    tt = touches(
        ("click", "u1", NOON - 3 * D, "click", "google_ads", "g1"),
        ("view", "u1", NOON - H, "view", "meta_ads", "m1"),
    )
    assert credits(attribute(ONE, tt, load_config("last_touch_v1"), DAY), "s1") == {"click": 1.0}
    # every model ignores the view once a click is in window
    assert credits(attribute(ONE, tt, load_config("linear_v1"), DAY), "s1") == {"click": 1.0}
    # without precedence the later view wins last touch
    assert credits(attribute(ONE, tt, cfg(precedence="none"), DAY), "s1") == {"view": 1.0}
    # a click out of window does not suppress the view
    late = touches(
        ("click", "u1", NOON - 8 * D, "click", "google_ads", "g1"),
        ("view", "u1", NOON - H, "view", "meta_ads", "m1"),
    )
    assert credits(attribute(ONE, late, load_config("last_touch_v1"), DAY), "s1") == {"view": 1.0}


def test_ties_are_broken_by_type_then_touch_id_whatever_the_input_order() -> None:
    tied = [
        ("b", "u1", NOON - H, "click", "google_ads", "g1"),
        ("c", "u1", NOON - H, "click", "meta_ads", "m1"),
        ("a", "u1", NOON - H, "click", "tiktok_ads", "k1"),
        ("z", "u1", NOON - H, "view", "tiktok_ads", "k2"),
    ]
    c = cfg(precedence="none")
    results = set()
    for perm in (tied, tied[::-1], tied[1:] + tied[:1]):
        results.add(tuple(credits(attribute(ONE, touches(*perm), c, DAY), "s1")))
    # last touch: at the same instant the click beats the view, then the lowest touch_id
    assert results == {("a",)}
    first = attribute(ONE, touches(*tied), cfg(model="first_touch", precedence="none"), DAY)
    assert credits(first, "s1") == {"a": 1.0}  # the same preference among same-instant touches
    earlier = touches(*tied, ("y", "u1", NOON - 2 * H, "view", "google_ads", "g9"))
    assert credits(attribute(ONE, earlier, cfg(model="first_touch", precedence="none"), DAY), "s1") == {
        "y": 1.0
    }
    # position-based: the preferred touch of a tie takes the last position (40%)
    pos = credits(attribute(ONE, touches(*tied[:3]), load_config("position_based_v1"), DAY), "s1")
    assert pos == pytest.approx({"c": 0.4, "b": 0.2, "a": 0.4})
    # the tie-break order is configurable: touch_id before touch_type
    by_id = cfg(precedence="none", tie_break=["touch_ts", "touch_id", "touch_type"])
    with_low_view = touches(*tied, ("0", "u1", NOON - H, "view", "meta_ads", "m0"))
    assert credits(attribute(ONE, with_low_view, by_id, DAY), "s1") == {"0": 1.0}
    assert credits(attribute(ONE, with_low_view, cfg(precedence="none"), DAY), "s1") == {"a": 1.0}


def test_spam_clicks_are_excluded() -> None:
    tt = touches(
        ("real", "u1", NOON - D, "click", "google_ads", "g1"),
        ("spam", "u1", NOON - 5 * S, "click", "meta_ads", "m1", True),
    )
    assert credits(attribute(ONE, tt, load_config("last_touch_v1"), DAY), "s1") == {"real": 1.0}
    only_spam = touches(("spam", "u1", NOON - 5 * S, "click", "meta_ads", "m1", True))
    out = attribute(ONE, only_spam, load_config("last_touch_v1"), DAY)
    assert out.select("platform", "campaign_id", "credit", "method", "touch_id").to_dicts() == [
        {
            "platform": "unattributed",
            "campaign_id": "unattributed",
            "credit": 1.0,
            "method": "unattributed",
            "touch_id": None,
        }
    ]


def test_touches_of_a_merged_user_all_count() -> None:
    # u_old was merged into u1: fact_touchpoints already carries the canonical id on both rows
    # (one from the web anonymous id, one from the app device id).
    tt = touches(
        ("web", "u1", NOON - 3 * D, "click", "google_ads", "g1"),
        ("app", "u1", NOON - 2 * D, "click", "meta_ads", "m1"),
        ("other", "u2", NOON - H, "click", "tiktok_ads", "k1"),
    )
    assert credits(attribute(ONE, tt, load_config("linear_v1"), DAY), "s1") == {"web": 0.5, "app": 0.5}
    assert credits(attribute(ONE, tt, load_config("last_touch_v1"), DAY), "s1") == {"app": 1.0}


def test_platform_override_windows() -> None:
    tt = touches(
        ("a", "u1", NOON - 20 * D, "click", "meta_ads", "m1"),
        ("b", "u1", NOON - 20 * D, "click", "google_ads", "g"),
    )
    c = cfg(platform_overrides={"meta_ads": {"click_window": "28d"}})
    assert credits(attribute(ONE, tt, c, DAY), "s1") == {"a": 1.0}
    assert credits(attribute(ONE, tt, load_config("last_touch_v1"), DAY), "s1") == {
        "unattributed:unattributed": 1.0
    }


@pytest.mark.parametrize("model", ["last_touch", "first_touch", "linear", "position_based", "time_decay"])
def test_every_signup_gets_credit_one_and_output_is_deterministic(model: str) -> None:
    su = signups(
        ("s1", "u1", NOON),
        ("s2", "u2", NOON + H),
        ("s3", "u3", NOON - 11 * H),  # no touches at all
        ("s4", "u4", NOON + 5 * H, "ios"),
    )
    tt = pl.concat(
        [
            JOURNEY,
            touches(
                ("x1", "u2", NOON - 30 * H, "view", "meta_ads", "m1"),
                ("x2", "u2", NOON - 20 * H, "view", "meta_ads", "m2"),
                ("x3", "u2", NOON - 10 * H, "view", "meta_ads", "m3"),
                ("x4", "u4", NOON - 3 * D, "click", "apple_search_ads", "a1"),
                ("x5", "u4", NOON - 3 * D, "click", "apple_search_ads", "a2"),
            ),
        ]
    )
    c = load_config(f"{model}_v1")
    out = attribute(su, tt, c, DAY, run_id="r1")
    assert_credit_sums_to_one(out)
    assert set(out["signup_id"]) == {"s1", "s2", "s3", "s4"}
    assert out.filter(pl.col("signup_id") == "s3")["method"].to_list() == ["unattributed"]
    assert (out["attribution_run_id"] == "r1").all() and (
        out["attribution_version"] == c.attribution_version
    ).all()
    shuffled = attribute(
        su.sample(fraction=1.0, shuffle=True, seed=3),
        tt.sample(fraction=1.0, shuffle=True, seed=4),
        c,
        DAY,
        run_id="r1",
    )
    assert out.equals(shuffled)
    assert not any(math.isnan(x) for x in out["credit"])


def test_partition_by_day_equals_a_range() -> None:
    su = signups(("s1", "u1", NOON), ("s2", "u2", NOON + D), ("s3", "u3", NOON + 2 * D))
    tt = touches(
        ("a", "u1", NOON - H, "click", "google_ads", "g1"),
        ("b", "u2", NOON + D - 2 * D, "click", "meta_ads", "m1"),  # 2 days before its sign-up
        ("c", "u3", NOON + 2 * D - H, "view", "tiktok_ads", "k1"),
    )
    c = load_config("last_touch_v1")
    whole = attribute(su, tt, c, DAY, DAY + 2 * D)
    days = pl.concat([attribute(su, tt, c, DAY + i * D) for i in range(3)])
    assert whole.equals(days)
    assert whole["touch_id"].to_list() == ["a", "b", "c"]
    # a range only attributes its own sign-ups
    assert attribute(su, tt, c, DAY + D)["signup_id"].to_list() == ["s2"]


def test_inverted_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="before start date"):
        attribute(ONE, JOURNEY, load_config(), DAY, DAY - D)
