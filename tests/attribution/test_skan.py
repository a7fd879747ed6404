"""SKAdNetwork modeling: pool, net postbacks, whole-unit allocation (over/under), conservation."""

from __future__ import annotations

import random
from datetime import timedelta

import polars as pl
import pytest

from attribution import attribute, load_config, skan_allocation
from attribution.engine import with_stable_hash
from tests.attribution.builders import DAY, NOON, assert_credit_sums_to_one, signups, touches

H = timedelta(hours=1)
M64 = 2**64 - 1


def skan(*rows: tuple[str, str, int], day=DAY) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    return pl.DataFrame(
        [{"install_date": day, "platform": p, "campaign_id": c, "skan_signups": n} for p, c, n in rows],
        schema={
            "install_date": pl.Date,
            "platform": pl.String,
            "campaign_id": pl.String,
            "skan_signups": pl.Int64,
        },
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
        out.filter(pl.col("method") == "skan_modeled")
        .group_by("campaign_id")
        .agg(pl.col("credit").sum())
        .iter_rows()
    )


def assert_one_whole_row_per_pool_signup(out: pl.DataFrame) -> None:
    """SKAN-modeled and unattributed rows are whole: one row of credit 1 per sign-up."""
    whole = out.filter(pl.col("method") != "deterministic")
    assert (whole["credit"] == 1.0).all()
    assert whole["signup_id"].n_unique() == whole.height


def _splitmix(x: int) -> int:
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def reference_hash(s: str) -> int:
    """The documented hash in plain Python: hex of the UTF-8 bytes in 15-digit blocks, splitmix64-folded."""
    raw = s.encode()
    hx = raw.hex()
    h = 0x9E3779B97F4A7C15
    for i in range(0, len(hx), 15):
        h = _splitmix(h ^ int(hx[i : i + 15], 16))
    return _splitmix(h ^ len(raw))


def hamilton(n: dict[tuple[str, str], int], pool: int) -> dict[tuple[str, str], int]:
    """Reference allocation: n as is when it fits, else largest remainder (ties by platform, campaign)."""
    total = sum(n.values())
    if total <= pool:
        return {k: v for k, v in n.items() if v > 0}
    base = {k: v * pool // total for k, v in n.items()}
    left = pool - sum(base.values())
    for k in sorted(n, key=lambda k: (-(n[k] * pool % total), k))[:left]:
        base[k] += 1
    return {k: v for k, v in base.items() if v > 0}


def test_stable_hash_matches_the_python_reference() -> None:
    ids = ["", "a", "p0", "user_000000123", "ünïcødé-😀", "x" * 61, "0123456789abcdef" * 3]
    frame = with_stable_hash(pl.LazyFrame({"s": ids}), "s", "h", max(len(i.encode()) for i in ids))
    got = frame.collect()["h"].to_list()
    assert got == [reference_hash(i) for i in ids]
    assert len(set(got)) == len(ids)


def test_shortfall_models_the_net_postbacks_and_leaves_the_rest_unattributed() -> None:
    su, tt = ios_day(10)
    out = attribute(su, tt, load_config(), DAY, skan=skan(("meta_ads", "m1", 3), ("google_ads", "g1", 1)))
    assert_credit_sums_to_one(out)
    assert_one_whole_row_per_pool_signup(out)
    assert modeled_by_campaign(out) == {"m1": 3.0, "g1": 1.0}
    pool = out.filter(pl.col("signup_id").str.starts_with("p"))
    assert pool.height == 10 and pool.filter(pl.col("method") == "unattributed").height == 6
    # the web sign-up is never part of the pool
    assert out.filter(pl.col("signup_id") == "w")["method"].to_list() == ["unattributed"]


def test_excess_postbacks_are_scaled_down_to_the_pool() -> None:
    su, tt = ios_day(4)
    out = attribute(su, tt, load_config(), DAY, skan=skan(("meta_ads", "m1", 6), ("google_ads", "g1", 2)))
    assert_credit_sums_to_one(out)
    assert_one_whole_row_per_pool_signup(out)
    assert modeled_by_campaign(out) == {"m1": 3.0, "g1": 1.0}  # 8 postbacks -> 4 sign-ups, 3:1
    pool = out.filter(pl.col("signup_id").str.starts_with("p"))
    assert set(pool["method"]) == {"skan_modeled"}  # nothing left unattributed


def test_largest_remainder_and_its_tie_break() -> None:
    # P = 10, net 7/5/3 (N = 15): quotas 4.67/3.33/2 -> floors 4/3/2, the one left goes to x.
    su, tt = ios_day(10)
    out = attribute(
        su,
        tt,
        load_config(),
        DAY,
        skan=skan(("meta_ads", "x", 7), ("meta_ads", "y", 5), ("meta_ads", "z", 3)),
    )
    assert modeled_by_campaign(out) == {"x": 5.0, "y": 3.0, "z": 2.0}
    # equal remainders: 7 campaigns with 1 postback each for a pool of 5 -> the first 5 in
    # (platform, campaign_id) order; google_ads sorts before meta_ads.
    su, tt = ios_day(5)
    sk = skan(*[("meta_ads", f"m{i}", 1) for i in range(5)], ("google_ads", "g9", 1), ("google_ads", "g1", 1))
    out = attribute(su, tt, load_config(), DAY, skan=sk)
    assert modeled_by_campaign(out) == {"g1": 1.0, "g9": 1.0, "m0": 1.0, "m1": 1.0, "m2": 1.0}


def test_allocation_agrees_with_the_reference_on_random_days() -> None:
    rng = random.Random(3)
    for _ in range(40):
        pool_n = rng.randint(0, 30)
        n = {
            ("meta_ads" if rng.random() < 0.5 else "tiktok_ads", f"c{j}"): rng.randint(0, 9)
            for j in range(rng.randint(1, 8))
        }
        pool = pl.DataFrame(
            {"signup_id": [f"s{i}" for i in range(pool_n)], "signup_date": [DAY] * pool_n},
            schema={"signup_id": pl.String, "signup_date": pl.Date},
        )
        det = pl.DataFrame(
            schema={
                "signup_date": pl.Date,
                "platform": pl.String,
                "campaign_id": pl.String,
                "credit": pl.Float64,
            }
        )
        got = skan_allocation(pool.lazy(), det.lazy(), skan(*[(p, c, v) for (p, c), v in n.items()]))
        assert {(p, c): m for _, p, c, _, m in got.iter_rows()} == (hamilton(n, pool_n) if pool_n else {})


def test_deterministic_ios_signups_are_subtracted_first() -> None:
    su, tt = ios_day(n_pool=5, n_det=2)
    # m1 reports 3 sign-ups but 2 are already credited deterministically: 1 left to model.
    # g1 reports 1; m2 reports 0. Modeled total 2 of a pool of 5.
    out = attribute(su, tt, load_config(), DAY, skan=skan(("meta_ads", "m1", 3), ("google_ads", "g1", 1)))
    assert_credit_sums_to_one(out)
    assert modeled_by_campaign(out) == {"m1": 1.0, "g1": 1.0}
    # floored at 0: more deterministic than postbacks models nothing for that campaign
    out2 = attribute(su, tt, load_config(), DAY, skan=skan(("meta_ads", "m1", 1)))
    assert modeled_by_campaign(out2) == {}
    assert set(out2.filter(pl.col("signup_id").str.starts_with("p"))["method"]) == {"unattributed"}


def test_fractional_deterministic_credit_floors_the_net() -> None:
    # One iOS sign-up with a click on m1 and one on g1: linear gives each 0.5.
    su = signups(*[(f"p{i}", f"pu{i}", NOON, "ios") for i in range(5)], ("d", "du", NOON, "ios"))
    tt = touches(
        ("a", "du", NOON - H, "click", "meta_ads", "m1"),
        ("b", "du", NOON - 2 * H, "click", "google_ads", "g1"),
    )
    sk = skan(("meta_ads", "m1", 2), ("google_ads", "g1", 1))
    # m1: 2 − 0.5 = 1.5 -> 1; g1: 1 − 0.5 = 0.5 -> 0. Last touch (m1 gets 1): m1 1, g1 1.
    assert modeled_by_campaign(attribute(su, tt, load_config("linear_v1"), DAY, skan=sk)) == {"m1": 1.0}
    assert modeled_by_campaign(attribute(su, tt, load_config(), DAY, skan=sk)) == {"m1": 1.0, "g1": 1.0}


def test_conservation_totals_across_days_and_models() -> None:
    rows, tts = [], []
    for day_off in range(3):
        for i in range(7 + 3 * day_off):
            ts = NOON + timedelta(days=day_off, minutes=i)
            rows.append((f"s{day_off}_{i}", f"u{day_off}_{i}", ts, "ios" if i % 3 else "android"))
            if i % 4 == 0:
                tts.append((f"t{day_off}_{i}", f"u{day_off}_{i}", ts - H, "click", "meta_ads", f"m{i % 2}"))
                tts.append((f"v{day_off}_{i}", f"u{day_off}_{i}", ts - 3 * H, "click", "tiktok_ads", "k1"))
    su, tt = signups(*rows), touches(*tts)
    sk = pl.concat(
        [
            skan(
                ("meta_ads", "m0", 2 + d),
                ("meta_ads", "m1", 9 * d),
                ("tiktok_ads", "k1", 1),
                day=DAY + timedelta(days=d),
            )
            for d in range(3)
        ]
    )
    for model in ("last_touch", "linear", "position_based", "time_decay", "first_touch"):
        out = attribute(su, tt, load_config(f"{model}_v1"), DAY, DAY + timedelta(days=2), skan=sk)
        assert_credit_sums_to_one(out)
        assert_one_whole_row_per_pool_signup(out)
        assert out["credit"].sum() == pytest.approx(su.height)  # total credit = number of sign-ups
        assert out.filter(pl.col("credit") <= 0).height == 0
        # per day: modeled sign-ups = min(pool, Σ floor(net postbacks)), never on non-iOS sign-ups
        modeled = out.filter(pl.col("method") == "skan_modeled")
        assert set(modeled["signup_id"]) <= set(su.filter(pl.col("device_platform") == "ios")["signup_id"])
        det_ids = set(out.filter(pl.col("method") == "deterministic")["signup_id"])
        assert not det_ids & set(modeled["signup_id"])
        for d in range(3):
            day = DAY + timedelta(days=d)
            pool = su.filter(
                (pl.col("signup_date") == day)
                & (pl.col("device_platform") == "ios")
                & ~pl.col("signup_id").is_in(det_ids)
            ).height
            det_ios = (
                out.filter((pl.col("signup_date") == day) & (pl.col("method") == "deterministic"))
                .join(su.filter(pl.col("device_platform") == "ios").select("signup_id"), on="signup_id")
                .group_by("platform", "campaign_id")
                .agg(pl.col("credit").sum())
            )
            det_map = {(p, c): v for p, c, v in det_ios.iter_rows()}
            net = {
                (p, c): int(max(0.0, n - det_map.get((p, c), 0.0)) + 1e-9)
                for p, c, n in sk.filter(pl.col("install_date") == day)
                .select("platform", "campaign_id", "skan_signups")
                .iter_rows()
            }
            got = modeled.filter(pl.col("signup_date") == day).group_by("platform", "campaign_id").len()
            assert {(p, c): n for p, c, n in got.iter_rows()} == hamilton(net, pool)
            assert got["len"].sum() == min(pool, sum(net.values()))


def test_scale_rows_stay_one_per_signup_and_ignore_input_order() -> None:
    # 400 pool sign-ups x 60 campaigns used to be 24,000 fractional rows; now 400 + 1.
    su, tt = ios_day(400)
    sk = skan(*[("meta_ads", f"m{i:02d}", 1 + i % 4) for i in range(60)])
    out = attribute(su, tt, load_config(), DAY, skan=sk)
    assert out.height == su.height
    assert sum(modeled_by_campaign(out).values()) == sum(1 + i % 4 for i in range(60))
    shuffled = attribute(
        su.sample(fraction=1.0, shuffle=True, seed=5), tt, load_config(), DAY, skan=sk.reverse()
    )
    assert shuffled.equals(out)


def test_skan_disabled_or_absent_keeps_ios_unattributed() -> None:
    su, tt = ios_day(3)
    sk = skan(("meta_ads", "m1", 3))
    off = attribute(
        su, tt, load_config().__class__.from_mapping({"name": "x", "skan": {"enabled": False}}), DAY, skan=sk
    )
    assert set(off["method"]) == {"unattributed"}
    assert set(attribute(su, tt, load_config(), DAY)["method"]) == {"unattributed"}


def test_batches_hold_the_same_rows_as_one_frame() -> None:
    from attribution import attribute_batches

    su, tt = ios_day(n_pool=25, n_det=3)
    sk = skan(*[("meta_ads", f"m{i}", 2) for i in range(6)])
    whole = attribute(su, tt, load_config("linear_v1"), DAY, skan=sk)
    batches = list(attribute_batches(su, tt, load_config("linear_v1"), DAY, skan=sk, batch_rows=8))
    assert len(batches) == 4 and all(b.height <= 8 for b in batches)
    assert (
        pl.concat(batches)
        .sort(whole.columns[3:], nulls_last=True)
        .select(whole.columns)
        .equals(whole.sort(whole.columns[3:], nulls_last=True))
    )
    assert_credit_sums_to_one(pl.concat(batches))
