"""A synthetic ops table for the anomaly rules: five weeks of 15-minute buckets, seeded noise.

Four campaigns on three platforms with a daily shape (quiet nights, busy evenings), Poisson
event counts and hourly spend spread over the hour's buckets, as ``flows/ops.py`` writes them.
Spend is reported up to the hour before ``now``'s hour (the hourly pull); events up to ``now``,
the bucket holding ``now`` only for its elapsed share. An incident multiplies one signal of
some keys over a time range, so each test has a clean and an incident version of the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from flows.ops import OPS_DDL
from roi.core.warehouse import get_warehouse

NOW = datetime(2026, 11, 20, 12, 10)  # a Friday
CAMPAIGNS = (("google_ads", "g1"), ("google_ads", "g2"), ("meta_ads", "m1"), ("tiktok_ads", "t1"))
SIGNUPS_PER_BUCKET = 40.0  # at the day's average
SPEND_PER_HOUR = 200.0  # USD at the day's average
SHAPE = np.array(
    [
        0.3,
        0.2,
        0.2,
        0.2,
        0.2,
        0.3,
        0.5,
        0.8,
        1.0,
        1.1,
        1.1,
        1.2,
        1.2,
        1.2,
        1.1,
        1.1,
        1.2,
        1.4,
        1.6,
        1.7,
        1.6,
        1.4,
        1.0,
        0.6,
    ]
)
SHAPE = SHAPE / SHAPE.mean()


@dataclass(frozen=True)
class Incident:
    """``signal`` (signups | attributed | spend) of the matching keys times ``factor`` in [start, end)."""

    signal: str
    factor: float
    start: datetime
    end: datetime = NOW + timedelta(days=1)
    platform: str | None = None
    campaign: str | None = None

    def hits(self, platform: str, campaign: str, ts: datetime) -> bool:
        return (
            self.start <= ts < self.end
            and self.platform in (None, platform)
            and self.campaign in (None, campaign)
        )


def ops_rows(
    now: datetime = NOW,
    days: int = 35,
    incidents: tuple[Incident, ...] = (),
    seed: int = 3,
    weekend: float = 1.0,
) -> pl.DataFrame:
    """The ops table's rows from ``days`` before ``now`` to ``now``; ``weekend`` scales Saturdays' and
    Sundays' events (a ride-hailing weekend is not a weekday)."""
    rng = np.random.default_rng(seed)
    first = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    last_spend_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    rows: list[dict[str, Any]] = []
    spend_noise: dict[str, float] = {}
    b = first
    while b < now:
        share = min(1.0, (now - b) / timedelta(minutes=15))
        shape = SHAPE[b.hour]
        hour = b.replace(minute=0)
        if b.minute == 0:
            spend_noise = {c: float(rng.normal(1.0, 0.05)) for _, c in CAMPAIGNS}
        for platform, campaign in CAMPAIGNS:

            def factor(signal: str, ts: datetime, p: str = platform, c: str = campaign) -> float:
                f = 1.0
                for inc in incidents:
                    if inc.signal == signal and inc.hits(p, c, ts):
                        f *= inc.factor
                return f

            lam = SIGNUPS_PER_BUCKET * shape * share * (weekend if b.weekday() >= 5 else 1.0)
            signups = rng.poisson(lam * factor("signups", b) * factor("attributed", b))
            clicks = rng.poisson(10 * lam * factor("attributed", b))
            installs = rng.poisson(0.5 * lam * factor("attributed", b))
            spend = None
            if hour <= last_spend_hour:
                spend = SPEND_PER_HOUR * shape * spend_noise[campaign] * factor("spend", hour) / 4
            rows.append(
                {
                    "bucket_start": b,
                    "platform": platform,
                    "campaign_id": campaign,
                    "clicks": clicks,
                    "installs": installs,
                    "signups": signups,
                    "updated_at": now,
                    "platform_clicks": 0.0 if spend is None else spend / 2,
                    "impressions": 0.0 if spend is None else spend * 40,
                    "spend_usd": 0.0 if spend is None else spend,
                    "spend_basis": None if spend is None else "utc_hour",
                }
            )
        b += timedelta(minutes=15)
    return pl.DataFrame(rows)


def load_ops(frame: pl.DataFrame) -> None:
    """Replace the warehouse's ops table with ``frame``."""
    wh = get_warehouse()
    with wh.session("test ops"):
        cur = wh.connection().cursor()
        try:
            cur.execute("drop table if exists analytics.ops_campaign_15min")
            cur.execute(OPS_DDL)
            cur.register("frame", frame.to_arrow())
            cur.execute("insert into analytics.ops_campaign_15min by name select * from frame")
            cur.unregister("frame")
        finally:
            cur.close()


def load_budgets(budgets: dict[tuple[str, str], float]) -> None:
    """``analytics.dim_campaign`` with current daily budgets in USD (the columns the overspend rule reads)."""
    wh = get_warehouse()
    with wh.session("test budgets"):
        cur = wh.connection().cursor()
        try:
            cur.execute(
                "create or replace table analytics.dim_campaign (platform varchar, campaign_id varchar, "
                "daily_budget decimal(18, 2), budget_currency varchar, is_current boolean)"
            )
            if budgets:
                cur.executemany(
                    "insert into analytics.dim_campaign values (?, ?, ?, 'USD', true)",
                    [(p, c, v) for (p, c), v in budgets.items()],
                )
        finally:
            cur.close()
