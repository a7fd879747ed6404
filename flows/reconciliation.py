"""The close gate's independent reconciliation: fine rows against the platform's own account × day totals.

Each ad connector pulls, beside its fine report (ad × hour, ad group × day), a coarse report
that the platform totals itself (Google ``FROM customer``, Meta ``level=account``, TikTok
``AUCTION_ADVERTISER``, Apple's campaigns report summed over campaigns), in the same run, for
the same (account, local date) slices, replaced with them. :func:`account_day_mismatches`
compares, for a UTC day D, the sum of the current fine rows of every account-local date that
overlaps D with the coarse total of that date: spend to the micro-unit of the account
currency, impressions and clicks (taps) exactly. An empty list means reconciled.

A local date still in progress when its latest pull ran (the pull's logical time before the
local day's end) is not judged: the platform's two reports are read seconds apart while spend
still accrues, so a difference would say nothing about the fine rows. The close of D runs at
T+1 05:00 UTC; a local date that ends later (an account west of UTC, whose local D ends at
D+1 08:00 UTC) is judged by the first close after a pull that saw it end.

Impact has no independent total: the Brand API documents the Actions list (the fine rows) and
a Reports API whose reports are per-account handles with account-defined columns (no documented
report with payout per day), so nothing independent can be pulled; FX rates have no spend.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector_sdk.specs import ReportSpec
from connectors.apple_search_ads.connector import CAMPAIGN_DAILY, AppleSearchAdsConnector
from connectors.google_ads.connector import ACCOUNT_DAILY as GOOGLE_DAILY
from connectors.google_ads.connector import GoogleAdsConnector
from connectors.meta_ads.connector import ACCOUNT_DAILY as META_DAILY
from connectors.meta_ads.connector import MetaAdsConnector
from connectors.tiktok_ads.connector import ACCOUNT_DAILY as TIKTOK_DAILY
from connectors.tiktok_ads.connector import TikTokAdsConnector
from roi.core.warehouse import table_exists

SCHEMA = "raw_ads"
METRICS = ("spend_micros", "impressions", "clicks")

NOT_AVAILABLE: dict[str, str] = {
    "impact": (
        "not available: the Brand API documents no independent total of payouts per account and "
        "day (Actions are the fine rows; Reports are account-defined handles with no documented "
        "columns), so there is nothing to reconcile against"
    ),
    "fx_rates": "not applicable: reference rates, no spend",
}
"""Platforms the gate cannot reconcile, with the reason the gate reports."""


@dataclass(frozen=True)
class Pair:
    """A platform's fine report and its coarse report, with the columns compared."""

    platform: str
    fine: ReportSpec
    coarse: ReportSpec
    counts: tuple[tuple[str, str], ...]  # (metric, column in both tables): impressions, clicks/taps
    time_zone: bool = True  # the tables carry the account's zone (Apple reports UTC days)

    def table(self, spec: ReportSpec) -> str:
        """The current raw table of one of the two reports."""
        return spec.full_name or f"{self.platform}__{spec.table}"

    def spend_micros(self, spec: ReportSpec) -> str:
        """SQL for the spend column in micro-units of the account currency (exact integers)."""
        col = spec.spend_column
        factor = round(1_000_000 / spec.spend_divisor)
        return f"cast({col} as bigint)" if factor == 1 else f"cast(round({col} * {factor}) as bigint)"


_COUNTS = (("impressions", "impressions"), ("clicks", "clicks"))
PAIRS: tuple[Pair, ...] = (
    Pair(GoogleAdsConnector.name, GoogleAdsConnector.report, GOOGLE_DAILY, _COUNTS),
    Pair(MetaAdsConnector.name, MetaAdsConnector.report, META_DAILY, _COUNTS),
    Pair(TikTokAdsConnector.name, TikTokAdsConnector.report, TIKTOK_DAILY, _COUNTS),
    Pair(
        AppleSearchAdsConnector.name,
        AppleSearchAdsConnector.report,
        CAMPAIGN_DAILY,
        (("impressions", "impressions"), ("clicks", "taps")),
        time_zone=False,
    ),
)


def coverage() -> dict[str, str]:
    """What the gate does per platform: the coarse table it reconciles against, or why it cannot."""
    out = {p.platform: f"reconciled against {SCHEMA}.{p.table(p.coarse)}" for p in PAIRS}
    return {**out, **NOT_AVAILABLE}


def account_day_mismatches(cur: Any, day: date) -> list[dict[str, Any]]:
    """Every (platform, account, local date, metric) of UTC day ``day`` whose fine sum differs from the coarse total.

    Each dict: ``platform, account_id, local_date, metric`` (``spend_micros``, ``impressions``,
    ``clicks``), ``fine``, ``coarse`` (integers; a side with no rows counts 0), ``currency``,
    ``fine_load_id``, ``coarse_load_id``. Local dates in progress at their latest pull are
    skipped (see the module docstring). Empty list: reconciled.
    """
    out: list[dict[str, Any]] = []
    for pair in PAIRS:
        if not table_exists(cur, SCHEMA, pair.table(pair.fine)):
            continue  # the platform was never pulled: nothing to reconcile
        rows = _day_rows(cur, pair, day)
        out.extend(_mismatches(pair, rows, day))
    return out


def _sums(cur: Any, pair: Pair, spec: ReportSpec, first: date, last: date) -> str:
    """SQL: one row per (account, local date) of one report: metric sums, currency, zone, load id."""
    if not table_exists(cur, SCHEMA, pair.table(spec)):
        # not pulled yet (a warehouse from before the coarse reports): no rows, so every fine total differs
        cols = ", ".join(f"cast(null as bigint) as {m}" for m in METRICS)
        return (
            f"select cast(null as varchar) as account_id, cast(null as date) as report_date, {cols}, "
            "cast(null as varchar) as currency, cast(null as varchar) as time_zone, "
            "cast(null as varchar) as load_id where false"
        )
    counts = ", ".join(f"sum({col}) as {metric}" for metric, col in pair.counts)
    tz = "max(time_zone)" if pair.time_zone else "'UTC'"
    return (
        f"select account_id, report_date, sum({pair.spend_micros(spec)}) as spend_micros, {counts}, "
        f"max(currency) as currency, {tz} as time_zone, max(_load_id) as load_id "
        f"from {SCHEMA}.{pair.table(spec)} "
        f"where report_date between date '{first.isoformat()}' and date '{last.isoformat()}' group by 1, 2"
    )


def _pulled(cur: Any, pair: Pair, first: date, last: date) -> str:
    """SQL: the logical time of each slice's latest applied pull (the slice log), or none."""
    log = f"{pair.platform}__slices"
    if not table_exists(cur, SCHEMA, log):
        return (
            "select cast(null as varchar) as account_id, cast(null as date) as report_date, "
            "cast(null as timestamp) as logical_time where false"
        )
    return (
        "select account_id, report_date, logical_time from (select account_id, report_date, logical_time, "
        "row_number() over (partition by account_id, report_date order by pulled_at desc, _load_id desc) as rn "
        f"from {SCHEMA}.{log} where coalesce(applied, true) "
        f"and report_date between date '{first.isoformat()}' and date '{last.isoformat()}') s where rn = 1"
    )


def _day_rows(cur: Any, pair: Pair, day: date) -> list[tuple[Any, ...]]:
    """(account, local date, fine sums..., coarse sums..., currency, zone, load ids, pulled at) near ``day``."""
    first, last = day - timedelta(days=1), day + timedelta(days=1)
    fine = ", ".join(f"f.{m}" for m in METRICS)
    coarse = ", ".join(f"c.{m}" for m in METRICS)
    sql = (
        f"with f as ({_sums(cur, pair, pair.fine, first, last)}), "
        f"c as ({_sums(cur, pair, pair.coarse, first, last)}), "
        f"s as ({_pulled(cur, pair, first, last)}) "
        "select coalesce(f.account_id, c.account_id) as a, coalesce(f.report_date, c.report_date) as d, "
        f"{fine}, {coarse}, coalesce(f.currency, c.currency), coalesce(f.time_zone, c.time_zone, 'UTC'), "
        "f.load_id, c.load_id, s.logical_time "
        "from f full outer join c on f.account_id = c.account_id and f.report_date = c.report_date "
        "left join s on s.account_id = coalesce(f.account_id, c.account_id) "
        "and s.report_date = coalesce(f.report_date, c.report_date) order by 1, 2"
    )
    return list(cur.execute(sql).fetchall())


def _mismatches(pair: Pair, rows: Iterable[tuple[Any, ...]], day: date) -> list[dict[str, Any]]:
    """The differing metrics of the complete local dates overlapping ``day``."""
    n = len(METRICS)
    out = []
    for row in rows:
        account, local, fine, coarse = row[0], _as_date(row[1]), row[2 : 2 + n], row[2 + n : 2 + 2 * n]
        currency, tz, fine_load, coarse_load, pulled = row[2 + 2 * n :]
        start, end = local_day_bounds(local, str(tz))
        if not overlaps(start, end, day) or in_progress(end, pulled):
            continue
        for metric, f, c in zip(METRICS, fine, coarse, strict=True):
            if int(f or 0) != int(c or 0):
                out.append(
                    {
                        "platform": pair.platform,
                        "account_id": str(account),
                        "local_date": local,
                        "metric": metric,
                        "fine": int(f or 0),
                        "coarse": int(c or 0),
                        "currency": currency,
                        "fine_load_id": fine_load,
                        "coarse_load_id": coarse_load,
                    }
                )
    return out


def local_day_bounds(local: date, tz: str) -> tuple[datetime, datetime]:
    """UTC start and end of the account-local date ``local`` in zone ``tz``."""
    zone = ZoneInfo(tz)
    start = datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(UTC)
    nxt = local + timedelta(days=1)
    return start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).astimezone(UTC)


def overlaps(start: datetime, end: datetime, day: date) -> bool:
    """Whether [start, end) overlaps the UTC day ``day``."""
    d0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start < d0 + timedelta(days=1) and end > d0


def in_progress(end: datetime, pulled: Any) -> bool:
    """Whether the local day had not ended at its latest pull's logical time (None: not logged, judged)."""
    if pulled is None:
        return False
    at = pulled if isinstance(pulled, datetime) else datetime.fromisoformat(str(pulled))
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at < end


def _as_date(value: Any) -> date:
    return (
        value
        if isinstance(value, date) and not isinstance(value, datetime)
        else date.fromisoformat(str(value)[:10])
    )
