"""Benchmark: the ads pull of one hourly run (today + yesterday) per platform, simulator in its own process.

Run: ``.venv/bin/python -m benchmarks.bench_ads_pull [--scale 0.25] [--platforms tiktok_ads,meta_ads]
[--before DIR] [--world DIR] [--repeat N]``.

A three-day world is generated (ads only); the simulator serves it from a child process
with its clock at the third day 17:00 UTC, as ``bench_hourly`` does. Each platform then
runs ``connector.load(mode="hourly")`` in a fresh interpreter into its own DuckDB file, with
the connector's shipped settings (rate limits, concurrency, retry policy): the time a real
hourly run spends on that platform. Fetch (HTTP + parsing) and load (dlt into DuckDB) are
timed apart. With ``--before DIR`` (an export of older code) the same runs are made with
that code, simulator included, against the same world, for a before/after ratio.

Prints rows, requests, seconds (fetch / load / total), rows/s and peak memory as a rich table.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.simproc import SimulatorProcess, run_script
from simulator.ads import generate_ads

START = date(2026, 10, 22)
DAYS = 3
AS_OF = datetime.combine(START + timedelta(days=DAYS - 1), datetime.min.time(), UTC) + timedelta(hours=17)
PLATFORMS = ("tiktok_ads", "meta_ads", "apple_search_ads", "google_ads")


_CHILD = r"""
import json, resource, sys, time
from datetime import datetime
from pathlib import Path
import roi.core
import dlt
import connectors
from connector_sdk.registry import get_connector
from simulator.world import credentials_by_source, read_sim_env

platform, url, world, out, as_of = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
logical = datetime.fromisoformat(as_of)
creds = credentials_by_source(read_sim_env(world / "sim.env"))[platform]
pipe = dlt.pipeline("bench_pull_" + platform, destination=dlt.destinations.duckdb(str(out / (platform + ".duckdb"))),
                    dataset_name="raw_ads", pipelines_dir=str(out / "dlt"))
conn = get_connector(platform)(base_url=url, credentials=creds)
fetch = []
_extract = conn.extract
def timed_extract(*a, **k):
    t = time.perf_counter()
    try:
        return _extract(*a, **k)
    finally:
        fetch.append(time.perf_counter() - t)
conn.extract = timed_extract
t0 = time.perf_counter()
summary = conn.load(pipe, mode="hourly", logical_time=logical)
total = time.perf_counter() - t0
print(json.dumps({"rows": summary.rows, "requests": summary.requests, "retries": summary.retries,
                  "fetch_s": fetch[0], "load_s": total - fetch[0], "total_s": total,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def pull(platform: str, url: str, world: Path, out: Path, cwd: Path | None) -> dict[str, Any]:
    """One platform's hourly pull in a fresh interpreter; its measurements."""
    out.mkdir(parents=True, exist_ok=True)
    return run_script(
        _CHILD, [platform, url, str(world), str(out), AS_OF.isoformat()], f"{platform} pull", cwd
    )


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    """Generate, serve, pull every platform (with the older code too when asked), print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--platforms", default=",".join(PLATFORMS))
    parser.add_argument("--before", type=Path, default=None, help="an export of older code to measure too")
    parser.add_argument(
        "--world", type=Path, default=None, help="reuse (or generate once into) this world dir"
    )
    parser.add_argument("--repeat", type=int, default=1, help="pull each platform this many times per code")
    args = parser.parse_args()
    platforms = [p.strip() for p in args.platforms.split(",") if p.strip()]
    console = Console(width=150)
    codes: list[tuple[str, Path | None]] = [("now", None)]
    if args.before is not None:
        codes.insert(0, ("before", args.before.resolve()))
    results: dict[tuple[str, str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as tmp:
        world = args.world or Path(tmp) / "world"
        if not (world / "sim.env").exists():
            with console.status(f"generating a {DAYS}-day scale-{args.scale} ads world"):
                generate_ads(world, START, DAYS, 7, args.scale)
        for rep in range(args.repeat):
            for label, cwd in codes:
                with SimulatorProcess(world, AS_OF, cwd) as srv:
                    for p in platforms:
                        with console.status(f"{label}: pulling {p}"):
                            load = _load_average()
                            out = Path(tmp) / f"{label}-{rep}"
                            results[(label, p, rep)] = pull(p, srv.url, world, out, cwd) | {"load": load}
    table = Table(
        title=f"Hourly-run ads pull (today + yesterday, as of {AS_OF:%a %H:%M} UTC), scale {args.scale}"
    )
    for col in (
        "code",
        "platform",
        "rows",
        "requests",
        "fetch s",
        "load s",
        "total s",
        "rows/s",
        "peak MB",
        "load avg",
        "vs before",
    ):
        table.add_column(col, justify="right")
    for (label, p, rep), r in results.items():
        before = results.get(("before", p, rep))
        ratio = f"{before['total_s'] / r['total_s']:.1f}x" if before and label != "before" else "-"
        table.add_row(
            label,
            p,
            f"{r['rows']:,}",
            f"{r['requests']:,}",
            f"{r['fetch_s']:.2f}",
            f"{r['load_s']:.2f}",
            f"{r['total_s']:.2f}",
            f"{r['rows'] / r['total_s']:,.0f}",
            f"{r['peak_mb']:.0f}",
            r["load"],
            ratio,
        )
    console.print(table)


if __name__ == "__main__":
    main()
