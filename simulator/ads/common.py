"""Constants and small helpers shared by the ad-side generator and the API server.

The generator writes final values plus everything needed to derive every earlier version
of a report; the server derives the version an as-of time sees with the deterministic
hash below, so no version is ever stored and any as-of time can be answered.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

CELL_PLATFORMS: tuple[str, ...] = ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads")
ALL_PLATFORMS: tuple[str, ...] = ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads", "impact")
PLATFORM_SALT = {p: i + 1 for i, p in enumerate(ALL_PLATFORMS)}

# Every platform restates for 7 days by default; production windows differ (Meta 28,
# Apple 30) and are passed as configuration.
DEFAULT_RESTATEMENT_DAYS: dict[str, int] = {p: 7 for p in ALL_PLATFORMS}

# Row kinds in the cell state: 0 = ordinary, 1 = invalid traffic refunded later (served in
# early versions, gone in the final one), 2 = a slice voided whole (a test/fraud account day).
KIND_NORMAL, KIND_INVALID, KIND_VOIDED = 0, 1, 2

CENT_MICROS = 10_000

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch(ts: datetime) -> int:
    """Seconds since the epoch of an aware datetime (naive ones are taken as UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int((ts - EPOCH).total_seconds())


def from_epoch(s: int) -> datetime:
    """The aware UTC datetime of ``s`` seconds since the epoch."""
    return EPOCH + timedelta(seconds=int(s))


def local_midnight_utc(d: date, tz: str) -> int:
    """Epoch seconds (UTC) of local midnight starting ``d`` in time zone ``tz``."""
    return to_epoch(datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)).astimezone(UTC))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised: a good 64-bit hash of each element."""
    z = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def hash_uniform(rid: np.ndarray, *salts: int) -> np.ndarray:
    """Deterministic uniforms in [0, 1) from row ids and integer salts."""
    h = rid.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        for s in salts:
            h = mix64(h ^ mix64(np.full(1, s & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
