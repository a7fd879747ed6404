"""Benchmark: generate one scale-1.0 day of ad data (``simulator.ads.generate_ads``).

Run: ``.venv/bin/python -m benchmarks.bench_sim_ads [--scale 1.0] [--days 1]``. Each
generation runs in a fresh subprocess so its peak memory (ru_maxrss) is its own; the
baseline is the same generator at a tenth of the scale, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

from rich.console import Console
from rich.table import Table

_CHILD = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
import polars as pl
from simulator.ads import generate_ads
out, scale, days = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
t = time.perf_counter()
generate_ads(out, date(2026, 10, 24), days, 7, scale)
secs = time.perf_counter() - t
cells = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in (out / "state" / "ads").glob("cells_*.parquet"))
truth = pl.read_parquet(out / "truth" / "spend_final.parquet")
print(json.dumps({"secs": secs, "cells": cells, "truth_rows": truth.height,
                  "impressions": int(truth["impressions"].sum()), "clicks": int(truth["clicks"].sum()),
                  "conversions": int(truth["conversions"].sum()),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(scale: float, days: int) -> dict[str, float]:
    """Generate in a subprocess and return its measurements."""
    with tempfile.TemporaryDirectory(prefix="bench-sim-ads-") as tmp:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, tmp, str(scale), str(days)],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure the target scale and a 1/10 baseline; print a rich table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=1)
    args = ap.parse_args()
    console = Console(width=150)
    results = {}
    for label, scale in (("baseline (scale/10)", args.scale / 10), (f"scale {args.scale}", args.scale)):
        with console.status(f"generating {args.days} day(s) at scale {scale} ..."):
            results[label] = run(scale, args.days)
    table = Table(title=f"simulator.ads.generate_ads: {args.days} day(s)")
    for col in (
        "run",
        "seconds",
        "cells",
        "cells/s",
        "truth rows",
        "impressions",
        "clicks",
        "conversions",
        "peak MB",
    ):
        table.add_column(col, justify="right")
    for label, r in results.items():
        table.add_row(
            label,
            f"{r['secs']:.2f}",
            f"{r['cells']:,}",
            f"{r['cells'] / r['secs']:,.0f}",
            f"{r['truth_rows']:,}",
            f"{r['impressions']:,}",
            f"{r['clicks']:,}",
            f"{r['conversions']:,}",
            f"{r['peak_mb']:,.0f}",
        )
    base, full = results.values()
    console.print(table)
    console.print(
        f"time ratio {full['secs'] / base['secs']:.1f}x for 10x the scale; "
        f"cells ratio {full['cells'] / base['cells']:.1f}x"
    )


if __name__ == "__main__":
    main()
