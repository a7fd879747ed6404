"""Generate the event side of a world: landing files, their manifest and the truth files.

Days are drawn one at a time (:func:`simulate_day`); each day's encoded lines are spooled to
Parquet per event-date folder, then every folder is written once, so memory stays bounded by
about one day of events whatever the world's length.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from simulator import incidents as inc
from simulator.entities import build_entities
from simulator.events.catalog import Catalog
from simulator.events.config import DAY_MS, TAIL_MS, EventsConfig
from simulator.events.day import DayOutput, WorldCtx
from simulator.events.journeys import simulate_day
from simulator.events.landing import FLUSH_MS, apply_dirt, encode, malformed, write_folder

Progress = Callable[[str, int, int], None]  # (phase, done, total)
UTC_MS = pl.Datetime("ms", "UTC")
PART_SIGNUPS = 80_000


def _noop(phase: str, done: int, total: int) -> None:
    return None


def generate_events(
    out: Path,
    start: date,
    days: int,
    seed: int,
    scale: float,
    cfg: EventsConfig | None = None,
    progress: Progress | None = None,
    part_signups: int = PART_SIGNUPS,
    incidents: Sequence[inc.Incident] = (),
) -> dict[str, int]:
    """Write ``out/landing/events/...``, ``out/landing_manifest.parquet`` and ``out/truth/*`` (event side).

    A day is drawn in slices of at most ``part_signups`` sign-ups (memory bound); tests lower it
    to get a multi-slice world at a small scale. Returns counts (events per type, lines, files)
    for the caller's summary.
    """
    if part_signups < 1:
        raise ValueError(f"part_signups must be at least 1, got {part_signups}")
    cfg = cfg or EventsConfig()
    progress = progress or _noop
    ctx = WorldCtx(
        seed=seed,
        scale=scale,
        start=start,
        days=days,
        cfg=cfg,
        catalog=Catalog(build_entities(seed, scale)),
        incidents=tuple(incidents),
    )
    spool = out / ".spool_events"
    landing = out / "landing"
    for p in (spool, landing / "events"):
        if p.exists():
            shutil.rmtree(p)
    spool.mkdir(parents=True)
    pieces: dict[str, list[pl.DataFrame]] = {
        k: [] for k in ("ident", "merge", "touch", "attr", "skan", "conv")
    }
    counts: dict[str, int] = {}
    # slices of at most ~80K sign-ups keep a scale-1.0 day inside a few GB
    parts = max(1, math.ceil(scale * cfg.mix.signups_per_day / part_signups))
    steps = days * parts
    for d in range(days):
        for part in range(parts):
            progress("journeys", d * parts + part, steps)
            day = simulate_day(ctx, d, part, parts)
            _spool_lines(ctx, day, d, part, parts, spool, counts)
            pieces["ident"].append(day.identities)
            pieces["merge"].append(day.merges)
            pieces["touch"].append(day.touches.filter(pl.col("user_id").is_not_null()).drop("person"))
            pieces["attr"].append(day.attribution.drop("person"))
            pieces["skan"].append(day.skan)
            pieces["conv"].append(day.conversions)
            del day
    progress("journeys", steps, steps)
    manifest = _write_landing(spool, landing, progress)
    shutil.rmtree(spool)
    manifest.write_parquet(out / "landing_manifest.parquet")
    counts["files"] = manifest.height
    counts["lines"] = int(manifest["n_lines"].sum())

    progress("truth", 0, 1)
    write_truth(out / "truth", ctx, pieces)
    progress("truth", 1, 1)
    return counts


def _spool_lines(
    ctx: WorldCtx, day: DayOutput, d: int, part: int, parts: int, spool: Path, counts: dict[str, int]
) -> None:
    """Dirty and encode a slice's events, add malformed lines, and spool them per event-date folder."""
    cfg = ctx.cfg
    # the share of client events on schema v2 ramps up to its final value on the last day
    v2_share = cfg.dirt.schema_v2_final * (d + 1) / ctx.days
    rng = np.random.default_rng([ctx.seed, 7002, d] if parts == 1 else [ctx.seed, 7002, d, part])
    evs = apply_dirt(rng, day.events, cfg.dirt, v2_share, ctx.start_ms, ctx.end_ms)
    for etype, df in evs:
        counts[etype] = counts.get(etype, 0) + df.height
    lines = pl.concat([encode(etype, df, rng) for etype, df in evs])
    del evs
    bad = malformed(rng, lines.filter(~pl.col("trel")), round(cfg.dirt.malformed * lines.height))
    counts["malformed"] = counts.get("malformed", 0) + bad.height
    lines = landing_outages(ctx.incidents, pl.concat([lines, bad]).drop("trel"))
    for (dt,), chunk in lines.partition_by("dt", as_dict=True, maintain_order=True).items():
        folder = spool / f"dt={dt}"
        folder.mkdir(exist_ok=True)
        # sorted by hour with small row groups, so the writer can read one hour at a time
        chunk.sort("hour", maintain_order=True).write_parquet(
            folder / f"gen={d:05d}-{part:04d}.parquet", compression="lz4", row_group_size=20_000
        )


def landing_outages(incidents: tuple[inc.Incident, ...], lines: pl.DataFrame) -> pl.DataFrame:
    """Lines with ``landing_outage`` incidents applied: a file due in [start, end) arrives at the first
    flush at or after ``end`` instead (late, nothing lost; the lines' ``received_at`` is unchanged)."""
    for outage in inc.of_kind(incidents, "landing_outage"):
        lo, hi = outage.start_s * 1000, outage.end_s * 1000
        after = -(-hi // FLUSH_MS) * FLUSH_MS
        due = pl.col("arrival")
        lines = lines.with_columns(
            pl.when((due >= lo) & (due < hi)).then(after).otherwise(due).alias("arrival")
        )
    return lines


def _write_landing(spool: Path, landing: Path, progress: Progress) -> pl.DataFrame:
    """Write the spooled lines as landing part files, one event hour at a time; returns the manifest."""
    manifest_rows: list[dict[str, object]] = []
    folders = sorted(spool.iterdir())
    for i, folder in enumerate(folders):
        progress("landing files", i, len(folders))
        files = sorted(folder.iterdir())
        for hour in range(24):
            lines = pl.concat([pl.scan_parquet(f).filter(pl.col("hour") == hour) for f in files]).collect()
            if lines.height:
                manifest_rows.extend(write_folder(landing, lines))
            del lines
    progress("landing files", len(folders), len(folders))
    return (
        pl.DataFrame(manifest_rows, orient="row")
        .with_columns(
            pl.col("arrival_ts").cast(pl.Int64).cast(UTC_MS),
            pl.col("first_received_ts").cast(pl.Int64).cast(UTC_MS),
            pl.col("hour").cast(pl.Int8),
        )
        .sort(["arrival_ts", "key"])
    )


def _canonical(identities: pl.DataFrame, merges: pl.DataFrame) -> pl.DataFrame:
    """user_id -> canonical user id, following merge chains (A -> B -> C gives C)."""
    edges = merges.select(pl.col("from_user_id").alias("cur"), pl.col("to_user_id").alias("nxt"))
    m = identities.select("user_id", pl.col("user_id").alias("cur"))
    for _ in range(16):
        step = m.join(edges, on="cur", how="left")
        if step["nxt"].null_count() == step.height:
            break
        m = step.select("user_id", pl.coalesce("nxt", "cur").alias("cur"))
    return m.rename({"cur": "canonical_user_id"})


def write_truth(truth: Path, ctx: WorldCtx, pieces: dict[str, list[pl.DataFrame]]) -> None:
    """The event side's ground truth: sign-ups, identities, last-touch attribution, touch paths, SKAN, PII."""
    truth.mkdir(parents=True, exist_ok=True)
    ident = pl.concat(pieces["ident"])
    merges = pl.concat(pieces["merge"]).filter(pl.col("merge_ts") < ctx.end_ms)
    canon = _canonical(ident, merges)
    conv = pl.concat(pieces["conv"]).filter(pl.col("first_conversion_ts") < ctx.end_ms)
    signups = _signups(ident, canon, conv)
    signups.write_parquet(truth / "signups.parquet")
    canon.sort("user_id").write_parquet(truth / "user_identities.parquet")
    # attribution and touch paths are per canonical user: map each first user id to it
    canonical = signups.select("user_id", "first_user_id")
    attr = (
        pl.concat(pieces["attr"])
        .join(canonical, left_on="user_id", right_on="first_user_id")
        .select(
            pl.col("user_id_right").alias("user_id"),
            "platform",
            "campaign_id",
            "ad_group_id",
            "ad_id",
            "touch_type",
            pl.col("touch_ts").cast(UTC_MS),
            "touch_event_id",
            "reason",
        )
        .sort("user_id")
    )
    attr.write_parquet(truth / "attribution_last_touch.parquet")
    touches = (
        pl.concat(pieces["touch"])
        .filter(pl.col("touch_ts") >= ctx.start_ms)
        .join(canonical, left_on="user_id", right_on="first_user_id")
        .with_columns(pl.col("user_id_right").alias("user_id"))
        .drop("user_id_right")
        .join(
            attr.select(pl.col("touch_event_id").alias("event_id"), pl.lit(True).alias("is_last_touch")),
            on="event_id",
            how="left",
        )
        .with_columns(pl.col("is_last_touch").fill_null(False), pl.col("touch_ts").cast(UTC_MS))
        .sort(["user_id", "touch_ts", "channel", "campaign_id", "touch_type"])
    )
    touches.write_parquet(truth / "touch_paths.parquet")
    skan = (
        pl.concat(pieces["skan"])
        .filter(pl.col("received_ts") < ctx.end_ms + TAIL_MS)
        .with_columns(install_date=pl.col("install_ts").cast(UTC_MS).dt.date())
        .group_by(["install_date", "platform", "campaign_id"])
        .agg(installs=pl.len().cast(pl.Int64), signups=pl.col("signed_up").sum().cast(pl.Int64))
        .sort(["install_date", "platform", "campaign_id"])
    )
    skan.write_parquet(truth / "skan_daily.parquet")
    ident.select("user_id", "email", "phone").sort("user_id").write_parquet(truth / "pii.parquet")


def _signups(ident: pl.DataFrame, canon: pl.DataFrame, conv: pl.DataFrame) -> pl.DataFrame:
    """One row per canonical user: their earliest sign-up and the first conversion of that account."""
    return (
        ident.join(canon, on="user_id")
        .sort(["canonical_user_id", "signup_ts", "user_id"])
        .unique("canonical_user_id", keep="first", maintain_order=True)
        .rename({"user_id": "first_user_id", "event_id": "signup_event_id"})
        .join(conv, left_on="first_user_id", right_on="user_id", how="left")
        .select(
            pl.col("canonical_user_id").alias("user_id"),
            pl.col("signup_ts").cast(UTC_MS),
            pl.col("signup_ts").cast(UTC_MS).dt.date().alias("signup_date"),
            "device_platform",
            "country",
            "is_test",
            "signup_event_id",
            "first_user_id",
            "first_conversion_type",
            pl.col("first_conversion_ts").cast(UTC_MS),
            "first_revenue",
            "first_revenue_currency",
            # first revenue counts if the first ride/order is within 30 days of sign-up
            ((pl.col("first_conversion_ts") - pl.col("signup_ts")) <= 30 * DAY_MS)
            .fill_null(False)
            .alias("first_within_30d"),
        )
        .sort(["signup_ts", "user_id"])
    )
