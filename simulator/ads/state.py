"""Read a world's ad state and answer "what does the platform report at as-of time T".

A report slice is one (account, local date). Seen at as-of ``T`` it is:

- empty before any of its hours has passed; on the current day only the hours that have
  passed (the current day is partial);
- inside the restatement window (``T`` earlier than the day's local end + window days) a
  provisional version, one per day since the day ended: conversions grow towards their final
  value, a few rows carry cost corrections and extra clicks, invalid-traffic rows are still
  present (they vanish after 1-3 days) and a voided slice still has its rows (it goes empty
  two days after it ended);
- from then on the final answer, which is exactly ``truth/spend_final.parquet``.

Versions are derived from row ids by a deterministic hash, so any as-of time can be answered
without storing versions, and the same as-of time always gives the same answer.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from simulator.ads.budgets import CELL_COLUMNS, campaign_budgets
from simulator.ads.common import (
    CELL_PLATFORMS,
    CENT_MICROS,
    KIND_INVALID,
    KIND_NORMAL,
    KIND_VOIDED,
    PLATFORM_SALT,
    hash_uniform,
    local_midnight_utc,
)

EPOCH_DATE = date(1970, 1, 1)
METRICS = ("impressions", "clicks", "conversions", "spend_micros")


def day_number(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH_DATE).days


def day_date(n: int) -> date:
    """The date ``n`` days after 1970-01-01."""
    return EPOCH_DATE + timedelta(days=int(n))


@functools.lru_cache(maxsize=4096)
def day_iso(n: int) -> str:
    """``YYYY-MM-DD`` of :func:`day_date` (cached: report rows repeat a few days many times)."""
    return day_date(n).isoformat()


@dataclass
class PlatformEntities:
    """One platform's entity tables (row order = the *_idx used in the cell state)."""

    accounts: pl.DataFrame
    campaigns: pl.DataFrame
    ad_groups: pl.DataFrame
    ads: pl.DataFrame


class AdsWorld:
    """A world's ad state, loaded once, answering reports and entity lists as of a time."""

    def __init__(self, world_dir: Path) -> None:
        state = Path(world_dir) / "state" / "ads"
        if not (state / "meta.json").exists():
            raise FileNotFoundError(f"{state} holds no ad state: run `roi simulate generate` first")
        self.meta = json.loads((state / "meta.json").read_text())
        self.seed = int(self.meta["seed"])
        self.windows: dict[str, int] = {k: int(v) for k, v in self.meta["restatement_days"].items()}
        self.credentials: dict[str, str] = self.meta["credentials"]
        self.end_utc = int(self.meta["end_utc"])
        self.first_utc = int(self.meta["first_utc"])
        ents = {
            n: pl.read_parquet(state / f"entities_{n}.parquet")
            for n in ("accounts", "campaigns", "ad_groups", "ads")
        }
        self.keywords = pl.read_parquet(state / "entities_keywords.parquet")
        self.media_partners = pl.read_parquet(state / "entities_media_partners.parquet")
        self.changes = pl.read_parquet(state / "entity_changes.parquet")
        self.entities: dict[str, PlatformEntities] = {}
        for p in (*CELL_PLATFORMS, "impact"):

            def only(df: pl.DataFrame, p: str = p) -> pl.DataFrame:
                return df.filter(pl.col("platform") == p) if df.height else df

            self.entities[p] = PlatformEntities(
                only(ents["accounts"]), only(ents["campaigns"]), only(ents["ad_groups"]), only(ents["ads"])
            )
        self.cells: dict[str, dict[str, np.ndarray]] = {}
        self.slices: dict[str, dict[tuple[int, int], tuple[int, int]]] = {}
        for p in CELL_PLATFORMS:
            df = pl.read_parquet(state / f"cells_{p}.parquet")
            self.cells[p] = {c: df[c].to_numpy() for c in df.columns}
            keys = (df["account_idx"].cast(pl.Int64) * 1_000_000 + df["local_day"].cast(pl.Int64)).to_numpy()
            starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            ends = np.r_[starts[1:], len(keys)]
            self.slices[p] = {
                (int(keys[s] // 1_000_000), int(keys[s] % 1_000_000)): (int(s), int(e))
                for s, e in zip(starts, ends, strict=True)
            }
        self.budgets, self.ad_set_budgets = self._budgets(state, ents)
        self.actions = pl.read_parquet(state / "impact_actions.parquet")
        self.fx = pl.read_parquet(state / "fx_rates.parquet")
        self._cache: dict[tuple[object, ...], pl.DataFrame] = {}
        self._lock = threading.Lock()

    def _budgets(self, state: Path, ents: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(campaign budgets, Meta ad set budgets) as generated; a world generated before budgets
        existed gets them computed from its cells the same way (simulator.ads.budgets)."""
        if (state / "campaign_budgets.parquet").exists():
            return (
                pl.read_parquet(state / "campaign_budgets.parquet"),
                pl.read_parquet(state / "ad_set_budgets.parquet"),
            )
        cells = {p: pl.DataFrame({c: self.cells[p][c] for c in CELL_COLUMNS}) for p in CELL_PLATFORMS}
        return campaign_budgets(ents["accounts"], ents["campaigns"], ents["ad_groups"], cells, self.seed)

    def _served_budgets(self, platform: str) -> pl.DataFrame:
        """campaign_id, budget_mode, budget_daily, budget_lifetime, budget_id of a platform's campaigns
        (none for Impact). ``budget_*``: the entity tables' own ``daily_budget`` is a delivery weight."""
        return self.budgets.filter(pl.col("platform") == platform).select(
            "campaign_id",
            pl.col("mode").alias("budget_mode"),
            pl.col("daily_budget").alias("budget_daily"),
            pl.col("lifetime_budget").alias("budget_lifetime"),
            "budget_id",
        )

    # ---- accounts -------------------------------------------------------------------------
    def account_index(self, platform: str, account_id: str) -> int | None:
        """Row index of an account of a platform, or None when the platform has no such account."""
        ids = self.entities[platform].accounts["account_id"].to_list()
        return ids.index(account_id) if account_id in ids else None

    def account(self, platform: str, idx: int) -> dict[str, str]:
        """The account row (account_id, market, currency, time_zone)."""
        return self.entities[platform].accounts.row(idx, named=True)

    # ---- reports --------------------------------------------------------------------------
    def report(self, platform: str, account_idx: int, first: date, last: date, as_of: int) -> pl.DataFrame:
        """Cells of local dates [first, last] as the platform reports them at ``as_of``.

        Columns: unit_idx, campaign_idx, ad_group_idx, local_day, local_hour and the metrics.
        Apple's rows are ad group x day (unit_idx = ad group index, local_hour = 0).
        """
        key = (platform, account_idx, first, last, as_of)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        acc = self.account(platform, account_idx)
        frames = []
        for n in range(day_number(first), day_number(last) + 1):
            span = self.slices[platform].get((account_idx, n))
            if span is None:
                continue
            day_end = local_midnight_utc(day_date(n + 1), acc["time_zone"])
            frames.append(self._slice(platform, span, day_end, as_of))
        out = pl.concat(frames) if frames else _empty()
        with self._lock:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = out
        return out

    def _slice(self, platform: str, span: tuple[int, int], day_end: int, as_of: int) -> pl.DataFrame:
        c = {k: v[span[0] : span[1]] for k, v in self.cells[platform].items()}
        visible = c["utc_start"] + 3600 * c["n_hours"].astype(np.int64) <= as_of
        c = {k: v[visible] for k, v in c.items()}
        if not len(c["rid"]):
            return _empty()
        age = as_of - day_end
        final = age >= self.windows[platform] * 86400
        stage = 0 if age < 0 else 1 + age // 86400
        if platform == "apple_search_ads":
            c = _apple_day(c, final)
        if final:
            keep = c["kind"] == KIND_NORMAL
            out = {
                k: c[k][keep] for k in ("unit_idx", "campaign_idx", "ad_group_idx", "local_day", "local_hour")
            }
            out.update({m: c[m][keep] for m in METRICS})
        else:
            out = _provisional(c, int(stage), self.seed * 10 + PLATFORM_SALT[platform])
        df = pl.DataFrame(out)
        return df.filter(pl.any_horizontal([pl.col(m) != 0 for m in METRICS]))

    # ---- entities -------------------------------------------------------------------------
    def entities_as_of(self, platform: str, as_of: int) -> dict[str, pl.DataFrame]:
        """Campaigns, ad groups and ads with name, status and parent as of ``as_of``.

        Adds ``status`` (ENABLED/PAUSED), ``updated_ts`` (epoch seconds of the last change
        seen, else a creation time before the world) and the ad groups' current campaign; the
        campaigns' budgets (``budget_mode``, ``budget_daily``, ``budget_lifetime``, ``budget_id``)
        and, on Meta, the ad sets' own daily budgets (``budget_daily``, null elsewhere).
        """
        e = self.entities[platform]
        ch = self.changes.filter((pl.col("platform") == platform) & (pl.col("effective_ts") <= as_of))
        created = self.first_utc - 30 * 86400

        def apply(df: pl.DataFrame, id_col: str, etype: str, fields: dict[str, str]) -> pl.DataFrame:
            mine = ch.filter(pl.col("entity_type") == etype)
            out = df.with_columns(
                pl.lit("ENABLED").alias("status"), pl.lit(created, dtype=pl.Int64).alias("updated_ts")
            )
            for field, col in fields.items():
                last = (
                    mine.filter(pl.col("field") == field)
                    .sort("effective_ts")
                    .group_by("entity_id")
                    .agg(pl.col("value").last().alias("_v"), pl.col("effective_ts").last().alias("_t"))
                )
                out = (
                    out.join(last, left_on=id_col, right_on="entity_id", how="left", maintain_order="left")
                    .with_columns(
                        pl.coalesce("_v", col).alias(col),
                        pl.max_horizontal("updated_ts", pl.col("_t").fill_null(created)).alias("updated_ts"),
                    )
                    .drop("_v", "_t")
                )
            return out

        camps = apply(e.campaigns, "campaign_id", "campaign", {"name": "campaign_name", "status": "status"})
        camps = camps.join(
            self._served_budgets(platform), on="campaign_id", how="left", maintain_order="left"
        )
        if platform == "impact":
            return {"campaigns": camps}
        groups = apply(e.ad_groups, "ad_group_id", "ad_group", {"campaign_id": "campaign_id"})
        groups = groups.join(
            self.ad_set_budgets.select("ad_group_id", pl.col("daily_budget").alias("budget_daily")),
            on="ad_group_id",
            how="left",
            maintain_order="left",
        )
        ads = (
            e.ads.drop("campaign_id")
            .join(
                groups.select("ad_group_id", "campaign_id"),
                on="ad_group_id",
                how="left",
                maintain_order="left",
            )
            .with_columns(
                pl.lit("ENABLED").alias("status"), pl.lit(created, dtype=pl.Int64).alias("updated_ts")
            )
        )
        return {"campaigns": camps, "ad_groups": groups, "ads": ads}

    # ---- Impact -------------------------------------------------------------------------
    def impact_actions(self, start_ts: int, end_ts: int, as_of: int) -> pl.DataFrame:
        """Actions with EventDate in [start_ts, end_ts) known at ``as_of``, with state and payout then."""
        a = self.actions.filter(
            (pl.col("event_ts") >= start_ts)
            & (pl.col("event_ts") < end_ts)
            & (pl.col("creation_ts") <= as_of)
        )
        return a.with_columns(
            pl.when((pl.col("adjust_ts") >= 0) & (pl.col("adjust_ts") > as_of))
            .then(pl.col("payout_initial_micros"))
            .otherwise(pl.col("payout_final_micros"))
            .alias("payout_micros"),
            pl.when((pl.col("reverse_ts") >= 0) & (pl.col("reverse_ts") <= as_of))
            .then(pl.lit("REVERSED"))
            .when(pl.col("locking_ts") <= as_of)
            .then(pl.lit("APPROVED"))
            .otherwise(pl.lit("PENDING"))
            .alias("state"),
        )

    # ---- FX -------------------------------------------------------------------------------
    def fx_published(self, as_of: int) -> pl.DataFrame:
        """Rates published by ``as_of`` (rate_date, EUR, GBP), oldest first."""
        return self.fx.filter(pl.col("published_ts") <= as_of).sort("rate_date")


def _empty() -> pl.DataFrame:
    schema = {
        "unit_idx": pl.Int32,
        "campaign_idx": pl.Int32,
        "ad_group_idx": pl.Int32,
        "local_day": pl.Int32,
        "local_hour": pl.Int8,
        **{m: pl.Int64 for m in METRICS},
    }
    return pl.DataFrame(schema=schema)


def _apple_day(c: dict[str, np.ndarray], final: bool) -> dict[str, np.ndarray]:
    """Aggregate Apple's hourly cells to ad group x day (rid = the group-day, kind = its kind)."""
    df = pl.DataFrame(c)
    if final:
        df = df.filter(pl.col("kind") == KIND_NORMAL)
    agg = (
        df.group_by("unit_idx", "campaign_idx", "ad_group_idx", "local_day")
        .agg(*[pl.col(m).sum() for m in METRICS], pl.col("kind").max())
        .with_columns(
            pl.lit(0, dtype=pl.Int8).alias("local_hour"),
            (pl.col("unit_idx").cast(pl.Int64) * 100_000 + pl.col("local_day")).alias("rid"),
        )
        .sort("campaign_idx", "ad_group_idx")
    )
    return {k: agg[k].to_numpy() for k in agg.columns}


def _provisional(c: dict[str, np.ndarray], stage: int, salt: int) -> dict[str, np.ndarray]:
    """The version of rows ``c`` seen ``stage`` days after their day ended (0 = the day itself)."""
    rid = c["rid"]
    kind = c["kind"]
    keep = np.ones(len(rid), dtype=bool)
    # Voided slices still show on their day and the next; invalid rows vanish after 1-3 days.
    keep &= ~((kind == KIND_VOIDED) & (stage >= 2))
    vanish_at = 1 + np.floor(hash_uniform(rid, salt, 1) * 3)
    keep &= ~((kind == KIND_INVALID) & (stage >= vanish_at))
    c = {k: v[keep] for k, v in c.items()}
    rid = c["rid"]
    conv = np.floor(c["conversions"] * (1.0 - 0.5 * 0.55**stage)).astype(np.int64)
    # Cost corrections: a few rows are billed differently until the platform settles them.
    u = hash_uniform(rid, salt, 2, stage)
    delta = (hash_uniform(rid, salt, 3, stage) - 0.5) * 0.3
    spend = c["spend_micros"].astype(np.float64)
    spend = np.where(u < 0.06, np.round(spend * (1 + delta) / CENT_MICROS) * CENT_MICROS, spend).astype(
        np.int64
    )
    clicks = c["clicks"] + (hash_uniform(rid, salt, 4, stage) < 0.05).astype(np.int64) * (c["clicks"] > 0)
    return {
        "unit_idx": c["unit_idx"],
        "campaign_idx": c["campaign_idx"],
        "ad_group_idx": c["ad_group_idx"],
        "local_day": c["local_day"],
        "local_hour": c["local_hour"],
        "impressions": c["impressions"],
        "clicks": clicks,
        "conversions": conv,
        "spend_micros": spend,
    }
