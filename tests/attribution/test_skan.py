"""SKAdNetwork modeling: pool, net postbacks, over/under allocation and conservation."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from attribution import attribute, load_config
from tests.attribution.builders import DAY, NOON, assert_credit_sums_to_one, signups, touches

H = timedelta(hours=1)


def skan(*rows: tuple[str, str, int], day=DAY) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    return pl.DataFrame(
        [{"install_date": day, "platform": p, "campaign_id": c, "skan_signups": n} for p, c, n in rows],
        schema={"install_date": pl.Date, "platform": pl.String, "campaign_id": pl.String, "skan_signups": pl.Int64},
    )


def ios_day(n_pool: int, n_det: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """n_pool iOS sign-ups without touches, n_det iOS sign-ups clicked on meta m1, one web sign-up."""
    rows = [(f"p{i}", f"pu{i}", NOON + i * timedelta(seconds=1), "ios") for i in range(n_pool)]
    rows += [(f"d{i}", f"du{i}", NOON, "ios") for i in range(n_det)]
    rows += [("w", "wu", NOON, "web")]
    tt = touches(*[(f"t{i}", f"du{i}", NOON - H, "click", "meta_ads", "m1") for i in range(n_det)])
    return signups(*rows), tt


def modeled_by_campaign(out: pl.DataFrame) -> dict[str, float]:
    return dict(
        out.filter(pl.col("method") == "skan_modeled").group_by("campaign_id").agg(pl.col("credit").sum()).iter_rows()
    )


def test_shortfall_leaves_the_rest_unattributed() -> None:
    su, tt = ios_day(10)
    out = attribute(su, tt, load_config(), DAY, skan=skan(("meta_ads", "m1", 3), ("google_ads", "g1", 1)))
    assert_credit_sums_to_one(out)
    assert modeled_by_campaign(out) == pytest.approx({"m1": 3.0, "g1": 1.0})
    p0 = out.filter(pl.col("signup_id") == "p0").sort("campaign_id")
    assert p0.select("campaign_id", "method").rows() == [
        ("g1", "skan_modeled"), ("m1", "skan_modeled"), ("unattributed", "unattributed")
    ]
    assert p0["credit"].to_list() == pytest.approx([0.1, 0.3, 0.6])
    # the web sign-up is never part of the pool
    assert out.filter(pl.col("signup_id") == "w")["method"].to_list() == ["unattributed"]


def test_excess_postbacks_are_scaled_down_to_the_pool() -> None:
    su, tt = ios_day(4)
    out = attribute(su, tt, load_config(), DAY, skan=skan(("meta_ads", "m1", 6), ("google_ads", "g1", 2)))
    assert_credit_sums_to_one(out)
    assert modeled_by_campaign(out) == pytest.approx({"m1": 3.0, "g1": 1.0})  # 8 postbacks -> 4 sign-ups, 3:1
    pool = out.filter(pl.col("signup_id").str.starts_with("p"))
    assert set(pool["method"]) == {"skan_modeled"}  # nothing left unattributed


def test_deterministic_ios_signups_are_subtracted_first() -> None:
    su, tt = ios_day(n_pool=5, n_det=2)
    # m1 reports 3 sign-ups but 2 are already credited deterministically: 1 left to model.
    # g1 reports 1; m2 reports 0. Modeled total 2 of a pool of 5.
    out = attribute(su, tt, load_config(), DAY, skan=skan(("meta_ads", "m1", 3), ("google_ads", "g1", 1)))
    assert_credit_sums_to_one(out)
    assert modeled_by_campaign(out) == pytest.approx({"m1": 1.0, "g1": 1.0})
    # floored at 0: more deterministic than postbacks models nothing for that campaign
    out2 = attribute(su, tt, load_config(), DAY, skan=skan(("meta_ads", "m1", 1)))
    assert modeled_by_campaign(out2) == {}
    assert set(out2.filter(pl.col("signup_id").str.starts_with("p"))["method"]) == {"unattributed"}


def test_conservation_totals_across_days_and_models() -> None:
    rows, tts = [], []
    for day_off in range(3):
        for i in range(7 + 3 * day_off):
            ts = NOON + timedelta(days=day_off, minutes=i)
            rows.append((f"s{day_off}_{i}", f"u{day_off}_{i}", ts, "ios" if i % 3 else "android"))
            if i % 4 == 0:
                tts.append((f"t{day_off}_{i}", f"u{day_off}_{i}", ts - H, "click", "meta_ads", f"m{i % 2}"))
    su, tt = signups(*rows), touches(*tts)
    sk = pl.concat(
        [skan(("meta_ads", "m0", 2 + d), ("meta_ads", "m1", 9 * d), ("tiktok_ads", "k1", 1), day=DAY + timedelta(days=d))
         for d in range(3)]
    )
    for model in ("last_touch", "linear", "position_based", "time_decay", "first_touch"):
        out = attribute(su, tt, load_config(f"{model}_v1"), DAY, DAY + timedelta(days=2), skan=sk)
        assert_credit_sums_to_one(out)
        assert out["credit"].sum() == pytest.approx(su.height)  # total credit = number of sign-ups
        assert out.filter(pl.col("credit") <= 0).height == 0
        # per day: modeled credit = min(pool, net postbacks) and never on non-iOS sign-ups
        modeled = out.filter(pl.col("method") == "skan_modeled")
        assert set(modeled["signup_id"]) <= set(su.filter(pl.col("device_platform") == "ios")["signup_id"])
        det_ids = set(out.filter(pl.col("method") == "deterministic")["signup_id"])
        assert not det_ids & set(modeled["signup_id"])
        for d in range(3):
            day = DAY + timedelta(days=d)
            pool = su.filter(
                (pl.col("signup_date") == day) & (pl.col("device_platform") == "ios") & ~pl.col("signup_id").is_in(det_ids)
            ).height
            det_ios = (
                out.filter((pl.col("signup_date") == day) & (pl.col("method") == "deterministic"))
                .join(su.filter(pl.col("device_platform") == "ios").select("signup_id"), on="signup_id")
                .group_by("platform", "campaign_id").agg(pl.col("credit").sum())
            )
            det_map = {(p, c): v for p, c, v in det_ios.iter_rows()}
            net = sum(
                max(0.0, n - det_map.get((p, c), 0.0))
                for p, c, n in sk.filter(pl.col("install_date") == day).select("platform", "campaign_id", "skan_signups").iter_rows()
            )
            got = modeled.filter(pl.col("signup_date") == day)["credit"].sum()
            assert got == pytest.approx(min(pool, net))


def test_skan_disabled_or_absent_keeps_ios_unattributed() -> None:
    su, tt = ios_day(3)
    sk = skan(("meta_ads", "m1", 3))
    off = attribute(su, tt, load_config().__class__.from_mapping({"name": "x", "skan": {"enabled": False}}), DAY, skan=sk)
    assert set(off["method"]) == {"unattributed"}
    assert set(attribute(su, tt, load_config(), DAY)["method"]) == {"unattributed"}


def test_batches_hold_the_same_rows_as_one_frame() -> None:
    from attribution import attribute_batches

    su, tt = ios_day(n_pool=25, n_det=3)
    sk = skan(*[("meta_ads", f"m{i}", 2) for i in range(6)])
    whole = attribute(su, tt, load_config("linear_v1"), DAY, skan=sk)
    batches = list(attribute_batches(su, tt, load_config("linear_v1"), DAY, skan=sk, batch_rows=24))
    assert len(batches) > 3 and all(b.height <= 30 for b in batches[1:])
    assert pl.concat(batches).sort(whole.columns[3:], nulls_last=True).select(whole.columns).equals(
        whole.sort(whole.columns[3:], nulls_last=True)
    )
    assert_credit_sums_to_one(pl.concat(batches))
