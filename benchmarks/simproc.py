"""The simulator's APIs served from their own process, for benchmarks.

In a benchmark the simulator stands in for the ad platforms' servers: it runs in another
interpreter so its response building does not share the measured process's GIL (it still
shares the machine's cores, which each benchmark reports).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

_SERVER = r"""
import sys
from datetime import datetime
from pathlib import Path
from simulator.server import run_server
run_server(Path(sys.argv[1]), int(sys.argv[2]), datetime.fromisoformat(sys.argv[3]) if sys.argv[3] else None)
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SimulatorProcess:
    """``with SimulatorProcess(world) as sim: sim.url`` — the world's APIs until the block ends.

    ``as_of`` sets the APIs' clock at start; ``cwd`` runs the simulator of another checkout
    (an export of older code, for before/after runs).
    """

    def __init__(self, world: Path, as_of: datetime | None = None, cwd: Path | None = None) -> None:
        self.world, self.as_of, self.cwd = world, as_of, cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> SimulatorProcess:
        port = free_port()
        as_of = self.as_of.isoformat() if self.as_of is not None else ""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(self.world), str(port), as_of],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.cwd,
        )
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                requests.get(f"{self.url}/_sim/stats", timeout=1)
                return self
            except requests.ConnectionError:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode()[-500:] if self.proc.stderr else ""
                    raise SystemExit(f"simulator server failed: {err}") from None
                time.sleep(0.1)
        self.__exit__()
        raise SystemExit("simulator server did not start in 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


def run_script(script: str, args: list[str], what: str, cwd: Path | None = None) -> dict[str, Any]:
    """Run ``script`` (``python -c``) in a fresh interpreter; its last stdout line, parsed as JSON.

    ``cwd``: the code checkout to import (an export of older code for before/after runs).
    Exits with the script's last error lines, naming ``what``, if it fails.
    """
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False, cwd=cwd
    )
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed: {proc.stderr.strip().splitlines()[-3:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


RESULT = "BENCH_RESULT "
"""The prefix of the one stdout line a benchmark child prints its result on (JSON)."""


def print_result(result: Any) -> None:
    """In a benchmark child: print ``result`` as the line :func:`child_result` reads."""
    print(RESULT + json.dumps(result, default=str), flush=True)


def child_result(cmd: list[str], env: dict[str, str], what: str, tail: int = 8) -> dict[str, Any]:
    """Run a benchmark child and return the result it printed; exit with its last lines if it printed none."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT):
            result: dict[str, Any] = json.loads(line[len(RESULT) :])
            return result
    lines = (proc.stderr or proc.stdout).strip().splitlines()[-tail:]
    raise SystemExit(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(lines))
