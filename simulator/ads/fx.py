"""Daily USD-based reference rates (EUR, GBP), published on TARGET business days at 16:00 CET.

Rates follow a small deterministic random walk; weekends and TARGET holidays have no rate,
like the ECB's. Lookups follow Frankfurter's rules: a weekend or holiday answers with the
last business day before it; a day not yet published answers with the latest published.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from simulator.ads.common import to_epoch

FX_CURRENCIES: tuple[str, ...] = ("EUR", "GBP")
_START_RATES = {"EUR": 0.9213, "GBP": 0.7871}


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = ((h + l_ - 7 * m + 114) % 31) + 1
    return date(year, month, day)


def is_business_day(d: date) -> bool:
    """True on TARGET business days (no weekend, New Year, Good Friday, Easter Monday, 1 May, 25/26 Dec)."""
    if d.weekday() >= 5:
        return False
    if (d.month, d.day) in ((1, 1), (5, 1), (12, 25), (12, 26)):
        return False
    easter = _easter(d.year)
    return d not in (easter - timedelta(days=2), easter + timedelta(days=1))


def publication_ts(d: date) -> int:
    """Epoch seconds at which the rates of business day ``d`` are published (16:00 Frankfurt time)."""
    return to_epoch(datetime(d.year, d.month, d.day, 16, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC))


def generate_fx(seed: int, first: date, last: date) -> pl.DataFrame:
    """Rates for every business day in [first, last]: rate_date, EUR, GBP, published_ts."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days = [d for d in days if is_business_day(d)]
    rng = np.random.default_rng([seed, 41])
    cols: dict[str, object] = {"rate_date": days}
    for cur in FX_CURRENCIES:
        steps = rng.normal(0.0, 0.0035, size=len(days))
        cols[cur] = np.round(_START_RATES[cur] * np.exp(np.cumsum(steps)), 4)
    cols["published_ts"] = [publication_ts(d) for d in days]
    return pl.DataFrame(cols, schema_overrides={"published_ts": pl.Int64})
