"""Benchmark: how far the finance close is from the final numbers, on a 20-day world run as production runs it.

Run: ``.venv/bin/python -m benchmarks.bench_close_accuracy [--days 20] [--scale 0.0005] [--json PATH]``.

The world (cached under ``.roi/bench/close_accuracy_s<scale>_d<days>_v<N>/world``, not timed):
``--days`` UTC days from Mon 19 Oct 2026 (both daylight-saving changes inside 20 days), seed 5,
default dirt. In a fresh interpreter, against an empty warehouse, with the simulator's APIs
served from another process and ``ROI_RESTATEMENT_DAYS='{}'`` (every platform 7 days, as the
tests run), simulated time advances in the e2e suite's coarse steps, but with production's
daily schedule on every day: one ``hourly_incremental`` up to 04:00 UTC, the
``restatement_lookback`` at 04:00, then ``close_daily`` at 05:00 UTC for yesterday.

Reported (a rich table, and the figures as JSON, by default next to the world):

- close accuracy per platform: for each closed UTC day, ``|closed - final| / final`` of spend,
  with final = ``truth/spend_final.parquet`` (the platforms' final answer) and both sides in
  local currency per campaign, converted to USD at the same rate (the warehouse's final rate of
  that currency and day) so that currencies add up and an FX change does not count as a spend
  error; min / median / p90 / max over the days, and the signed total over all days;
- sign-ups: the closed deterministic + SKAN-modeled sign-ups vs the final (current published)
  mart per platform, and each day's closed total (unattributed row included) vs the truth;
- which adjustment causes explain the gap: Σ adjustments by cause per platform, and whether
  closed + Σ adjustments = current mart (``flows.adjustments.adjustment_mismatches``) and
  closed + Σ adjustments = truth to the micro-unit of ``spend_local`` per platform x campaign
  x day for the days whose restatement window had passed by the last lookback;
- timeliness: whether every day from the second on was closed before 06:00 UTC of the next day
  (``audit.close_runs``), and each blocked attempt with the gate that blocked it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import requests
from rich.console import Console
from rich.table import Table

from benchmarks.simproc import SimulatorProcess, child_result, print_result
from simulator.world import generate_world, publish, read_sim_env

VERSION = 1
CACHE = Path(".roi/bench")
START = date(2026, 10, 19)
SEED = 5
RESTATEMENT_DAYS = 7  # ROI_RESTATEMENT_DAYS='{}': every platform's default window
PEPPER = "bench-pepper-not-a-secret-0123456789"


# -- child: the timeline ---------------------------------------------------------------------------
# Prefect and the flows are imported by the child alone: Prefect reads PREFECT_HOME (set by the
# parent for the child) once, at import.


def _midnight(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), UTC)


def _advance(world: Path, url: str, end: datetime) -> None:
    """Move simulated time to ``end``: the APIs' clock and the landing files that arrived by then."""
    requests.post(f"{url}/_sim/as-of", json={"as_of": end.isoformat()}, timeout=30).raise_for_status()
    publish(world, os.environ["ROI_LANDING_URL"], end)


def run_timeline(world: Path, url: str, days: int) -> list[dict[str, Any]]:
    """Every day: hourly_incremental up to 04:00 UTC, the lookback at 04:00, close_daily at 05:00."""
    from flows.close import close_daily  # child only (see above)
    from flows.pipeline import hourly_incremental, restatement_lookback
    from roi.core.warehouse import get_warehouse

    get_warehouse().bootstrap()
    steps: list[dict[str, Any]] = []

    def timed(name: str, at: datetime, run: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = run(**kwargs)
        steps.append({"flow": name, "at": at.isoformat(), "s": time.perf_counter() - t0})
        return out

    prev = _midnight(START)
    for d in range(1, days + 1):
        at = _midnight(START) + timedelta(days=d, hours=4)
        _advance(world, url, at)
        timed("hourly_incremental", at, hourly_incremental, window_start=prev, window_end=at)
        timed("restatement_lookback", at, restatement_lookback, window_end=at)
        out = timed("close_daily", at, close_daily, logical_time=at + timedelta(hours=1))
        steps[-1].update(outcome=out["outcome"], message=out["message"])
        prev = at
    return steps


def child(world: Path, url: str, days: int, db: Path) -> dict[str, Any]:
    """Run the timeline in this fresh process; the figures are read afterwards by the parent."""
    t0 = time.perf_counter()
    steps = run_timeline(world, url, days)
    total = time.perf_counter() - t0
    from flows.adjustments import adjustment_mismatches  # child only (see above)
    from roi.core.warehouse import get_warehouse

    cur = get_warehouse().connection().cursor()
    mismatches = adjustment_mismatches(cur)
    cur.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "total_s": total,
        "steps": steps,
        "invariant_mismatches": [{k: str(v) for k, v in m.items()} for m in mismatches],
        "peak_mb": peak,
    }


# -- figures (parent, read-only on the warehouse the child left) --------------------------------


def _frame(con: Any, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    frame: pl.DataFrame = con.sql(sql, params=params or None).pl()
    return frame


def _quantiles(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    p90 = s[min(len(s) - 1, max(0, round(0.9 * (len(s) - 1))))]
    return {"min": s[0], "median": statistics.median(s), "p90": p90, "max": s[-1], "days": len(s)}


LATEST_CLOSED = """
with latest as (
    select report_date, max(close_version) as v from analytics.mart_marketing_roi_closed group by report_date
)
select c.* from analytics.mart_marketing_roi_closed c
join latest l on c.report_date = l.report_date and c.close_version = l.v
"""

CURRENT_MART = """
select m.report_date, m.platform, m.campaign_id, m.spend_usd, m.signups, m.modeled_signups
from analytics.mart_marketing_roi_daily m
join (select distinct attribution_version from analytics.mart_marketing_roi_closed) p
  on m.attribution_version = p.attribution_version
where m.report_date in (select distinct report_date from analytics.mart_marketing_roi_closed)
"""


def _rates(con: Any) -> pl.DataFrame:
    """The warehouse's final USD rate per currency and UTC day (from its current spend facts)."""
    return _frame(
        con,
        "select currency, spend_date as report_date, sum(spend_usd) / sum(spend_local) as rate "
        "from analytics.fact_ad_spend where spend_local <> 0 group by all",
    ).with_columns(pl.col("rate").cast(pl.Float64))


def spend_accuracy(con: Any, world: Path) -> tuple[dict[str, Any], pl.DataFrame]:
    """Per platform x day: closed vs final spend at one rate; the distribution of |Δ|/final per platform."""
    truth = pl.read_parquet(world / "truth" / "spend_final.parquet")
    final = truth.group_by(
        "platform", "campaign_id", "currency", pl.col("spend_date").alias("report_date")
    ).agg((pl.col("spend_micros").sum().cast(pl.Float64) / 1e6).alias("final_local"))
    closed = _frame(con, LATEST_CLOSED).filter(pl.col("platform") != "unattributed")
    closed = closed.select(
        "report_date", "platform", "campaign_id", "currency", pl.col("spend_local").cast(pl.Float64)
    )
    days = closed["report_date"].unique()
    final = final.filter(pl.col("report_date").is_in(days.implode()))
    both = final.join(
        closed, on=["report_date", "platform", "campaign_id"], how="full", coalesce=True, suffix="_closed"
    ).with_columns(pl.coalesce("currency", "currency_closed").alias("currency"))
    rates = _rates(con)
    # a currency-day without our own spend takes the currency's nearest earlier (else later) rate
    both = (
        both.join(rates, on=["currency", "report_date"], how="left")
        .sort("currency", "report_date")
        .with_columns(
            pl.col("rate").fill_null(strategy="forward").fill_null(strategy="backward").over("currency")
        )
    )
    per_day = (
        both.group_by("platform", "report_date")
        .agg(
            (pl.col("final_local").fill_null(0) * pl.col("rate")).sum().alias("final_usd"),
            (pl.col("spend_local").fill_null(0) * pl.col("rate")).sum().alias("closed_usd"),
        )
        .with_columns(
            ((pl.col("closed_usd") - pl.col("final_usd")).abs() / pl.col("final_usd")).alias("rel_err")
        )
        .sort("platform", "report_date")
    )
    out: dict[str, Any] = {}
    for (platform,), g in per_day.filter(pl.col("final_usd") > 0).group_by("platform", maintain_order=True):
        q = _quantiles(g["rel_err"].to_list())
        q["closed_usd_total"] = float(g["closed_usd"].sum())
        q["final_usd_total"] = float(g["final_usd"].sum())
        q["signed_total"] = q["closed_usd_total"] / q["final_usd_total"] - 1
        out[str(platform)] = q
    return out, per_day


def identity_to_truth(con: Any, world: Path, last_final: date) -> dict[str, Any]:
    """closed + Σ adjustments = truth to the micro of spend_local, per platform x campaign x day."""
    truth = pl.read_parquet(world / "truth" / "spend_final.parquet").filter(
        pl.col("spend_date") <= last_final
    )
    final = truth.group_by("platform", "campaign_id", pl.col("spend_date").alias("report_date")).agg(
        pl.col("spend_micros").sum().alias("final_micros")
    )
    ours = _frame(
        con,
        f"""
        with c as ({LATEST_CLOSED}),
        a as (
            select a.report_date, a.platform, a.campaign_id, sum(a.delta_spend_local) as adj
            from analytics.mart_marketing_roi_adjustments a
            join (select distinct close_id from c) k on a.close_id = k.close_id
            group by all
        )
        select c.report_date, c.platform, c.campaign_id,
               cast(round((coalesce(c.spend_local, 0) + coalesce(a.adj, 0)) * 1000000) as bigint) as ours_micros
        from c left join a using (report_date, platform, campaign_id)
        where c.platform <> 'unattributed' and c.report_date <= ?
        """,
        [last_final],
    )
    closed_days = _frame(con, "select distinct report_date from analytics.mart_marketing_roi_closed")
    # the truth also holds the UTC day before the world's first (local days east of UTC start then)
    final = final.join(closed_days, on="report_date", how="semi")
    joined = final.join(ours, on=["report_date", "platform", "campaign_id"], how="full", coalesce=True)
    joined = joined.with_columns(pl.col("final_micros", "ours_micros").fill_null(0))
    off = joined.filter(pl.col("final_micros") != pl.col("ours_micros"))
    return {
        "days_compared_up_to": last_final.isoformat(),
        "cells": joined.height,
        "cells_off": off.height,
        "examples": [{k: str(v) for k, v in r.items()} for r in off.head(5).to_dicts()],
    }


def signup_accuracy(con: Any, world: Path) -> dict[str, Any]:
    """Closed vs current published mart sign-ups per platform, and each day's closed total vs the truth."""
    closed = _frame(con, LATEST_CLOSED)
    current = _frame(con, CURRENT_MART)
    key = ["report_date", "platform"]
    agg = [pl.col("signups").sum(), pl.col("modeled_signups").sum()]
    c = closed.group_by(key).agg(agg)
    m = current.group_by(key).agg(agg)
    both = c.join(m, on=key, how="full", coalesce=True, suffix="_final").fill_null(0).sort(key)
    per_platform: dict[str, Any] = {}
    for (platform,), g in both.group_by("platform", maintain_order=True):
        closed_n = float((g["signups"] + g["modeled_signups"]).sum())
        final_n = float((g["signups_final"] + g["modeled_signups_final"]).sum())
        rel = [
            abs(a + b - x - y) / (x + y)
            for a, b, x, y in g.select(
                "signups", "modeled_signups", "signups_final", "modeled_signups_final"
            ).rows()
            if x + y > 0
        ]
        per_platform[str(platform)] = {
            "closed": closed_n,
            "final": final_n,
            "closed_deterministic": float(g["signups"].sum()),
            "final_deterministic": float(g["signups_final"].sum()),
            "closed_modeled": float(g["modeled_signups"].sum()),
            "final_modeled": float(g["modeled_signups_final"].sum()),
            **({"rel_err": _quantiles(rel)} if rel else {}),
        }
    truth = pl.read_parquet(world / "truth" / "signups.parquet").filter(~pl.col("is_test"))
    t = truth.group_by(pl.col("signup_date").alias("report_date")).agg(pl.len().alias("truth"))
    day = (
        closed.group_by("report_date")
        .agg((pl.col("signups") + pl.col("modeled_signups")).sum().alias("closed"))
        .join(t, on="report_date", how="left")
    )
    day = day.join(
        current.group_by("report_date").agg(
            (pl.col("signups") + pl.col("modeled_signups")).sum().alias("final")
        ),
        on="report_date",
        how="left",
    )
    rel_day = [abs(a - b) / b for a, b in day.select("closed", "truth").rows() if b]
    rel_final = [abs(a - b) / b for a, b in day.select("final", "truth").rows() if b]
    return {
        "per_platform": per_platform,
        "day_totals_vs_truth": _quantiles(rel_day) if rel_day else {},
        "final_day_totals_vs_truth": _quantiles(rel_final) if rel_final else {},
        "closed_total": float(day["closed"].sum()),
        "final_total": float(day["final"].sum()),
        "truth_total": int(day["truth"].sum()),
    }


def adjustments_by_cause(con: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Σ adjustments since each day's latest close, by platform and cause."""
    rows = con.execute(
        f"""
        with c as (select distinct close_id from ({LATEST_CLOSED}))
        select a.platform, a.cause, count(*), sum(delta_spend_usd), sum(delta_signups),
               sum(delta_modeled_signups), sum(delta_revenue_usd)
        from analytics.mart_marketing_roi_adjustments a join c using (close_id)
        group by all order by all
        """
    ).fetchall()
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for platform, cause, n, usd, su, mo, rev in rows:
        out[platform][cause] = {
            "rows": n,
            "spend_usd": float(usd or Decimal(0)),
            "signups": float(su or 0),
            "modeled_signups": float(mo or 0),
            "revenue_usd": float(rev or Decimal(0)),
        }
    return dict(out)


def spend_gap(con: Any) -> dict[str, dict[str, float]]:
    """Per platform: Σ closed and Σ current published spend (USD) over the closed days."""
    rows = con.execute(
        f"""
        with c as (select platform, sum(spend_usd) s from ({LATEST_CLOSED}) group by platform),
        m as (select platform, sum(spend_usd) s from ({CURRENT_MART}) group by platform)
        select coalesce(c.platform, m.platform), c.s, m.s from c full join m using (platform) order by 1
        """
    ).fetchall()
    return {p: {"closed_usd": float(a or 0), "current_usd": float(b or 0)} for p, a, b in rows}


def timeliness(con: Any) -> dict[str, Any]:
    """Per report date: when it first closed (logical time), whether before 06:00 of D+1, and its blocks."""
    rows = con.execute(
        "select report_date, min(logical_time) filter (where close_version is not null), "
        "count(*) filter (where close_version is null), "
        "string_agg(distinct blocked_by, ', ') filter (where blocked_by is not null) "
        "from audit.close_runs group by report_date order by report_date"
    ).fetchall()
    days = []
    for d, closed_at, blocked, gates in rows:
        deadline = datetime.combine(d + timedelta(days=1), datetime.min.time()) + timedelta(hours=6)
        on_time = closed_at is not None and closed_at < deadline
        days.append(
            {
                "report_date": d.isoformat(),
                "closed_at": closed_at.isoformat() if closed_at else None,
                "on_time": on_time,
                "blocked_attempts": blocked,
                "blocked_by": gates,
            }
        )
    from_second = days[1:]
    return {
        "days": days,
        "all_on_time_from_second_day": all(d["on_time"] for d in from_second),
        "on_time_from_second_day": sum(d["on_time"] for d in from_second),
        "days_from_second_day": len(from_second),
    }


def figures(db: Path, world: Path, days: int) -> dict[str, Any]:
    """Every figure of the report, read from the warehouse the child left (read-only)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        # the last lookback ran at 04:00 of START + days and reached RESTATEMENT_DAYS + 1 local
        # days back: UTC days up to START + days - RESTATEMENT_DAYS - 2 were final when last pulled
        last_final = START + timedelta(days=days - RESTATEMENT_DAYS - 2)
        spend, per_day = spend_accuracy(con, world)
        return {
            "spend": spend,
            "spend_per_day": [{k: str(v) for k, v in r.items()} for r in per_day.to_dicts()],
            "identity_to_truth": identity_to_truth(con, world, last_final),
            "signups": signup_accuracy(con, world),
            "adjustments": adjustments_by_cause(con),
            "spend_gap": spend_gap(con),
            "timeliness": timeliness(con),
        }
    finally:
        con.close()


# -- parent: world (cached), serve, run the child, report ----------------------------------------


def prepare_world(days: int, scale: float, console: Any) -> tuple[Path, float]:
    """The cached world (generated on first use) and how long generating it took."""
    root = CACHE / f"close_accuracy_s{scale:g}_d{days}_v{VERSION}"
    world, meta = root / "world", root / "generated.json"
    if meta.exists():
        return world, float(json.loads(meta.read_text())["generate_s"])
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    console.print(f"generating a {days}-day world at scale {scale:g} (cached in {root})")
    t0 = time.perf_counter()
    generate_world(world, START, days, seed=SEED, scale=scale, show_progress=False)
    gen_s = time.perf_counter() - t0
    meta.write_text(json.dumps({"generate_s": gen_s}))
    return world, gen_s


def run_child(world: Path, run: Path, url: str, days: int) -> dict[str, Any]:
    """The timeline in a fresh interpreter on an empty warehouse in ``run``."""
    env = {**os.environ, **read_sim_env(world / "sim.env")}
    env.update(
        {
            "ROI_DUCKDB_PATH": str(run / "warehouse.duckdb"),
            "ROI_LANDING_URL": str(run / "landing"),
            "ROI_API_BASE_URL": url,
            "ROI_PII_PEPPER": PEPPER,
            "ROI_RESTATEMENT_DAYS": "{}",
            "PREFECT_HOME": str(run / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    )
    cmd = [sys.executable, "-m", "benchmarks.bench_close_accuracy", "--child", "--world", str(world)]
    cmd += ["--url", url, "--days", str(days), "--db", str(run / "warehouse.duckdb")]
    return child_result(cmd, env, "the timeline", tail=12)


def _pct(x: float) -> str:
    return f"{x:.3%}"


def spend_table(fig: dict[str, Any]) -> Table:
    """Spend accuracy per platform, with the adjustments that explain the gap."""
    table = Table(
        title="close accuracy: spend, |closed - final| / final per platform x UTC day (local at one USD rate)"
    )
    for col in (
        "platform",
        "days",
        "min",
        "median",
        "p90",
        "max",
        "closed vs final, all days",
        "gap explained by",
    ):
        table.add_column(col, justify="left" if col in ("platform", "gap explained by") else "right")
    for platform, q in fig["spend"].items():
        causes = fig["adjustments"].get(platform, {})
        expl = ", ".join(
            f"{c} {v['spend_usd']:+,.2f} USD" for c, v in sorted(causes.items()) if v["spend_usd"]
        )
        table.add_row(
            platform,
            str(q["days"]),
            *(_pct(q[k]) for k in ("min", "median", "p90", "max")),
            f"{q['signed_total']:+.3%}",
            expl or "-",
        )
    return table


def signup_table(fig: dict[str, Any]) -> Table:
    """Closed vs final sign-ups per platform, and the adjustments by cause."""
    table = Table(
        title="close accuracy: sign-ups (deterministic + SKAN-modeled), closed vs final published mart"
    )
    for col in (
        "platform",
        "closed",
        "final",
        "median |Δ|/final",
        "max |Δ|/final",
        "adjustments by cause (sign-ups)",
    ):
        table.add_column(col, justify="left" if col.startswith(("platform", "adjust")) else "right")
    for platform, s in fig["signups"]["per_platform"].items():
        causes = fig["adjustments"].get(platform, {})
        expl = ", ".join(
            f"{c} {v['signups'] + v['modeled_signups']:+,.2f}"
            for c, v in sorted(causes.items())
            if v["signups"] or v["modeled_signups"]
        )
        q = s.get("rel_err", {})
        table.add_row(
            platform,
            f"{s['closed']:,.2f}",
            f"{s['final']:,.2f}",
            _pct(q["median"]) if q else "-",
            _pct(q["max"]) if q else "-",
            expl or "-",
        )
    return table


def report(
    fig: dict[str, Any], run: dict[str, Any], days: int, scale: float, gen_s: float, console: Any
) -> None:
    """Print the tables and the one-line verdicts."""
    console.print(spend_table(fig))
    console.print(signup_table(fig))
    tl, ident = fig["timeliness"], fig["identity_to_truth"]
    su = fig["signups"]
    mism = run["invariant_mismatches"]
    flows_s: dict[str, float] = defaultdict(float)
    for s in run["steps"]:
        flows_s[s["flow"]] += s["s"]
    console.print(
        f"closed by 06:00 UTC of D+1 from the second day on: {tl['on_time_from_second_day']} of "
        f"{tl['days_from_second_day']} days ({'all' if tl['all_on_time_from_second_day'] else 'NOT all'})"
    )
    for d in tl["days"]:
        if not d["on_time"] or d["blocked_attempts"]:
            console.print(
                f"  {d['report_date']}: closed at {d['closed_at']}, {d['blocked_attempts']} blocked attempt(s)"
                f" ({d['blocked_by'] or '-'})"
            )
    console.print(
        f"closed + Σ adjustments = current published mart: "
        f"{'holds' if not mism else f'{len(mism)} cells off'} (every closed day x platform x campaign)"
    )
    console.print(
        f"closed + Σ adjustments = truth/spend_final to the micro of spend_local, days up to "
        f"{ident['days_compared_up_to']}: {ident['cells'] - ident['cells_off']} of {ident['cells']} "
        f"platform x campaign x day cells"
    )
    dt = su["day_totals_vs_truth"]
    ft = su["final_day_totals_vs_truth"]
    console.print(
        f"sign-ups, each day's total (unattributed included) vs the truth's non-test sign-ups: closed median "
        f"{_pct(dt.get('median', 0))}, max {_pct(dt.get('max', 0))}; final mart median "
        f"{_pct(ft.get('median', 0))}, max {_pct(ft.get('max', 0))}; all days {su['closed_total']:,.2f} closed, "
        f"{su['final_total']:,.2f} final, {su['truth_total']:,} true"
    )
    console.print(
        f"{days}-day world at scale {scale:g} (generated in {gen_s:.0f} s, cached); timeline "
        f"{run['total_s']:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in flows_s.items())
        + f"), peak RSS {run['peak_mb']:,.0f} MB"
    )


def main() -> None:
    """Generate (cached) and serve the world, run the timeline in a child, report the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--scale", type=float, default=0.0005)
    parser.add_argument(
        "--json", type=Path, default=None, help="where to write the figures (default: next to the world)"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="recompute the figures from the last finished run, run nothing",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--world", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print_result(child(args.world, args.url, args.days, args.db))
        return
    if args.days < 2 or not args.scale > 0:
        raise SystemExit(
            "error: --days must be at least 2 (20 lets a restatement window pass) "
            "and --scale positive (0.0005 is the e2e world's)"
        )
    console = Console(width=170)
    world, gen_s = prepare_world(args.days, args.scale, console)
    run = world.parent / "run"
    out = args.json or world.parent / "close_accuracy.json"
    if args.report_only:  # the figures again from the last finished run (its timings kept)
        result = json.loads(out.read_text())["run"]
    else:
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir()
        with (
            SimulatorProcess(world, as_of=_midnight(START)) as srv,
            console.status(f"running {args.days} days: hourly to 04:00, lookback, close at 05:00"),
        ):
            result = run_child(world, run, srv.url, args.days)
    fig = figures(run / "warehouse.duckdb", world, args.days)
    payload = {"days": args.days, "scale": args.scale, "seed": SEED, "start": START.isoformat()}
    out.write_text(
        json.dumps({**payload, "generate_s": gen_s, "run": result, "figures": fig}, indent=1, default=str)
    )
    report(fig, result, args.days, args.scale, gen_s, console)
    console.print(f"figures written to {out}")


if __name__ == "__main__":
    main()
