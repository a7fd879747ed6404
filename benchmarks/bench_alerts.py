"""Benchmark: the monitoring rules against labelled incidents — recall, precision, latency.

Run: ``.venv/bin/python -m benchmarks.bench_alerts [--scale 0.04] [--json out.json]``.

Two worlds of 22 days from Mon 5 Oct 2026 (seed 11, default dirt; cached under
``.roi/bench/alerts_<world>_s<scale>_v<N>/``, not timed): ``incidents``, with three incidents of
each kind the ops-table rules watch (``runaway_campaign``, ``campaign_stall``,
``tracking_break``, ``app_bug``, ``landing_outage``; one a day from day 8, drawn by
``simulator.world.planned_incidents`` as the simulator's own schedule draws them), and
``clean``, the same world without them. Each world is built once by the pipeline against its simulated APIs and landing files (a
``backfill`` of every day for the ads and FX rates, then one ``hourly_incremental`` for the landing).

Then, in a fresh interpreter on a copy of each warehouse, the rules are evaluated every 5
simulated minutes from day 8 to the end (the rule evaluation on the built tables, no flow run
per tick, as issue 16 allows): at each tick ``T`` the ops table holds what it would hold at
``T`` —

- landing-event counts (the ops refresh's own SQL, ``flows.ops.event_counts_sql``, in 5-minute
  buckets) of the 5-minute buckets ended by ``T``, summed into the 15-minute buckets, so the
  bucket now filling holds its elapsed part; an event delayed past ``T`` counts early (the
  share of such events is measured and reported);
- spend (``flows.ops.stage_spend``, the ops refresh's own spread) of the hours reported by
  ``T``: the simulated APIs report an hour once it is over, and the hourly flow (at :05) pulls
  it, so hour ``H`` is visible at ``H + 1 h + 10 min``, with its final (restated) value;
- ``raw_events.landing_manifest`` as loaded (files by their arrival time ≤ ``T``).

The scored rules are the six anomaly rules and ``landing_stall``, with ``flows/alert_rules.yaml``
as shipped; alerts open, update and resolve through ``flows.alerts.apply`` as in production.
The API incidents (``pull_failing``) need flow runs, not ticks: tests/monitoring covers them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import requests
from rich.console import Console
from rich.table import Table

from benchmarks.simproc import SimulatorProcess, child_result, print_result
from simulator.world import generate_world, planned_incidents, publish, read_sim_env

VERSION = 1
CACHE = Path(".roi/bench")
START = date(2026, 10, 5)
DAYS = 22
SEED = 11
FIRST_EVAL_DAY = 7  # day index: evaluation (and incidents) from the 8th day on
KINDS = ("runaway_campaign", "campaign_stall", "tracking_break", "app_bug", "landing_outage")
SCORED = (
    "spend_spike",
    "spend_drop",
    "cac_spike",
    "signups_drop",
    "tracking_break",
    "overspend",
    "landing_stall",
)
SPEND_LAG = timedelta(hours=1, minutes=10)  # hour H's spend is in the ops table at H + this
RECOMPUTE = timedelta(hours=3)  # each tick rebuilds the ops rows of the last 3 hours as of the tick
TICK = timedelta(minutes=5)
MATCH_AFTER_END = timedelta(hours=2)  # an alert opened this long after an incident's end is not its
PEPPER = "bench-pepper-not-a-secret-0123456789"


def _midnight(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), UTC)


def plan() -> list[tuple[str, date]]:
    """Three incidents of each kind, one a day from day 8, kinds in turn."""
    days = [START + timedelta(days=d) for d in range(FIRST_EVAL_DAY, DAYS)]
    return [(KINDS[i % len(KINDS)], day) for i, day in enumerate(days[: 3 * len(KINDS)])]


# -- build (child): the whole world through the pipeline ------------------------------------------


def build_child(world: Path, url: str) -> dict[str, Any]:
    """A backfill of every day (ads and FX rates), then one hourly_incremental over the world (landing)."""
    from flows.checks import ChecksFailed  # child only: Prefect reads PREFECT_HOME at import
    from flows.pipeline import backfill, hourly_incremental
    from roi.core.warehouse import get_warehouse

    end = _midnight(START + timedelta(days=DAYS))
    requests.post(f"{url}/_sim/as-of", json={"as_of": (end + timedelta(hours=6)).isoformat()}, timeout=30)
    publish(world, os.environ["ROI_LANDING_URL"], end + timedelta(hours=6))
    get_warehouse().bootstrap()
    t0 = time.perf_counter()
    checks: dict[str, str] = {}
    builds: list[tuple[str, Callable[[], object]]] = [
        ("backfill", lambda: backfill(START, START + timedelta(days=DAYS - 1))),
        ("hourly", lambda: hourly_incremental(window_start=_midnight(START), window_end=end)),
    ]
    for name, build in builds:
        try:
            build()
            checks[name] = "passed"
        except ChecksFailed as exc:
            # The facts and the landing are built before the checks run; only the mart waits for
            # them, and the rules read the facts and the landing. The backfill's checks see no
            # events yet (the landing is loaded after it), and a world with incidents fails some
            # (that is what the incidents are): the build records the message and goes on.
            checks[name] = str(exc)
    return {
        "build_s": time.perf_counter() - t0,
        "checks": checks,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def prepare(name: str, scale: float, console: Console) -> tuple[Path, Path, dict[str, Any]]:
    """The cached world and its built warehouse (generated and built on first use)."""
    root = CACHE / f"alerts_{name}_s{scale:g}_v{VERSION}"
    world, state, meta_path = root / "world", root / "state", root / "prepared.json"
    if meta_path.exists():
        return world, state / "warehouse.duckdb", json.loads(meta_path.read_text())
    shutil.rmtree(root, ignore_errors=True)
    state.mkdir(parents=True)
    console.print(f"generating the {name} world ({DAYS} days at scale {scale:g}, cached in {root})")
    t0 = time.perf_counter()
    incidents = planned_incidents(SEED, START, DAYS, scale, plan()) if name == "incidents" else False
    generate_world(world, START, DAYS, seed=SEED, scale=scale, show_progress=True, incidents=incidents)
    gen_s = time.perf_counter() - t0
    env = {**os.environ, **read_sim_env(world / "sim.env")}
    with SimulatorProcess(world, as_of=_midnight(START)) as srv, console.status(f"building the {name} world"):
        env.update(
            {
                "ROI_DUCKDB_PATH": str(state / "warehouse.duckdb"),
                "ROI_LANDING_URL": str(state / "landing"),
                "ROI_API_BASE_URL": srv.url,
                "ROI_PII_PEPPER": PEPPER,
                "ROI_RESTATEMENT_DAYS": "{}",
                "PREFECT_HOME": str(state / "prefect"),
                "PREFECT_LOGGING_LEVEL": "WARNING",
            }
        )
        cmd = [sys.executable, "-m", "benchmarks.bench_alerts", "--child", "build", "--world", str(world)]
        built = child_result([*cmd, "--url", srv.url], env, f"building the {name} world", tail=12)
    meta = {"generate_s": gen_s, **built}
    meta_path.write_text(json.dumps(meta))
    return world, state / "warehouse.duckdb", meta


# -- evaluate (child): the rules every 5 simulated minutes ----------------------------------------

_TABLES = """
create or replace table bench_e5 as {events};
create or replace table bench_s15 as
    select *, case when spend_basis = 'utc_hour'
                   then date_trunc('hour', bucket_start) + interval '{lag} minutes'
                   else date_trunc('day', bucket_start) + interval '1 day' + interval '{lag} minutes' end as visible_at
    from ops_spend;
"""
_ASOF = """
insert into analytics.ops_campaign_15min (bucket_start, platform, campaign_id, clicks, installs, signups,
    updated_at, platform_clicks, impressions, spend_usd, spend_basis)
with ev as (
    select time_bucket(interval 15 minute, bucket_start) as b, platform, campaign_id,
           sum(clicks) as clicks, sum(installs) as installs, sum(signups) as signups
    from bench_e5 where bucket_start >= ? and bucket_start < ? and bucket_start + interval 5 minute <= ?
    group by all
),
sp as (
    select * from bench_s15 where bucket_start >= ? and bucket_start < ? and visible_at <= ?
)
select coalesce(ev.b, sp.bucket_start), coalesce(ev.platform, sp.platform), coalesce(ev.campaign_id, sp.campaign_id),
       coalesce(ev.clicks, 0), coalesce(ev.installs, 0), coalesce(ev.signups, 0), ?,
       coalesce(sp.platform_clicks, 0), coalesce(sp.impressions, 0),
       case when sp.bucket_start is null then 0 else sp.spend_usd end, sp.spend_basis
from ev full outer join sp on ev.b = sp.bucket_start and ev.platform = sp.platform and ev.campaign_id = sp.campaign_id
"""


def _as_of(cur: Any, lo: datetime, hi: datetime, now: datetime) -> None:
    cur.execute(_ASOF, [lo, hi, now, lo, hi, now, now])


def _prepare_tables(cur: Any) -> dict[str, Any]:
    """The 5-minute event counts and the spend buckets of the whole world (the ops refresh's SQL)."""
    from flows.ops import OPS_DDL, event_counts_sql, stage_spend  # child only (see build_child)

    ids = [r[0] for r in cur.execute("select distinct _dlt_load_id from raw_events.events").fetchall()]
    quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
    days = [START + timedelta(days=d) for d in range(-1, DAYS + 1)]
    cur.execute("create schema if not exists analytics")
    cur.execute("drop table if exists analytics.ops_campaign_15min")
    cur.execute(OPS_DDL)  # stage_spend takes its staging table's shape from it
    stage_spend(cur, days)
    lag = int(SPEND_LAG.total_seconds() // 60)
    for stmt in _TABLES.format(events=event_counts_sql(cur, "duckdb", quoted, 5), lag=lag).split(";"):
        if stmt.strip():
            cur.execute(stmt)
    cur.execute("drop table if exists analytics.ops_campaign_15min")
    cur.execute(OPS_DDL)
    (late,) = cur.execute(
        "select avg(case when received_at >= time_bucket(interval 5 minute, event_ts) + interval 5 minute "
        "then 1.0 else 0.0 end) from raw_events.events where event_type = 'user_signup'"
    ).fetchone()
    return {"signups_counted_before_they_landed": float(late or 0.0)}


def evaluate_child() -> dict[str, Any]:
    """Every tick from day 8: the ops table as of the tick, the rules, the alerts applied."""
    from rich.progress import Progress  # child only (see build_child)

    from flows import alerts
    from flows.rules import configured_rules, evaluate
    from roi.core.warehouse import get_warehouse

    wh = get_warehouse()
    specs = {name: spec for name, spec in configured_rules().items() if name in SCORED}
    t0 = time.perf_counter()
    first = _midnight(START + timedelta(days=FIRST_EVAL_DAY))
    last = _midnight(START + timedelta(days=DAYS))
    ticks = int((last - first) / TICK)  # evaluations at first, first + 5 min, ..., last
    with wh.session("bench alerts"):
        cur = wh.connection().cursor()
        measured = _prepare_tables(cur)
        prep_s = time.perf_counter() - t0
        _as_of(
            cur, datetime(2000, 1, 1), (first - RECOMPUTE).replace(tzinfo=None), first.replace(tzinfo=None)
        )
        t1 = time.perf_counter()
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("ticks", total=ticks + 1)
            for k in range(ticks + 1):
                now = (first + k * TICK).replace(tzinfo=None)
                lo = now - RECOMPUTE
                cur.execute("delete from analytics.ops_campaign_15min where bucket_start >= ?", [lo])
                _as_of(cur, lo, now, now)
                results = evaluate(cur, now, specs)
                alerts.apply(cur, specs, results, now)
                bar.update(task, advance=1)
        tick_s = time.perf_counter() - t1
        rows = cur.execute(
            "select rule, alert_key, opened_at, resolved_at, numbers from audit.alerts order by opened_at"
        ).fetchall()
        cur.close()
    return {
        **measured,
        "prepare_s": prep_s,
        "ticks": ticks,
        "ticks_s": tick_s,
        "alerts": [
            {"rule": r, "key": k, "opened_at": o.isoformat(), "resolved_at": x.isoformat() if x else None}
            for r, k, o, x, _ in rows
        ],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_evaluation(name: str, db: Path) -> dict[str, Any]:
    """The evaluation in a fresh interpreter on a copy of the built warehouse."""
    run = db.parent.parent / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    shutil.copy(db, run / "warehouse.duckdb")
    env = {
        **os.environ,
        "ROI_DUCKDB_PATH": str(run / "warehouse.duckdb"),
        "PREFECT_HOME": str(run / "prefect"),
    }
    cmd = [sys.executable, "-m", "benchmarks.bench_alerts", "--child", "evaluate"]
    return child_result(cmd, env, f"evaluating the {name} world", tail=12)


# -- scoring (parent) ---------------------------------------------------------------------------


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _opened(alert: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(alert["opened_at"])


def _key_matches(rule: str, key: str, incident: dict[str, Any]) -> bool:
    """Whether an alert's key is the incident's (its campaign, its platform, or any for world-wide kinds)."""
    if incident["campaign_id"]:
        return key == f"{incident['platform']}:{incident['campaign_id']}"
    if incident["platform"]:
        return key in (incident["platform"], "all")
    return True


def reference_time(incident: dict[str, Any]) -> datetime:
    """When an incident can first be seen: its start; for spend, when its first hour is reported."""
    start: datetime = incident["start_ts"].replace(tzinfo=None)
    if incident["kind"] in ("runaway_campaign", "campaign_stall"):
        return start.replace(minute=0) + SPEND_LAG
    return start


def score(world: Path, found: list[dict[str, Any]]) -> dict[str, Any]:
    """Per rule: incidents alerted (recall), latency, repeats, resolution; alerts explained (precision)."""
    incidents = pl.read_parquet(world / "truth" / "incidents.parquet").to_dicts()
    matched: set[int] = set()
    per_rule: dict[str, dict[str, Any]] = {
        r: {
            "expected": 0,
            "alerted": 0,
            "latencies_min": [],
            "repeats": 0,
            "resolved": 0,
            "alerts": 0,
            "true": 0,
        }
        for r in SCORED
    }
    for inc in incidents:
        ref = reference_time(inc)
        end = inc["end_ts"].replace(tzinfo=None)
        for rule in inc["expected_rules"]:
            if rule not in per_rule:
                continue
            hits = [
                (i, a)
                for i, a in enumerate(found)
                if a["rule"] == rule
                and _key_matches(rule, a["key"], inc)
                and inc["start_ts"].replace(tzinfo=None) - TICK <= _opened(a) < end + MATCH_AFTER_END
            ]
            stats = per_rule[rule]
            stats["expected"] += 1
            matched.update(i for i, _ in hits)
            if hits:
                stats["alerted"] += 1
                first = min(_opened(a) for _, a in hits)
                stats["latencies_min"].append(round((first - ref).total_seconds() / 60, 1))
                keys = [a["key"] for _, a in hits]
                stats["repeats"] += len(keys) - len(set(keys))
                stats["resolved"] += all(a["resolved_at"] for _, a in hits)
    for i, a in enumerate(found):
        if a["rule"] in per_rule:
            per_rule[a["rule"]]["alerts"] += 1
            per_rule[a["rule"]]["true"] += i in matched
    return per_rule


def false_alerts(found: list[dict[str, Any]]) -> dict[str, int]:
    """Alerts per rule in the clean world (every one is false)."""
    out = dict.fromkeys(SCORED, 0)
    for a in found:
        if a["rule"] in out:
            out[a["rule"]] += 1
    return out


def report(result: dict[str, Any], scale: float, console: Console) -> None:
    per_rule, clean = result["scores"], result["clean_false_alerts"]
    weeks = (DAYS - FIRST_EVAL_DAY) / 7
    table = Table(
        title=f"alerts vs labelled incidents: {DAYS - FIRST_EVAL_DAY} days evaluated at scale {scale:g}, every 5 min"
    )
    for col in (
        "rule",
        "incidents",
        "alerted",
        "recall",
        "latency min (median / max)",
        "repeats",
        "resolved",
        "alerts",
        "precision",
        "clean world: false / week",
    ):
        table.add_column(col, justify="left" if col == "rule" else "right")
    for rule in SCORED:
        s = per_rule[rule]
        lat = sorted(s["latencies_min"])
        table.add_row(
            rule,
            str(s["expected"]),
            str(s["alerted"]),
            f"{s['alerted'] / s['expected']:.0%}" if s["expected"] else "-",
            f"{lat[len(lat) // 2]:.0f} / {lat[-1]:.0f}" if lat else "-",
            str(s["repeats"]),
            str(s["resolved"]),
            str(s["alerts"]),
            f"{s['true'] / s['alerts']:.0%}" if s["alerts"] else "-",
            f"{clean[rule] / weeks:.2f}",
        )
    console.print(table)
    for name in ("incidents", "clean"):
        ev = result[name]["evaluation"]
        console.print(
            f"{name}: {ev['ticks'] + 1:,} evaluations in {ev['ticks_s']:.0f} s "
            f"({(ev['ticks'] + 1) / ev['ticks_s']:.1f}/s), peak RSS {ev['peak_mb']:,.0f} MB; "
            f"sign-ups counted before landing {ev['signups_counted_before_they_landed']:.2%}; "
            f"preparation (cached): generate {result[name]['prepared']['generate_s']:.0f} s, "
            f"build {result[name]['prepared']['build_s']:.0f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.04)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="score the alerts of the last evaluation of each world again, without evaluating (after a scoring change)",
    )
    parser.add_argument("--child", choices=("build", "evaluate"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--world", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "build":
        print_result(build_child(args.world, args.url))
        return
    if args.child == "evaluate":
        print_result(evaluate_child())
        return
    if not args.scale > 0:
        raise SystemExit(
            "error: --scale must be positive (0.04 gives the rules enough sign-ups per 5 minutes)"
        )
    console = Console(width=170)
    result: dict[str, Any] = {"scale": args.scale, "days": DAYS, "seed": SEED, "start": START.isoformat()}
    for name in ("incidents", "clean"):
        world, db, prepared = prepare(name, args.scale, console)
        saved = db.parent.parent / "evaluation.json"  # the alerts of the last evaluation
        if args.rescore and saved.exists():
            evaluation = json.loads(saved.read_text())
        else:
            with console.status(f"evaluating the rules on the {name} world every 5 minutes"):
                evaluation = run_evaluation(name, db)
            saved.write_text(json.dumps(evaluation))
        result[name] = {"prepared": prepared, "evaluation": evaluation}
        if name == "incidents":
            result["scores"] = score(world, evaluation["alerts"])
            result["incident_list"] = pl.read_parquet(world / "truth" / "incidents.parquet").to_dicts()
        else:
            result["clean_false_alerts"] = false_alerts(evaluation["alerts"])
    out = args.json or CACHE / f"alerts_s{args.scale:g}_v{VERSION}.json"
    out.write_text(json.dumps(result, indent=1, default=str))
    report(result, args.scale, console)
    console.print(f"figures written to {out}")


if __name__ == "__main__":
    main()
