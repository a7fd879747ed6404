"""Benchmark: one ``close_daily`` of a full day, time and peak memory, gate by gate.

Run: ``.venv/bin/python -m benchmarks.bench_close [--scale 1.0] [--json out.json]``.

The world (cached under ``.roi/bench/close_s<scale>_v<N>/``, not timed) is one UTC day, Tue 20
Oct 2026, seed 7, default dirt (scale 1.0: ~800K sign-ups, ~10M landing lines). The warehouse
state (cached, not timed) is what production has at 05:00 UTC of the next day: one
``hourly_incremental`` from the day's start to 04:00 UTC of the next day (every landing file and
both ad days) and the ``restatement_lookback`` at 04:00, with ``ROI_RESTATEMENT_DAYS='{}'``.
Each measurement copies that state and runs, in a fresh interpreter (the ephemeral Prefect API
started before the clock by a no-op flow, as a deployed API is already up):

- ``baseline``: the Soda checks of the day (``flows.checks.run_all_checks(D, D+1)``), the same
  call the close's ``soda`` gate makes. It is the heaviest piece the close shares with every
  hourly run, so close minus baseline is what the close itself adds (the SQL gates, the
  snapshot into ``mart_marketing_roi_closed``, the audit rows);
- ``close``: ``close_daily(logical_time=D+1 05:00)``, with each gate's function timed.

Peak memory is each child's maximum RSS (Soda and DuckDB run in-process).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from benchmarks.simproc import SimulatorProcess, child_result, print_result
from simulator.world import generate_world, publish, read_sim_env

VERSION = 1
CACHE = Path(".roi/bench")
DAY = date(2026, 10, 20)
SEED = 7
T_STATE = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=4)
T_CLOSE = T_STATE + timedelta(hours=1)
PEPPER = "bench-pepper-not-a-secret-0123456789"


# -- child: one measurement in a fresh interpreter ------------------------------------------------
# Prefect and the flows are imported by the child alone: Prefect reads PREFECT_HOME (set by the
# parent for each child) once, at import.


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _instrument_gates(steps: list[tuple[str, float]]) -> None:
    """Wrap every gate's function (looked up at call time by ``run_gates``) to time it."""
    import flows.gates as G  # child only (see above)

    def timed(name: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                steps.append((f"gate {name}", time.perf_counter() - t0))

        return wrapper

    G.gate_soda = timed("soda", G.gate_soda)
    G.SQL_GATES = tuple((name, timed(name, fn)) for name, fn in G.SQL_GATES)


def _volumes() -> dict[str, int]:
    from roi.core.warehouse import get_warehouse  # child only (see above)

    cur = get_warehouse().connection().cursor()
    try:
        spend, signups = cur.execute(
            "select (select count(*) from analytics.fact_ad_spend where spend_date = ?), "
            "(select count(*) from analytics.fact_signups where signup_date = ?)",
            [DAY, DAY],
        ).fetchone()
    finally:
        cur.close()
    return {"spend_rows": int(spend), "signups": int(signups)}


def _prepare_state(world: Path, url: str) -> dict[str, Any]:
    """Production's state at 04:00 UTC of D+1: the day through hourly_incremental, then the lookback."""
    import flows.pipeline as P  # child only (see above)
    from roi.core.warehouse import get_warehouse

    publish(world, os.environ["ROI_LANDING_URL"], T_STATE)
    requests.post(f"{url}/_sim/as-of", json={"as_of": T_STATE.isoformat()}, timeout=30).raise_for_status()
    get_warehouse().bootstrap()
    t0 = time.perf_counter()
    P.hourly_incremental(window_start=datetime.combine(DAY, datetime.min.time(), UTC), window_end=T_STATE)
    P.restatement_lookback(window_end=T_STATE)
    return {"mode": "prep", "total_s": time.perf_counter() - t0, "peak_mb": _peak_mb(), **_volumes()}


def child(mode: str, world: Path, url: str) -> dict[str, Any]:
    """In this (fresh) process: prepare the state, or measure the baseline or the close."""
    from prefect import flow  # child only (see above)

    if mode == "prep":
        return _prepare_state(world, url)

    @flow(name="bench_warm_up")
    def warm_up() -> None:
        """Starts the ephemeral Prefect API before the clock."""

    warm_up()
    from flows.checks import run_all_checks  # child only (see above)
    from flows.close import close_daily

    steps: list[tuple[str, float]] = []
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    if mode == "baseline":
        results = run_all_checks(DAY, DAY + timedelta(days=1))
        out = {"checks": len(results), "failed": sum(not r.ok for r in results)}
    else:
        _instrument_gates(steps)
        done = close_daily(logical_time=T_CLOSE)
        out = {k: done[k] for k in ("outcome", "close_version", "message", "rows")}
    total = time.perf_counter() - t0
    return {"mode": mode, "total_s": total, "steps": steps, "peak_mb": _peak_mb(), **out, **_volumes()}


# -- parent: prepare (cached), measure, print -----------------------------------------------------


def run_child(mode: str, world: Path, state: Path, url: str) -> dict[str, Any]:
    """One measurement (or the preparation) in a fresh interpreter on the warehouse in ``state``."""
    env = {**os.environ, **read_sim_env(world / "sim.env")}
    env.update(
        {
            "ROI_DUCKDB_PATH": str(state / "warehouse.duckdb"),
            "ROI_LANDING_URL": str(state / "landing"),
            "ROI_API_BASE_URL": url,
            "ROI_PII_PEPPER": PEPPER,
            "ROI_RESTATEMENT_DAYS": "{}",
            "PREFECT_HOME": str(state / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_close",
        "--child",
        mode,
        "--world",
        str(world),
        "--url",
        url,
    ]
    return child_result(cmd, env, f"{mode} run")


def prepare(scale: float, console: Any) -> tuple[Path, Path, dict[str, Any]]:
    """The cached one-day world and the warehouse state at 04:00 UTC of the next day."""
    root = CACHE / f"close_s{scale:g}_v{VERSION}"
    world, state, done = root / "world", root / "state", root / "prepared.json"
    if done.exists():
        return world, state, json.loads(done.read_text())
    generated = root / "generated.json"
    if generated.exists():  # the world outlives a preparation that was stopped
        gen_s = float(json.loads(generated.read_text())["generate_s"])
    else:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        console.print(f"generating a one-day world at scale {scale:g} (cached in {root})")
        t0 = time.perf_counter()
        generate_world(world, DAY, 1, seed=SEED, scale=scale, show_progress=False)
        gen_s = time.perf_counter() - t0
        generated.write_text(json.dumps({"generate_s": gen_s}))
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    with (
        SimulatorProcess(world) as srv,
        console.status(f"preparing the warehouse up to {T_STATE:%a %d %H:%M} UTC"),
    ):
        prep = run_child("prep", world, state, srv.url)
    meta = {"generate_s": gen_s, **prep}
    done.write_text(json.dumps(meta, indent=1))
    return world, state, meta


def _copy_state(state: Path, to: Path) -> None:
    shutil.rmtree(to, ignore_errors=True)
    to.mkdir(parents=True)
    for db in state.glob("warehouse.duckdb*"):  # a WAL left by a process that did not close DuckDB too
        shutil.copy2(db, to / db.name)
    shutil.copytree(state / "dlt", to / "dlt")
    shutil.copytree(state / "landing", to / "landing", copy_function=os.link)  # never modified in place


def report(results: dict[str, dict[str, Any]], scale: float, meta: dict[str, Any], console: Any) -> None:
    """The per-gate table and the one-line summary against the baseline."""
    base, close = results["baseline"], results["close"]
    table = Table(title=f"close_daily of {DAY} at scale {scale:g} (logical time {T_CLOSE:%d %b %H:%M} UTC)")
    for col in ("step", "seconds", "share"):
        table.add_column(col, justify="left" if col == "step" else "right")
    merged: dict[str, float] = {}
    for name, secs in close["steps"]:
        merged[name] = merged.get(name, 0.0) + secs
    merged["snapshot, inputs, audit rows, Prefect"] = close["total_s"] - sum(merged.values())
    for name, secs in merged.items():
        table.add_row(name, f"{secs:.2f}", f"{secs / close['total_s']:.0%}")
    table.add_row("total (flow wall time)", f"{close['total_s']:.2f}", "100%", style="bold")
    console.print(table)
    rate = close["spend_rows"] / close["total_s"] if close["total_s"] else 0.0
    console.print(
        f"close_daily: {close['total_s']:.1f} s, peak RSS {close['peak_mb']:,.0f} MB, outcome {close['outcome']} "
        f"({close['rows']:,} closed rows); {close['spend_rows']:,} spend rows and {close['signups']:,} sign-ups "
        f"of the day, {rate:,.0f} spend rows/s. Baseline (the day's Soda checks alone, "
        f"{base['checks']} checks, {base['failed']} failed): {base['total_s']:.1f} s, peak RSS "
        f"{base['peak_mb']:,.0f} MB; the close is {close['total_s'] / base['total_s']:.2f}x its baseline."
    )
    console.print(
        f"preparation (cached, not timed): generate {meta['generate_s']:.0f} s, hourly_incremental + lookback "
        f"{meta['total_s']:.0f} s, peak {meta['peak_mb']:,.0f} MB"
    )
    if close["outcome"] != "closed":
        console.print(f"[yellow]the close did not close: {close['message']}[/]")


def main() -> None:
    """Prepare (cached), measure the baseline and the close in fresh interpreters, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 is a StreamRide peak day")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--world", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print_result(child(args.child, args.world, args.url))
        return
    if not args.scale > 0:
        raise SystemExit("error: --scale must be positive (1.0 is a StreamRide peak day)")
    console = Console(width=150)
    world, state, meta = prepare(args.scale, console)
    run_dir = state.parent / "run"
    _copy_state(state, run_dir)
    results: dict[str, dict[str, Any]] = {}
    try:
        with SimulatorProcess(world, as_of=T_CLOSE) as srv:
            for mode in ("baseline", "close"):
                with console.status(f"scale {args.scale:g}: {mode}"):
                    results[mode] = run_child(mode, world, run_dir, srv.url)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"scale": args.scale, "meta": meta, "results": results}, indent=1))
    report(results, args.scale, meta, console)


if __name__ == "__main__":
    main()
