"""Campaign budgets: what each platform's campaign entity says a campaign may spend.

Budgets are drawn from their own random stream (``[seed, 60, platform]``), so a world keeps the
bytes of every other file it held before budgets existed. They are sized from the world's own
delivery: a campaign's *typical* day is the median of its account-local daily spend over the
world, and its daily budget is at least ``FLOOR`` (1.6-2.0) times that and at least ``HEADROOM``
(1.25) times its busiest day (an ad group moved in can lift a campaign's later days well above
its median), but no more than ``CEILING`` (3) times typical, rounded up to a whole currency
unit. So every ordinary day stays at most 80% of the budget and a runaway (spend x 5 over a
day) clearly exceeds it. Compute them from the cells *before* any injected incident; were a
runaway among the days measured, the median and the ceiling keep it from lifting the budget
past 3x typical.

Budget modes follow what each platform allows (docs/simulated_apis.md, "Campaign budgets"):

- Google Ads: every campaign has a campaign budget: ``DAILY`` (``amount_micros``) or
  ``CUSTOM_PERIOD`` (a total, ``total_amount_micros``);
- Meta: a campaign with campaign budget optimisation carries ``daily_budget`` or
  ``lifetime_budget``; one without carries none and its ad sets carry daily budgets (mode
  ``ad_set``: the campaign's daily budget is the sum of its current ad sets');
- TikTok: ``BUDGET_MODE_DAY``, ``BUDGET_MODE_TOTAL`` or ``BUDGET_MODE_INFINITE`` (no limit);
- Apple Ads: ``dailyBudget`` is required on every campaign;
- Impact: no budgets.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from simulator.ads.common import CELL_PLATFORMS

STREAM = 60  # the budgets' random stream: [seed, STREAM, platform index]
FLOOR = (1.6, 2.0)  # daily budget >= uniform(FLOOR) x typical day
HEADROOM = 1.25  # daily budget >= HEADROOM x busiest day
CEILING = 3.0  # ... but <= CEILING x typical day (a runaway day does not raise the budget)
LIFETIME = (1.2, 1.5)  # lifetime budget = uniform(LIFETIME) x typical day x the world's days
# A platform's biggest campaigns (by the entities' delivery weight, ``daily_budget``) always carry
# a daily budget: the always-on campaigns, and the ones simulator.incidents makes run away (its
# three biggest), so an overspend rule has a budget to catch a runaway against.
TOP_DAILY = 3
# Modes in turn over a platform's other campaigns (from a random offset), so even a world of a few
# campaigns per platform holds each mode the platform allows; daily stays the most common.
MODES: dict[str, tuple[str, ...]] = {
    "google_ads": ("daily", "daily", "lifetime", "daily"),
    "meta_ads": ("daily", "ad_set", "lifetime", "daily", "ad_set"),
    "tiktok_ads": ("daily", "lifetime", "daily", "none"),
    "apple_search_ads": ("daily",),
}
CAMPAIGN_COLUMNS = {
    "platform": pl.String,
    "account_id": pl.String,
    "campaign_id": pl.String,
    "mode": pl.String,  # daily | lifetime | none | ad_set (Meta without a campaign budget)
    "daily_budget": pl.Float64,  # whole account-currency units; null unless mode daily
    "lifetime_budget": pl.Float64,  # null unless mode lifetime
    "budget_id": pl.String,  # Google's campaign budget id
}
AD_SET_COLUMNS = {"platform": pl.String, "ad_group_id": pl.String, "daily_budget": pl.Float64}
TRUTH_COLUMNS = {
    "platform": pl.String,
    "account_id": pl.String,
    "campaign_id": pl.String,
    "budget_period": pl.String,
    "daily_budget": pl.Float64,
    "lifetime_budget": pl.Float64,
    "currency": pl.String,
    "budget_level": pl.String,
}
CELL_COLUMNS = ("account_idx", "campaign_idx", "ad_group_idx", "local_day", "spend_micros")


def campaign_budgets(
    accounts: pl.DataFrame,
    campaigns: pl.DataFrame,
    ad_groups: pl.DataFrame,
    cells: dict[str, pl.DataFrame],
    seed: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(campaign budgets, Meta ad set budgets) of a world; see the module docstring.

    ``cells`` per platform hold at least :data:`CELL_COLUMNS` (indexes into the platform's rows
    of ``accounts`` / ``campaigns`` / ``ad_groups``, in their order).
    """
    rows: list[dict[str, object]] = []
    ad_sets: list[dict[str, object]] = []
    for pi, platform in enumerate(CELL_PLATFORMS):
        rng = np.random.default_rng([seed, STREAM, pi])
        camps = campaigns.filter(pl.col("platform") == platform)
        n = camps.height
        offset = int(rng.integers(len(MODES[platform])))
        floor = rng.uniform(*FLOOR, size=n)
        life = rng.uniform(*LIFETIME, size=n)
        ids = rng.integers(10**9, 10**10, size=n)
        df = cells[platform]
        typical, busiest = _day_stats(df, "campaign_idx", n)
        days = max(int(df["local_day"].n_unique()) if df.height else 1, 1)
        fallback = float(np.median(typical[typical > 0])) if (typical > 0).any() else 1e6
        top = set(
            camps.sort("daily_budget", "campaign_id", descending=[True, False])["campaign_id"][:TOP_DAILY]
        )
        others = 0
        for i, r in enumerate(camps.iter_rows(named=True)):
            mode = "daily"
            if r["campaign_id"] not in top:
                mode = MODES[platform][(others + offset) % len(MODES[platform])]
                others += 1
            t = typical[i] if typical[i] > 0 else fallback
            rows.append(
                {
                    "platform": platform,
                    "account_id": r["account_id"],
                    "campaign_id": r["campaign_id"],
                    "mode": mode,
                    "daily_budget": _daily(t, busiest[i], floor[i]) if mode == "daily" else None,
                    "lifetime_budget": _lifetime(t, days, life[i]) if mode == "lifetime" else None,
                    "budget_id": str(int(ids[i])),
                }
            )
        if platform == "meta_ads":
            ad_sets += _ad_set_budgets(ad_groups.filter(pl.col("platform") == platform), df, floor)
    return (
        pl.DataFrame(rows, schema=CAMPAIGN_COLUMNS, orient="row"),
        pl.DataFrame(ad_sets, schema=AD_SET_COLUMNS, orient="row"),
    )


def _daily(typical: float, busiest: float, floor: float) -> float:
    """A daily budget in whole units from a campaign's typical and busiest day (micros)."""
    micros = max(floor * typical, min(HEADROOM * busiest, CEILING * typical))
    return float(max(1, math.ceil(micros / 1e6)))


def _lifetime(typical: float, days: int, factor: float) -> float:
    """A lifetime (total) budget in whole units: ``factor`` x typical day (micros) x the world's days."""
    return float(max(1, math.ceil(typical * days * factor / 1e6)))


def _day_stats(df: pl.DataFrame, key: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(median, max) daily spend in micros per ``key`` index 0..n-1 over every local day of its
    account in the world (a day without spend counts as 0)."""
    typical, busiest = np.zeros(n), np.zeros(n)
    if not df.height:
        return typical, busiest
    daily = df.group_by(key, "account_idx", "local_day").agg(pl.col("spend_micros").sum())
    days = df.select("account_idx", "local_day").unique()
    units = daily.select(key, "account_idx").unique()
    full = (
        units.join(days, on="account_idx")
        .join(daily, on=[key, "account_idx", "local_day"], how="left")
        .with_columns(pl.col("spend_micros").fill_null(0))
        .group_by(key)
        .agg(pl.col("spend_micros").median().alias("med"), pl.col("spend_micros").max().alias("max"))
    )
    for k, med, mx in full.iter_rows():
        if 0 <= k < n:
            typical[k], busiest[k] = float(med), float(mx)
    return typical, busiest


def _ad_set_budgets(groups: pl.DataFrame, df: pl.DataFrame, floor: np.ndarray) -> list[dict[str, object]]:
    """A daily budget for every Meta ad set, sized on its own spend (it follows the ad set when
    it moves campaign); served only while its campaign has no campaign budget."""
    typical, busiest = _day_stats(df, "ad_group_idx", groups.height)
    fallback = float(np.median(typical[typical > 0])) if (typical > 0).any() else 1e6
    scale = float(np.mean(floor)) if len(floor) else FLOOR[0]
    return [
        {
            "platform": "meta_ads",
            "ad_group_id": gid,
            "daily_budget": _daily(typical[i] if typical[i] > 0 else fallback, busiest[i], scale),
        }
        for i, gid in enumerate(groups["ad_group_id"].to_list())
    ]


def final_ad_group_campaigns(ad_groups: pl.DataFrame, changes: pl.DataFrame) -> pl.DataFrame:
    """(ad_group_id, campaign_id) after every ad group move of the world."""
    moves = (
        changes.filter((pl.col("entity_type") == "ad_group") & (pl.col("field") == "campaign_id"))
        .sort("effective_ts")
        .group_by("entity_id")
        .agg(pl.col("value").last().alias("_moved_to"))
    )
    return (
        ad_groups.select("ad_group_id", "campaign_id")
        .join(moves, left_on="ad_group_id", right_on="entity_id", how="left")
        .select("ad_group_id", pl.coalesce("_moved_to", "campaign_id").alias("campaign_id"))
    )


def budgets_truth(
    accounts: pl.DataFrame,
    campaigns: pl.DataFrame,
    ad_groups: pl.DataFrame,
    changes: pl.DataFrame,
    budgets: tuple[pl.DataFrame, pl.DataFrame],
) -> pl.DataFrame:
    """``truth/campaign_budgets.parquet``: every campaign's budget at the world's end.

    ``budget_period`` daily | lifetime | none; ``daily_budget`` in the account currency (null
    unless daily); a Meta campaign without a campaign budget has the sum of its ad sets' daily
    budgets after every ad set move (``budget_level`` ad_set). Impact campaigns: none.
    """
    camp, sets = budgets
    final = final_ad_group_campaigns(ad_groups.filter(pl.col("platform") == "meta_ads"), changes)
    summed = (
        final.join(sets.select("ad_group_id", "daily_budget"), on="ad_group_id")
        .group_by("campaign_id")
        .agg(pl.col("daily_budget").sum().alias("_sum"))
    )
    level = (
        pl.when(pl.col("mode") == "ad_set")
        .then(pl.lit("ad_set"))
        .when(pl.col("mode").is_in(["daily", "lifetime"]))
        .then(pl.lit("campaign"))
    )
    out = (
        campaigns.select("platform", "account_id", "campaign_id")
        .join(camp, on=["platform", "account_id", "campaign_id"], how="left")
        .join(summed, on="campaign_id", how="left")
        .join(accounts.select("account_id", "currency"), on="account_id", how="left")
        .with_columns(
            pl.when(pl.col("mode") == "ad_set")
            .then(pl.col("_sum"))
            .otherwise(pl.col("daily_budget"))
            .alias("daily_budget"),
            level.alias("budget_level"),
        )
        .with_columns(
            pl.when(pl.col("daily_budget").is_not_null())
            .then(pl.lit("daily"))
            .when(pl.col("lifetime_budget").is_not_null())
            .then(pl.lit("lifetime"))
            .otherwise(pl.lit("none"))
            .alias("budget_period"),
        )
    )
    return out.select([pl.col(c).cast(t) for c, t in TRUTH_COLUMNS.items()]).sort(
        "platform", "account_id", "campaign_id"
    )


def write_budgets(
    budgets: tuple[pl.DataFrame, pl.DataFrame], truth: pl.DataFrame, state: Path, truth_dir: Path
) -> None:
    """The server's budget state (``state/ads/*_budgets.parquet``) and the truth file."""
    budgets[0].write_parquet(state / "campaign_budgets.parquet", compression="zstd", statistics=False)
    budgets[1].write_parquet(state / "ad_set_budgets.parquet", compression="zstd", statistics=False)
    truth.write_parquet(truth_dir / "campaign_budgets.parquet", compression="zstd", statistics=False)


def world_budgets(
    entities: dict[str, pl.DataFrame], changes: pl.DataFrame, cells: dict[str, pl.DataFrame], seed: int
) -> tuple[tuple[pl.DataFrame, pl.DataFrame], pl.DataFrame]:
    """Budgets and their truth from a world's entity tables (``accounts``, ``campaigns``,
    ``ad_groups``, every platform), metadata changes and cells."""
    acc, camps, groups = entities["accounts"], entities["campaigns"], entities["ad_groups"]
    budgets = campaign_budgets(acc, camps, groups, cells, seed)
    return budgets, budgets_truth(acc, camps, groups, changes, budgets)
