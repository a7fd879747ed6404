"""Dirt, JSON encoding and the S3-sink-shaped landing writer.

The files look like a Kafka S3 sink's output partitioned by *event* time: an event goes to
``events/dt=<event date>/hour=<event hour>/`` and the sink flushes what it received every
5 minutes, so each (folder, 5-minute arrival window) becomes one part file whose arrival
time (the file's mtime and its ``arrival_ts`` in the manifest) is the end of that window.
A late event therefore lands in a *new* part file inside an *old* hour folder.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from simulator.events import ids
from simulator.events.config import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, TAIL_MS, DirtRates

FLUSH_MS = 5 * MINUTE_MS
TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"
CLIENT_TYPES = ("landing", "app_install", "user_signup", "first_ride", "first_order", "purchase")
APP_VERSIONS = ("5.12.0", "5.12.1", "5.13.0", "5.14.0")
GZIP_LEVEL = 1  # speed over size: a scale-1.0 day is ~4 GB of JSON text


def fmt_ts(expr: pl.Expr) -> pl.Expr:
    """Epoch-ms int64 -> ``2026-10-22T13:45:12.345Z``."""
    return pl.from_epoch(expr, time_unit="ms").dt.strftime(TS_FORMAT)


def apply_dirt(
    rng: np.random.Generator,
    events: list[tuple[str, pl.DataFrame]],
    dirt: DirtRates,
    v2_share: float,
    start_ms: int,
    end_ms: int,
) -> list[tuple[str, pl.DataFrame]]:
    """Give every event a ``received_at`` (``_rx``) and add retries, delays, double clicks and schema v2."""
    out: list[tuple[str, pl.DataFrame]] = []
    for etype, df in events:
        if df.height == 0:
            continue
        keep = pl.col("_ts") >= start_ms
        if etype == "mmp_touch":
            keep &= pl.col("touch_ts") >= start_ms
        cap = end_ms + TAIL_MS
        # SKAN postbacks (event time = arrival) beyond the world's horizon have not arrived yet
        keep &= pl.col("_ts") < (cap if etype == "skan_postback" else end_ms)
        df = df.filter(keep)
        if etype == "landing" and dirt.double_click > 0:
            has_click = df.select(
                pl.any_horizontal(pl.col("gclid", "fbclid", "ttclid").is_not_null())
            ).to_series()
            pick = has_click.to_numpy() & (rng.random(df.height) < dirt.double_click)
            dbl = df.filter(pick)
            dbl = dbl.with_columns(
                event_id=ids.uuids(rng, dbl.height),
                _ts=pl.col("_ts") + pl.Series(rng.integers(SECOND_MS, 5 * SECOND_MS, dbl.height)),
                _trel=pl.lit(False),
            )
            df = pl.concat([df, dbl.filter(pl.col("_ts") < end_ms)])
        k = df.height
        ts = df["_ts"].to_numpy()
        if etype == "skan_postback":
            rx = ts.copy()
        else:
            rx = ts + 200 + rng.exponential(1500, k).astype(np.int64)
            u = rng.random(k)
            ooo = u < dirt.out_of_order
            late = (u >= dirt.out_of_order) & (u < dirt.out_of_order + dirt.late)
            rx[ooo] += rng.integers(MINUTE_MS, 30 * MINUTE_MS, int(ooo.sum()))
            rx[late] += rng.integers(2 * HOUR_MS, 72 * HOUR_MS, int(late.sum()))
            # an event of the world never arrives after its horizon: squeeze such delays inside it
            over = rx >= cap
            rx[over] = ts[over] + ((cap - 1 - ts[over]) * rng.uniform(0.9, 1.0, int(over.sum()))).astype(
                np.int64
            )
        df = df.with_columns(_rx=rx)
        v2 = np.zeros(k, dtype=bool)
        if etype in CLIENT_TYPES and v2_share > 0:
            v2 = rng.random(k) < v2_share
        df = df.with_columns(_v2=v2)
        if dirt.duplicate > 0:
            dup = df.filter(pl.Series(rng.random(k) < dirt.duplicate))
            dup = dup.with_columns(
                _rx=pl.col("_rx") + pl.Series(rng.integers(SECOND_MS, 20 * MINUTE_MS, dup.height))
            )
            df = pl.concat([df, dup.filter(pl.col("_rx") < cap)])
        out.append((etype, df))
    return out


def encode(etype: str, df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """One JSON line per event: ``dt, hour, arrival, rx, trel, line``."""
    fields = [c for c in df.columns if not c.startswith("_") and c != "event_id"]
    k = df.height
    df = df.with_columns(
        app_version=pl.Series(APP_VERSIONS).gather(rng.integers(0, len(APP_VERSIONS), k)),
        consent=pl.struct(analytics=pl.Series(rng.random(k) < 0.9), marketing=pl.Series(rng.random(k) < 0.7)),
    )
    if "touch_ts" in fields:
        df = df.with_columns(touch_ts=fmt_ts(pl.col("touch_ts")))
    head = [
        pl.col("event_id"),
        pl.lit(etype).alias("event_type"),
        fmt_ts(pl.col("_ts")).alias("event_ts"),
        fmt_ts(pl.col("_rx")).alias("received_at"),
    ]
    v1 = pl.struct(*head, pl.lit(1).alias("schema_version"), *fields).struct.json_encode()
    v2 = pl.struct(
        *head, pl.lit(2).alias("schema_version"), *fields, "app_version", "consent"
    ).struct.json_encode()
    part_ts = pl.col("_rx") if etype == "skan_postback" else pl.col("_ts")
    return df.select(
        dt=pl.from_epoch(part_ts, time_unit="ms").dt.strftime("%Y-%m-%d"),
        hour=(part_ts % DAY_MS // HOUR_MS).cast(pl.Int8),
        arrival=(pl.col("_rx") // FLUSH_MS + 1) * FLUSH_MS,
        rx=pl.col("_rx"),
        trel=pl.col("_trel"),
        line=pl.when(pl.col("_v2")).then(v2).otherwise(v1),
    )


def malformed(rng: np.random.Generator, source: pl.DataFrame, n: int) -> pl.DataFrame:
    """``n`` broken lines made from non-converting traffic lines, with fresh event ids.

    Kinds, in turn: truncated JSON, a wrong type (``event_ts`` as an epoch number), a missing
    required field (no ``event_id``), an unknown ``event_type``.
    """
    if n <= 0 or source.height == 0:
        return source.clear()
    src = source.sample(n=n, with_replacement=n > source.height, seed=int(rng.integers(0, 2**31)))
    kind = np.arange(n) % 4
    fresh = '"event_id":"' + ids.uuids(rng, n) + '"'
    line = pl.DataFrame({"line": src["line"], "fresh": fresh, "kind": kind, "cut": rng.uniform(0.2, 0.9, n)})
    line = line.with_columns(
        base=pl.col("line").str.replace(r'"event_id":"[^"]*"', pl.col("fresh"), literal=False)
    ).with_columns(
        line=pl.when(pl.col("kind") == 0)
        .then(pl.col("base").str.slice(0, (pl.col("base").str.len_chars() * pl.col("cut")).cast(pl.Int64)))
        .when(pl.col("kind") == 1)
        .then(pl.col("base").str.replace(r'"event_ts":"[^"]*"', '"event_ts":1790000000123'))
        .when(pl.col("kind") == 2)
        .then(pl.col("line").str.replace(r'"event_id":"[^"]*",', ""))
        .otherwise(pl.col("base").str.replace(r'"event_type":"[a-z_]*"', '"event_type":"app_heartbeat"'))
    )
    return src.with_columns(line=line["line"], trel=pl.lit(False))


def landing_key(dt: str, hour: int, arrival_ms: int) -> str:
    """The part file's key under the landing root."""
    stamp = datetime.fromtimestamp(arrival_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"events/dt={dt}/hour={hour:02d}/part-{stamp}.jsonl.gz"


def write_folder(landing: Path, lines: pl.DataFrame) -> Iterator[dict[str, object]]:
    """Write one ``dt=`` folder's part files; yield a manifest row per file."""
    lines = lines.sort(["hour", "arrival", "rx"], maintain_order=True)
    files = lines.group_by(["dt", "hour", "arrival"], maintain_order=True).agg(
        pl.col("line").str.join("\n"), pl.len().alias("n_events"), pl.col("rx").min().alias("rx_min")
    )

    def write_one(row: tuple[str, int, int, str, int, int]) -> dict[str, object]:
        dt, hour, arrival, text, n_events, rx_min = row
        key = landing_key(dt, hour, arrival)
        path = landing / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # mtime=0 in the gzip header keeps output byte-identical across runs
        data = gzip.compress((text + "\n").encode(), compresslevel=GZIP_LEVEL, mtime=0)
        path.write_bytes(data)
        os.utime(path, (arrival / 1000, arrival / 1000))
        return {
            "key": key,
            "arrival_ts": arrival,
            "dt": dt,
            "hour": hour,
            "n_lines": n_events,
            "size_bytes": len(data),
            "first_received_ts": rx_min,
        }

    # zlib releases the GIL: compress on both cores; map() keeps the manifest's order
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield from pool.map(write_one, files.iter_rows())
