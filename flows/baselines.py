"""Baselines of the ops table for the anomaly rules: a window now against the same window in past weeks.

The anomaly rules (``flows/rules.py``) compare a short window of ``analytics.ops_campaign_15min``
with the same weekday and time in the four weeks before (robust: the median of those weeks and
their median absolute deviation), falling back to the same time on the seven days before when
fewer than two of those weeks have data (a young deployment), and staying quiet with less.

A window is a list of 15-minute buckets, each with the share of it that counts: the bucket that
holds ``now`` is only partly visible, so its baseline counterparts count for that share. The
data now counts as landed (whatever the ops table holds), which is what the table is for.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


OPS = "analytics.ops_campaign_15min"
BUCKET = timedelta(minutes=15)
WEEKS = tuple(timedelta(weeks=k) for k in range(1, 5))
DAYS = tuple(timedelta(days=k) for k in range(1, 8))
MIN_WEEKS, MIN_DAYS = 2, 3
MAD_TO_SIGMA = 1.4826  # the MAD of a normal sample times this estimates its standard deviation

Window = list[tuple[datetime, float]]
"""Buckets of a window with the share of each that counts (1.0 for a complete bucket)."""


def floor_bucket(ts: datetime) -> datetime:
    return ts - timedelta(minutes=ts.minute % 15, seconds=ts.second, microseconds=ts.microsecond)


def recent_window(now: datetime, minutes: int = 5) -> Window:
    """The buckets from the one holding ``now - minutes`` to the one holding ``now`` (its elapsed share).

    With the default, the window is the last 5 to 20 minutes: the bucket now filling once five
    minutes of it have passed, else that bucket and the one before it.
    """
    first = floor_bucket(now - timedelta(minutes=minutes))
    last = floor_bucket(now)
    out: Window = []
    b = first
    while b <= last:
        share = min(1.0, (now - b) / BUCKET)
        if share > 0:
            out.append((b, share))
        b += BUCKET
    return out


def hour_window(hour: datetime) -> Window:
    """The four buckets of one complete hour (spend is reported by the hour)."""
    return [(hour + k * BUCKET, 1.0) for k in range(4)]


@dataclass(frozen=True)
class Baseline:
    """One key's figures in the window now and in each past window that has data."""

    now: dict[str, float]
    past: list[dict[str, float]]
    basis: str  # "weekday" (same weekday and time, up to 4 weeks) or "day" (same time, up to 7 days)

    def median(self, metric: str) -> float:
        return statistics.median(p[metric] for p in self.past)

    def sigma(self, metric: str) -> float:
        """Spread of the past windows: MAD scaled to a standard deviation."""
        m = self.median(metric)
        return MAD_TO_SIGMA * statistics.median(abs(p[metric] - m) for p in self.past)


def _sums(
    cur: Any, metrics: dict[str, str], key: str, buckets: list[datetime], where: str, params: list[Any]
) -> dict[tuple[str, datetime], dict[str, float]]:
    marks = ", ".join("?" for _ in buckets)
    cols = ", ".join(f"coalesce({expr}, 0)" for expr in metrics.values())
    rows = cur.execute(
        f"select {key}, bucket_start, {cols} from {OPS} where bucket_start in ({marks}) {where} group by 1, 2",
        [*buckets, *params],
    ).fetchall()
    return {(str(r[0]), r[1]): dict(zip(metrics, map(float, r[2:]), strict=True)) for r in rows}


def _covered(cur: Any, buckets: list[datetime], where: str, params: list[Any]) -> set[datetime]:
    """Buckets the table holds any row for (a bucket without rows is a gap in history, not zero)."""
    marks = ", ".join("?" for _ in buckets)
    rows = cur.execute(
        f"select distinct bucket_start from {OPS} where bucket_start in ({marks}) {where}",
        [*buckets, *params],
    ).fetchall()
    return {r[0] for r in rows}


def baselines(
    cur: Any,
    window: Window,
    metrics: dict[str, str],
    key: str,
    where: str = "",
    params: list[Any] | None = None,
    coverage_where: str = "",
) -> dict[str, Baseline]:
    """Per key: the metrics summed over ``window`` now and over the same window in past weeks (or days).

    ``metrics`` maps a name to an aggregate over the ops table (``sum(signups)``); ``key`` is the
    grouping expression (``platform``, ``'*'``); ``where``/``params`` filter the rows
    (``and platform = ?``). A past window counts when the table holds rows for all of its buckets
    (``coverage_where`` narrows which rows count as coverage, e.g. only spend rows); a key absent
    from a covered past window had zero there. The caller checks that the ops table exists
    (once per rule: the check is an ``information_schema`` query, a third of an evaluation's
    time when it ran for every baseline).
    """
    if not window:
        return {}
    params = params or []
    offsets = [timedelta(0), *WEEKS, *DAYS]
    wanted = [b - off for off in offsets for b, _ in window]
    sums = _sums(cur, metrics, key, wanted, where, params)
    covered = _covered(cur, wanted, coverage_where, params if coverage_where else [])

    def complete(off: timedelta) -> bool:
        return all(b - off in covered for b, _ in window)

    weeks = [off for off in WEEKS if complete(off)]
    days = [off for off in DAYS if complete(off)]
    if len(weeks) >= MIN_WEEKS:
        chosen, basis = weeks, "weekday"
    elif len(days) >= MIN_DAYS:
        chosen, basis = days, "day"
    else:
        return {}
    keys = {k for k, _ in sums}
    zero = dict.fromkeys(metrics, 0.0)

    def total(k: str, off: timedelta, scaled: bool) -> dict[str, float]:
        out = dict(zero)
        for b, share in window:
            got = sums.get((k, b - off), zero)
            for m in metrics:
                out[m] += got[m] * (share if scaled else 1.0)
        return out

    return {
        k: Baseline(
            now=total(k, timedelta(0), False), past=[total(k, off, True) for off in chosen], basis=basis
        )
        for k in sorted(keys)
    }
