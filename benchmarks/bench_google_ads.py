"""Benchmark: one scale-1.0 day of Google Ads at ad x hour from the simulator into DuckDB.

Run: ``.venv/bin/python -m benchmarks.bench_google_ads [--scale 1.0]``. The parent generates
the world and serves its APIs; each path runs in a fresh subprocess (its own peak memory):

- ``arrow``: the connector as shipped (pages handed to dlt as Arrow tables, current +
  history + slice log + metadata tables).
- ``dicts``: the baseline, the same HTTP pull with every row handed to dlt as a dict (parquet
  loader files, the faster dict setting; into the
  same current and history tables).

Prints rows/s end to end and for the load alone (the HTTP pull is the same in both), seconds,
peak memory, and the ratio. Target: >= 100K rows/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

import roi  # noqa: F401  (telemetry off before anything else)

DAY = date(2026, 10, 24)

_CHILD = r"""
import json, resource, sys, time
from datetime import date, datetime, UTC
from pathlib import Path
import roi
import dlt, duckdb
import connectors
from connector_sdk.testing import read_sim_env
from connectors.google_ads import GoogleAdsConnector
path, url, world, out = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
day = date.fromisoformat(sys.argv[5])
creds = read_sim_env(world / "sim.env")["google_ads"]
pipe = dlt.pipeline("bench_" + path, destination=dlt.destinations.duckdb(str(out / (path + ".duckdb"))),
                    dataset_name="raw_ads", pipelines_dir=str(out / "dlt"))
conn = GoogleAdsConnector(base_url=url, credentials=creds, requests_per_second=0)
logical = datetime(day.year, day.month, day.day, tzinfo=UTC) + __import__("datetime").timedelta(days=2)
t0 = time.perf_counter()
if path == "arrow":
    accounts, results, ents = conn.extract("backfill", logical, day, day)
    t1 = time.perf_counter()
    source, counts = conn._source(results, ents, "backfill", logical)
    pipe.run(source)
    rows = counts["rows"]
else:
    accounts, results, ents = conn.extract("backfill", logical, day, day)
    t1 = time.perf_counter()
    pages = [p for r in results for p in r.pages]
    @dlt.resource(name="google_ads__ad_performance", write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                  primary_key="_row_key", merge_key=["account_id", "report_date"])
    def current():
        for p in pages:
            yield from p.to_pylist()
    @dlt.resource(name="google_ads__ad_performance_history", write_disposition="append")
    def history():
        for p in pages:
            yield from p.to_pylist()
    pipe.run([current(), history()], loader_file_format="parquet")
    rows = sum(p.num_rows for p in pages)
t2 = time.perf_counter()
con = duckdb.connect(str(out / (path + ".duckdb")), read_only=True)
stored = con.execute("select count(*), count(_dlt_load_id) from raw_ads.google_ads__ad_performance").fetchall()[0]
print(json.dumps({"rows": rows, "stored": stored[0], "with_load_id": stored[1], "fetch_s": t1 - t0, "load_s": t2 - t1,
                  "total_s": t2 - t0, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(path: str, url: str, world: Path, out: Path) -> dict[str, float]:
    """Run one path in a fresh interpreter and return its measurements."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, path, url, str(world), str(out), DAY.isoformat()],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{path} path failed: {proc.stderr.strip().splitlines()[-1:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Generate, serve, measure both paths, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    console = Console()
    from simulator.ads import generate_ads
    from simulator.server import SimServer

    with tempfile.TemporaryDirectory(prefix="bench-gads-") as tmp:
        world, out = Path(tmp) / "world", Path(tmp) / "out"
        out.mkdir()
        with console.status(f"generating a scale-{args.scale} day"):
            generate_ads(world, DAY, 1, 7, args.scale)
        with SimServer(world) as srv:
            results = {}
            for path in ("arrow", "dicts"):
                with console.status(f"loading through the {path} path"):
                    results[path] = child(path, srv.url, world, out)
    table = Table(title=f"Google Ads, one scale-{args.scale} day at ad x hour -> DuckDB")
    for col in ("path", "rows", "fetch s", "load s", "total s", "rows/s (total)", "rows/s (load)", "peak MB",
                "rows with load id"):  # fmt: skip
        table.add_column(col, justify="right")
    for path, r in results.items():
        table.add_row(path, f"{r['rows']:,}", f"{r['fetch_s']:.1f}", f"{r['load_s']:.1f}", f"{r['total_s']:.1f}",
                      f"{r['rows'] / r['total_s']:,.0f}", f"{r['rows'] / r['load_s']:,.0f}", f"{r['peak_mb']:.0f}",
                      f"{r['with_load_id']:,}/{r['stored']:,}")  # fmt: skip
    console.print(table)
    a, d = results["arrow"], results["dicts"]
    console.print(
        f"arrow vs dicts: {d['load_s'] / a['load_s']:.1f}x faster load, {d['total_s'] / a['total_s']:.1f}x end to end; "
        f"target >= 100,000 rows/s: {'met' if a['rows'] / a['total_s'] >= 100_000 else 'NOT met'} end to end, "
        f"{'met' if a['rows'] / a['load_s'] >= 100_000 else 'NOT met'} for the load"
    )


if __name__ == "__main__":
    main()
