"""``make bench`` / ``python -m benchmarks [NAME ...]``: run the benchmarks one after another.

Each benchmark is its own module (``python -m benchmarks.<name>``) that prints rows per
second, seconds and peak memory against a baseline measured in the same run; this runner
only sequences them (each in a fresh process, so peak memory is its own) and reports which
ones failed. See docs/benchmarks.md for the figures measured on a 2-core machine.
"""

from __future__ import annotations

import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

BENCHMARKS: tuple[str, ...] = (
    "bench_sim_ads",
    "bench_sim_events",
    "bench_google_ads",
    "bench_ads_pull",
    "bench_events",
    "bench_attribution",
    "bench_hourly",
    "bench_close",
    "bench_close_accuracy",
    "bench_alerts",
)


def main(argv: list[str]) -> int:
    """Run the named benchmarks (default: all); exit non-zero if one fails."""
    console = Console()
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        console.print(f"error: unknown benchmark {', '.join(unknown)}: use one of {', '.join(BENCHMARKS)}")
        return 2
    summary = Table(title="benchmarks")
    summary.add_column("benchmark")
    summary.add_column("status")
    summary.add_column("seconds", justify="right")
    failed = 0
    for name in names:
        console.rule(name)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"])
        failed += rc != 0
        summary.add_row(name, "ok" if rc == 0 else f"failed ({rc})", f"{time.perf_counter() - t0:.0f}")
    console.print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
