"""Touches and sign-ups straight to Parquet for benchmarks (no JSON), cached by (days, seed, scale).

The attribution benchmark reads 8 days at scale 1.0: 800K sign-ups a day and, in the 7 days
before the attributed day, ~42M clicks and ~12M views (~6M and ~1.7M a day; `Mix` is tuned
for it). They come from the same journeys as the landing files
(:func:`simulator.events.journeys.simulate_day`), so their shape (touch paths, windows, spam)
is the world's; only the JSON encoding, dirt and landing layout are skipped.
"""

from __future__ import annotations

import math
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from rich.progress import Progress

from simulator.entities import build_entities
from simulator.events import ids
from simulator.events.catalog import Catalog
from simulator.events.config import EventsConfig
from simulator.events.day import DayOutput, WorldCtx
from simulator.events.generate import PART_SIGNUPS
from simulator.events.journeys import simulate_day

BENCH_START = date(2026, 10, 5)
# Part of the cache key: bump it whenever the journeys or volumes change, so a cache of an
# older world is not silently reused (2: volumes tuned to ~6M clicks and ~1.7M views a day).
BENCH_VERSION = 2
UTC_MS = pl.Datetime("ms", "UTC")


def _touches(day: DayOutput, cat: Catalog, rng: np.random.Generator, tag: str) -> pl.DataFrame:
    """Every visible touch of a day slice, keyed by the user it belongs to (anonymous ids for non-signers)."""
    own = day.touches.filter(pl.col("visible")).select(
        pl.coalesce("user_id", pl.format("anon_" + tag + "_{}", pl.col("person"))).alias("user_id"),
        "touch_ts",
        "touch_type",
        "platform",
        "campaign_id",
        "ad_group_id",
        "ad_id",
        "is_spam",
        pl.col("event_id").alias("touch_id"),
    )
    v, d = day.visitors, day.devices
    keep = np.flatnonzero(v.tagged)
    no = np.zeros(len(keep), bool)
    web = _touch_frame(
        cat, rng, "anon_" + v.anonymous_id.gather(keep), v.ts[keep], v.campaign[keep], v.ad[keep], no, no
    )
    dev = _touch_frame(cat, rng, "dev_" + d.device_id, d.ts, d.campaign, d.ad, d.is_view, d.is_spam)
    return pl.concat([own, web, dev]).with_columns(pl.col("touch_ts").cast(UTC_MS))


def _touch_frame(
    cat: Catalog,
    rng: np.random.Generator,
    user_id: pl.Series,
    ts: np.ndarray,
    campaign: np.ndarray,
    ad: np.ndarray,
    is_view: np.ndarray,
    is_spam: np.ndarray,
) -> pl.DataFrame:
    safe = np.where(ad < 0, 0, ad)
    has_ad = pl.Series(ad >= 0)
    return pl.DataFrame(
        {
            "user_id": user_id,
            "touch_ts": ts,
            "touch_type": np.where(is_view, "view", "click"),
            "platform": cat.platform.gather(campaign),
            "campaign_id": cat.campaign_id.gather(campaign),
            "ad_group_id": cat.ad_group_id.gather(safe),
            "ad_id": cat.ad_id.gather(safe),
            "is_spam": is_spam,
            "touch_id": ids.uuids(rng, len(ts)),
        }
    ).with_columns(pl.when(has_ad).then(pl.col("ad_group_id", "ad_id")))


def bench_parquet(cache_dir: Path, days: int, seed: int, scale: float) -> dict[str, Path]:
    """``{"touches": ..., "signups": ...}`` Parquet files for ``days`` days from 2026-10-05, built once.

    touches: user_id, touch_ts, touch_type, platform, campaign_id, ad_group_id, ad_id, is_spam, touch_id.
    signups: user_id, signup_ts, signup_date, device_platform, country. A later call with the same
    (days, seed, scale) returns the cached files (the folder name also carries ``BENCH_VERSION``).
    """
    folder = Path(cache_dir) / f"bench_events_v{BENCH_VERSION}_d{days}_s{seed}_x{scale:g}"
    paths = {"touches": folder / "touches.parquet", "signups": folder / "signups.parquet"}
    if (folder / "_DONE").exists():
        return paths
    if folder.exists():
        shutil.rmtree(folder)
    parts_dir = folder / "parts"
    parts_dir.mkdir(parents=True)
    cfg = EventsConfig()
    ctx = WorldCtx(seed, scale, BENCH_START, days, cfg, Catalog(build_entities(seed, scale)))
    parts = max(1, math.ceil(scale * cfg.mix.signups_per_day / PART_SIGNUPS))
    with Progress(transient=True) as bar:
        task = bar.add_task("bench touches + sign-ups", total=days * parts)
        for d in range(days):
            for part in range(parts):
                day = simulate_day(ctx, d, part, parts)
                rng = np.random.default_rng([seed, 9100, d, part])
                _touches(day, ctx.catalog, rng, f"{d}_{part}").filter(
                    pl.col("touch_ts").dt.epoch("ms") >= ctx.start_ms
                ).write_parquet(parts_dir / f"touches_{d:03d}_{part:04d}.parquet")
                day.identities.select(
                    "user_id",
                    pl.col("signup_ts").cast(UTC_MS),
                    pl.col("signup_ts").cast(UTC_MS).dt.date().alias("signup_date"),
                    "device_platform",
                    "country",
                ).write_parquet(parts_dir / f"signups_{d:03d}_{part:04d}.parquet")
                del day
                bar.advance(task)
    pl.scan_parquet(parts_dir / "touches_*.parquet").sink_parquet(paths["touches"])
    pl.scan_parquet(parts_dir / "signups_*.parquet").sink_parquet(paths["signups"])
    shutil.rmtree(parts_dir)
    (folder / "_DONE").write_text("ok\n")
    return paths
