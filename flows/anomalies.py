"""Campaign anomaly rules on the ops table: spend spike and drop, CAC spike, sign-ups drop,
tracking break, overspend against the campaign's daily budget.

Each compares a window of ``analytics.ops_campaign_15min`` at the logical ``now`` with its
baseline (:mod:`flows.baselines`: the same weekday and time over four weeks, median and MAD,
falling back to the same time on the days before). Two windows:

- landing-event signals (sign-ups, attributed clicks and installs) use the last 5–20 minutes,
  the bucket now filling counted for its elapsed share, so an incident shows within minutes;
- spend signals use the platform's latest complete hour in the table: the ad platforms report
  by the hour and the hourly flow pulls them, so spend is visible about an hour after it is
  spent (docs/monitoring.md says so per platform). Apple Ads reports the UTC day: only
  ``overspend`` reads it.

An open alert stays open while its signal is past a milder ``resolve_ratio`` (hysteresis), so a
sustained incident alerts once and resolves once. Anomaly rules alert; they never block the close.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from flows.baselines import OPS, Baseline, baselines, hour_window, recent_window
from flows.rule_spec import Firing, Rule, RuleSpec
from roi.core.warehouse import table_exists

HOURLY = "and spend_basis = 'utc_hour'"
# A platform whose latest reported hour is older than this is stale (its pull is failing:
# pull_failing says so); spend rules do not judge a campaign on a stale hour.
MAX_SPEND_AGE = timedelta(hours=6)
PACE_HOURS = 3  # hours of today's spend that set the pace of the overspend projection


def _open_keys(cur: Any, rule: str) -> set[str]:
    """Keys of the rule's alerts still open (their signal is held to the milder resolve threshold)."""
    if not table_exists(cur, "audit", "alerts"):
        return set()
    rows = cur.execute(
        "select alert_key from audit.alerts where rule = ? and status <> 'resolved'", [rule]
    ).fetchall()
    return {r[0] for r in rows}


def _sigma(b: Baseline, metric: str, poisson: bool) -> float:
    """The past windows' spread, floored: at 10 % of the median, and at its Poisson noise for counts."""
    m = b.median(metric)
    floor = max(0.1 * m, m**0.5 if poisson else 0.0, 1e-9)
    return max(b.sigma(metric), floor)


def latest_spend_hours(cur: Any, now: datetime) -> dict[str, datetime]:
    """Per platform, the latest complete hour of hourly spend in the ops table before ``now``."""
    if not table_exists(cur, "analytics", "ops_campaign_15min"):
        return {}
    rows = cur.execute(
        f"select platform, max(bucket_start) from {OPS} where spend_basis = 'utc_hour' "
        "and bucket_start < ? and bucket_start >= ? group by platform",
        [now, now - MAX_SPEND_AGE],
    ).fetchall()
    # the spread writes an hour's four buckets together: the latest bucket ends its hour
    return {p: ts.replace(minute=0, second=0, microsecond=0) for p, ts in rows if ts is not None}


def _numbers(b: Baseline, metric: str, **extra: Any) -> dict[str, Any]:
    return {
        metric: round(b.now[metric], 2),
        "baseline_median": round(b.median(metric), 2),
        "baseline_points": [round(p[metric], 2) for p in b.past],
        "baseline_basis": b.basis,
        **extra,
    }


# -- spend spike / drop ---------------------------------------------------------------------


def _spend_moves(cur: Any, now: datetime, spec: RuleSpec, up: bool) -> list[Firing]:
    """Campaign spend in the platform's latest hour far above (or below) its baseline."""
    out = []
    opened = _open_keys(cur, spec.name)
    for platform, hour in sorted(latest_spend_hours(cur, now).items()):
        found = baselines(
            cur,
            hour_window(hour),
            {"spend": "sum(spend_usd)"},
            "campaign_id",
            "and platform = ? " + HOURLY,
            [platform],
            coverage_where="and platform = ? " + HOURLY,
        )
        for campaign, b in found.items():
            key = f"{platform}:{campaign}"
            median, value = b.median("spend"), b.now["spend"]
            if median < float(spec.param("min_usd", platform)):
                continue
            z = (value - median) / _sigma(b, "spend", poisson=False)
            ratio = value / median
            if key in opened:
                firing = (
                    ratio >= float(spec.param("resolve_ratio", platform))
                    if up
                    else (ratio <= float(spec.param("resolve_ratio", platform)))
                )
            elif up:
                firing = ratio >= float(spec.param("ratio", platform)) and z >= float(
                    spec.param("z", platform)
                )
            else:
                firing = ratio <= float(spec.param("ratio", platform)) and z <= -float(
                    spec.param("z", platform)
                )
            if firing:
                numbers = _numbers(
                    b,
                    "spend",
                    platform=platform,
                    campaign_id=campaign,
                    hour=hour.isoformat(),
                    ratio=round(ratio, 2),
                    z=round(z, 1),
                )
                word = "above" if up else "below"
                summary = (
                    f"{key}: spend ${value:,.0f} in the {hour:%H}:00 UTC hour, {ratio:.1f}x the "
                    f"{b.basis} baseline ${median:,.0f} ({word} threshold)"
                )
                out.append(Firing(spec.name, key, summary, numbers))
    return out


def spend_spike(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """A campaign spending far more in its latest reported hour than at that weekday-hour before."""
    return _spend_moves(cur, now, spec, up=True)


def spend_drop(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """A campaign spending far less in its latest reported hour than at that weekday-hour before."""
    return _spend_moves(cur, now, spec, up=False)


# -- CAC spike ------------------------------------------------------------------------------


def cac_spike(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """A campaign's cost per sign-up over its platform's latest ``hours`` reported hours far above baseline."""
    out = []
    opened = _open_keys(cur, "cac_spike")
    for platform, hour in sorted(latest_spend_hours(cur, now).items()):
        hours = int(spec.param("hours", platform))
        window = [q for h in range(hours) for q in hour_window(hour - timedelta(hours=h))]
        found = baselines(
            cur,
            window,
            {"spend": "sum(spend_usd)", "signups": "sum(signups)"},
            "campaign_id",
            "and platform = ?",
            [platform],
            coverage_where="and platform = ? " + HOURLY,
        )
        for campaign, b in found.items():
            key = f"{platform}:{campaign}"
            past_signups = statistics.median(p["signups"] for p in b.past)
            if past_signups < float(spec.param("min_signups", platform)) or b.now["spend"] < float(
                spec.param("min_usd", platform)
            ):
                continue
            past_cac = statistics.median(p["spend"] / max(p["signups"], 1.0) for p in b.past)
            cac = b.now["spend"] / max(b.now["signups"], 1.0)
            ratio = cac / past_cac if past_cac > 0 else 0.0
            limit = "resolve_ratio" if key in opened else "ratio"
            if ratio >= float(spec.param(limit, platform)):
                numbers = {
                    "platform": platform,
                    "campaign_id": campaign,
                    "cac_usd": round(cac, 2),
                    "baseline_cac_usd": round(past_cac, 2),
                    "ratio": round(ratio, 2),
                    "spend_usd": round(b.now["spend"], 2),
                    "signups": b.now["signups"],
                    "hours": f"{hour - timedelta(hours=hours - 1):%H}:00-{hour + timedelta(hours=1):%H}:00 UTC",
                    "baseline_basis": b.basis,
                }
                summary = (
                    f"{key}: CAC ${cac:,.2f} over the last {hours} reported hours, {ratio:.1f}x the "
                    f"{b.basis} baseline ${past_cac:,.2f}"
                )
                out.append(Firing("cac_spike", key, summary, numbers))
    return out


# -- sign-ups drop --------------------------------------------------------------------------


def signups_drop(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """Sign-ups of the last minutes far below the baseline, per platform (ops attribution) and in total."""
    if not table_exists(cur, "analytics", "ops_campaign_15min"):
        return []
    out = []
    opened = _open_keys(cur, "signups_drop")
    window = recent_window(now, int(spec.param("window_minutes")))
    found = {
        **baselines(cur, window, {"signups": "sum(signups)"}, "platform"),
        **baselines(cur, window, {"signups": "sum(signups)"}, "'all'"),
    }
    for key, b in sorted(found.items()):
        median, value = b.median("signups"), b.now["signups"]
        if median < float(spec.param("min_expected", key)):
            continue
        ratio = value / median
        z = (value - median) / _sigma(b, "signups", poisson=True)
        if key in opened:
            firing = ratio <= float(spec.param("resolve_ratio", key))
        else:
            firing = ratio <= float(spec.param("ratio", key)) and z <= -float(spec.param("z", key))
        if firing:
            numbers = _numbers(
                b,
                "signups",
                key=key,
                window_start=window[0][0].isoformat(),
                ratio=round(ratio, 2),
                z=round(z, 1),
            )
            who = "all platforms" if key == "all" else key
            summary = (
                f"sign-ups ({who}) since {window[0][0]:%H:%M} UTC: {value:.0f}, {ratio:.0%} of the "
                f"{b.basis} baseline {median:.0f}"
            )
            out.append(Firing("signups_drop", key, summary, numbers))
    return out


# -- tracking break -------------------------------------------------------------------------


def _spending(cur: Any, now: datetime) -> dict[str, float]:
    """Per platform, the spend of its latest reported hour (spend flowing)."""
    out = {}
    for platform, hour in latest_spend_hours(cur, now).items():
        (usd,) = cur.execute(
            f"select coalesce(sum(spend_usd), 0) from {OPS} where platform = ? and bucket_start >= ? "
            "and bucket_start < ? and spend_basis = 'utc_hour'",
            [platform, hour, hour + timedelta(hours=1)],
        ).fetchone()
        out[platform] = float(usd)
    return out


def tracking_break(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """Spend flowing but (almost) no clicks, installs or sign-ups attributed to the platform lately.

    A platform's landing clicks carry its click ids and its app touches a device id; when those
    are lost (a broken tag, an SDK release, a consent banner), the platform's attributed events
    vanish while it keeps spending. The window is the last 5–20 minutes ("N hours" of the issue
    is 0.25 h here: the loss is total, so a short window is safe).
    """
    if not table_exists(cur, "analytics", "ops_campaign_15min"):
        return []
    out = []
    opened = _open_keys(cur, "tracking_break")
    window = recent_window(now, int(spec.param("window_minutes")))
    found = baselines(cur, window, {"attributed": "sum(clicks + installs + signups)"}, "platform")
    spending = _spending(cur, now)
    for platform, b in sorted(found.items()):
        median, value = b.median("attributed"), b.now["attributed"]
        spend = spending.get(platform, 0.0)
        if median < float(spec.param("min_expected", platform)) or spend <= 0:
            continue
        ratio = value / median
        limit = "resolve_ratio" if platform in opened else "ratio"
        if ratio <= float(spec.param(limit, platform)):
            numbers = _numbers(
                b,
                "attributed",
                platform=platform,
                ratio=round(ratio, 3),
                latest_hour_spend_usd=round(spend, 2),
                window_start=window[0][0].isoformat(),
            )
            summary = (
                f"{platform}: {value:.0f} attributed clicks/installs/sign-ups since {window[0][0]:%H:%M} UTC "
                f"({ratio:.0%} of the {b.basis} baseline {median:.0f}) while spending ${spend:,.0f}/h"
            )
            out.append(Firing("tracking_break", platform, summary, numbers))
    return out


# -- overspend ------------------------------------------------------------------------------


def _budgets(cur: Any) -> dict[tuple[str, str], tuple[float, str]]:
    """Current daily budgets of the campaigns that have one: (platform, campaign) -> (amount, currency)."""
    if not table_exists(cur, "analytics", "dim_campaign"):
        return {}
    cols = {
        str(r[0]).lower()
        for r in cur.execute(
            "select column_name from information_schema.columns "
            "where lower(table_schema) = 'analytics' and lower(table_name) = 'dim_campaign'"
        ).fetchall()
    }
    if not {"daily_budget", "budget_currency"} <= cols:
        return {}
    rows = cur.execute(
        "select platform, campaign_id, daily_budget, budget_currency from analytics.dim_campaign "
        "where is_current and daily_budget is not null and daily_budget > 0"
    ).fetchall()
    return {(p, str(c)): (float(a), str(cur_)) for p, c, a, cur_ in rows}


def _usd_per_unit(cur: Any, today: Any) -> dict[str, float]:
    """USD per unit of each currency, as the spend of the last days was converted (no rate: left out)."""
    rates = {"USD": 1.0}
    if table_exists(cur, "analytics", "fact_ad_spend"):
        for currency, usd, local in cur.execute(
            "select currency, sum(spend_usd), sum(spend_local) from analytics.fact_ad_spend "
            "where spend_date between ? and ? and spend_usd is not null and spend_local > 0 group by currency",
            [today - timedelta(days=3), today],
        ).fetchall():
            rates[str(currency)] = float(usd) / float(local)
    return rates


def _hour_profile(cur: Any, day_start: datetime) -> dict[tuple[str, str], dict[int, float]]:
    """Per campaign, the median hourly spend by UTC hour over the 7 days before ``day_start``."""
    rows = cur.execute(
        f"select platform, campaign_id, cast(bucket_start as date), extract(hour from bucket_start), "
        f"sum(spend_usd) from {OPS} where bucket_start >= ? and bucket_start < ? {HOURLY} group by 1, 2, 3, 4",
        [day_start - timedelta(days=7), day_start],
    ).fetchall()
    per: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for platform, campaign, _, hour, usd in rows:
        per[(platform, str(campaign))][int(hour)].append(float(usd or 0))
    return {k: {h: statistics.median(v) for h, v in hours.items()} for k, hours in per.items()}


def overspend(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """Today's spend of a campaign over its daily budget, spent or projected at its current pace.

    Projected = spent so far today + the rest of the day's usual spend (median by hour over the
    past week) times the latest hour's pace against its usual spend. The day is the UTC day
    (budgets run on the account's day; the difference is hours of spend at the day's edges,
    inside the tolerance for a daily budget). Budgets come from ``dim_campaign`` (Google, Meta,
    TikTok, Apple; Impact has none), in USD at the rate the recent spend was converted at.
    """
    budgets = _budgets(cur)
    if not budgets or not table_exists(cur, "analytics", "ops_campaign_15min"):
        return []
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rates = _usd_per_unit(cur, day_start.date())
    spent = {
        (p, str(c)): float(usd or 0)
        for p, c, usd in cur.execute(
            f"select platform, campaign_id, sum(spend_usd) from {OPS} where bucket_start >= ? "
            "and bucket_start < ? group by 1, 2",
            [day_start, now],
        ).fetchall()
    }
    latest = latest_spend_hours(cur, now)
    profile = _hour_profile(cur, day_start)
    opened = _open_keys(cur, "overspend")
    out = []
    for (platform, campaign), (amount, currency) in sorted(budgets.items()):
        if currency not in rates or (platform, campaign) not in spent:
            continue
        budget = amount * rates[currency]
        so_far = spent[(platform, campaign)]
        projected = so_far + _rest_of_day(
            cur, platform, campaign, latest.get(platform), day_start, profile.get((platform, campaign), {})
        )
        key = f"{platform}:{campaign}"
        tolerance = float(spec.param("resolve_tolerance" if key in opened else "tolerance", platform))
        if max(so_far, projected) > budget * (1 + tolerance):
            numbers = {
                "platform": platform,
                "campaign_id": campaign,
                "spent_today_usd": round(so_far, 2),
                "projected_today_usd": round(projected, 2),
                "daily_budget_usd": round(budget, 2),
                "daily_budget": amount,
                "budget_currency": currency,
            }
            summary = (
                f"{key}: spent ${so_far:,.0f} today, projected ${projected:,.0f} against a daily "
                f"budget of ${budget:,.0f}"
            )
            out.append(Firing("overspend", key, summary, numbers))
    return out


def _rest_of_day(
    cur: Any,
    platform: str,
    campaign: str,
    hour: datetime | None,
    day_start: datetime,
    usual: dict[int, float],
) -> float:
    """The campaign's usual spend in the hours after ``hour`` today, times its pace.

    The pace is the spend of the latest ``PACE_HOURS`` reported hours today against their usual
    spend: one quiet night hour is too small a base to project a day from.
    """
    if hour is None or hour < day_start or not usual:
        return 0.0
    first = max(day_start, hour - timedelta(hours=PACE_HOURS - 1))
    (now_usd,) = cur.execute(
        f"select coalesce(sum(spend_usd), 0) from {OPS} where platform = ? and campaign_id = ? "
        f"and bucket_start >= ? and bucket_start < ? {HOURLY}",
        [platform, campaign, first, hour + timedelta(hours=1)],
    ).fetchone()
    base = sum(usual.get(h, 0.0) for h in range(first.hour, hour.hour + 1))
    if base <= 0:
        return 0.0
    return float(now_usd) / base * sum(v for h, v in usual.items() if h > hour.hour)


ANOMALY_RULES: dict[str, Rule] = {
    "spend_spike": spend_spike,
    "spend_drop": spend_drop,
    "cac_spike": cac_spike,
    "signups_drop": signups_drop,
    "tracking_break": tracking_break,
    "overspend": overspend,
}
