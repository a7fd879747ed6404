"""Benchmark: generate one scale-1.0 day of landing files (``simulator.events.generate_events``).

Run: ``.venv/bin/python -m benchmarks.bench_sim_events [--scale 1.0] [--days 1]``. Each
generation runs in a fresh subprocess so its peak memory (ru_maxrss) is its own; the baseline
is the same generator at a tenth of the scale, measured in the same run (the ratio shows how
close to linear it scales). Targets: under 5 minutes and 8 GB on 2 cores at scale 1.0.
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
from simulator.events import generate_events
out, scale, days = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
t = time.perf_counter()
counts = generate_events(out, date(2026, 10, 23), days, 7, scale)
secs = time.perf_counter() - t
gz = sum(p.stat().st_size for p in (out / "landing").rglob("*.gz"))
print(json.dumps({"secs": secs, "lines": counts["lines"], "files": counts["files"],
                  "signups": counts["user_signup"], "gz_mb": gz / 2**20,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(scale: float, days: int) -> dict[str, float]:
    """Generate in a subprocess and return its measurements."""
    with tempfile.TemporaryDirectory(prefix="bench-sim-events-") as tmp:
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
        with console.status(f"generating {args.days} day(s) of landing files at scale {scale} ..."):
            results[label] = run(scale, args.days)
    table = Table(
        title=f"simulator.events.generate_events: {args.days} day(s), landing files + manifest + truth"
    )
    for col in ("run", "seconds", "events (lines)", "events/s", "sign-ups", "files", "gzip MB", "peak MB"):
        table.add_column(col, justify="right")
    for label, r in results.items():
        table.add_row(
            label,
            f"{r['secs']:.1f}",
            f"{r['lines']:,}",
            f"{r['lines'] / r['secs']:,.0f}",
            f"{r['signups']:,}",
            f"{r['files']:,}",
            f"{r['gz_mb']:,.0f}",
            f"{r['peak_mb']:,.0f}",
        )
    base, full = results["baseline (scale/10)"], results[f"scale {args.scale}"]
    console.print(table)
    console.print(
        f"time ratio full/baseline: {full['secs'] / base['secs']:.1f}x for {full['lines'] / base['lines']:.1f}x the "
        f"events; targets at scale 1.0: < 300 s, < 8192 MB"
    )


if __name__ == "__main__":
    main()
