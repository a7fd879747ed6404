"""``roi serve`` for real: its own Prefect server and scheduler, ops and hourly due together, a manual
backfill beside them, every run in a process of its own on one DuckDB file, a reading command
meanwhile. The heavy tasks are stubbed (tests/core/serve_harness.py); the schedules are sped
up with ROI_SERVE_EVERY_SECONDS / ROI_SERVE_TICKS, so every scheduled flow (ops, hourly, the
restatement lookback) is due at the same instants."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from roi.cli import main
from roi.core.warehouse import get_warehouse

ROOT = Path(__file__).resolve().parents[2]
STUBS = Path(__file__).with_name("serve_stubs")
EVERY, TICKS, STEP = 8, 2, 0.3
EXPECTED = {
    "ops_refresh": TICKS,
    "hourly_incremental": TICKS,
    "restatement_lookback": TICKS,
    "retention": TICKS,
    "erasure": TICKS,
    "backfill": 1,
}
# Runs whose steps are the stubbed tasks (recorded in audit.serve_steps): retention's and
# erasure's are their own (with no request open, an erasure run only looks for one).
STUBBED = {name: n for name, n in EXPECTED.items() if name not in ("retention", "erasure")}
DEADLINE = 240.0  # a loaded 2-core machine; the test normally ends far sooner
RESTATED = ("2026-11-02", "google_ads__slices", "google_ads__ad_performance_history")


def _seed_restatements() -> None:
    """Two pulls of one google_ads day, the second restating it: what `roi restatements` reads."""
    day, slices, history = RESTATED
    with get_warehouse().session("test seed") as wh:
        cur = wh.connection().cursor()
        cur.execute("create schema if not exists raw_ads")
        cur.execute(
            f"create table raw_ads.{slices} (account_id varchar, report_date date, pulled_at timestamp, "
            "_load_id varchar, applied boolean)"
        )
        cur.execute(
            f"create table raw_ads.{history} (account_id varchar, report_date date, cost_micros bigint, _load_id varchar)"
        )
        for load_id, micros in (("1", 10_000_000), ("2", 12_500_000)):
            cur.execute(f"insert into raw_ads.{slices} values ('a1', ?, now(), ?, true)", [day, load_id])
            cur.execute(f"insert into raw_ads.{history} values ('a1', ?, ?, ?)", [day, micros, load_id])
        cur.close()


def _serve_env(home: Path, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        {
            "ROI_DUCKDB_PATH": str(db),
            "ROI_SERVE_EVERY_SECONDS": str(EVERY),
            "ROI_SERVE_TICKS": str(TICKS),
            "SERVE_STEP_SECONDS": str(STEP),
            "PREFECT_HOME": str(home),
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
            # every process of the test (serve, the server, each flow run) loads the stubs
            "PYTHONPATH": os.pathsep.join(p for p in (str(STUBS), os.environ.get("PYTHONPATH")) if p),
        }
    )
    return env


def _api_url(log: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = re.search(r"Prefect API: (http://127\.0\.0\.1:\d+/api)", log.read_text(errors="replace"))
        if found:
            return found.group(1)
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        time.sleep(0.5)
    raise AssertionError(
        "roi serve never started its Prefect API: " + log.read_text(errors="replace")[-3000:]
    )


def _start_backfill_at_first_tick(url: str) -> None:
    """A manual run of the backfill deployment, due at the same instant as the first ops and hourly ticks."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        deadline = time.monotonic() + 120
        while True:
            try:
                ops = client.read_deployment_by_name("ops_refresh/ops-refresh")
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[ops.id]))
                )
                if runs:
                    break
            except Exception:  # not registered yet
                pass
            assert time.monotonic() < deadline, "the ops deployment got no scheduled run"
            time.sleep(0.5)
        first_tick = min(r.expected_start_time for r in runs if r.expected_start_time)
        backfill = client.read_deployment_by_name("backfill/backfill")
        client.create_flow_run_from_deployment(
            backfill.id,
            parameters={"start": "2026-11-01", "end": "2026-11-02"},
            state=Scheduled(scheduled_time=first_tick),
        )


def _runs() -> list[tuple[str, str, str | None]]:
    with get_warehouse().session("test: audit") as wh:
        return wh.connection().execute("select flow_name, status, error from audit.pipeline_runs").fetchall()


def _steps() -> list[tuple[int, str, str, float, float]]:
    with get_warehouse().session("test: steps") as wh:
        return (
            wh.connection()
            .execute("select pid, flow_run, step, t0, t1 from audit.serve_steps order by t0")
            .fetchall()
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.slower  # two minutes of real schedules: the slower tier (make slower)
def test_serve_runs_every_flow_beside_a_manual_backfill_and_a_reading_command(
    fresh_warehouse: Path, tmp_path: Path, capsys
) -> None:
    _seed_restatements()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "roi.cli", "serve"],
            cwd=ROOT,
            env=_serve_env(tmp_path / "prefect-home", fresh_warehouse),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    reads: list[int] = []
    runs: list[tuple[str, str, str | None]] = []
    url = ""
    try:
        url = _api_url(log, proc)
        _start_backfill_at_first_tick(url)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and proc.poll() is None:
            # a reading command while the flows run, each in its turn
            reads.append(main(["restatements", "--platform", "google_ads", "--date", RESTATED[0]]))
            runs = _runs()
            done = Counter(name for name, status, _ in runs if status == "succeeded")
            if any(status == "failed" for _, status, _ in runs) or all(
                done[name] >= n for name, n in EXPECTED.items()
            ):
                break
            time.sleep(1.0)
    finally:
        _stop(proc)
    output = log.read_text(errors="replace")
    assert "Could not set lock" not in output and "Conflicting lock" not in output, output[-3000:]
    assert not [r for r in runs if r[1] != "succeeded"], (runs, output[-3000:])
    assert Counter(name for name, _, _ in runs) == Counter(EXPECTED), (runs, output[-3000:])
    assert len(reads) >= 3 and set(reads) == {0}, reads
    assert "restated: 10.00" in capsys.readouterr().out

    steps = _steps()
    for before, after in zip(steps, steps[1:], strict=False):
        assert after[3] >= before[4] - 0.01, f"two steps held the warehouse at once: {before} {after}"
    assert len({pid for pid, *_ in steps}) == sum(STUBBED.values()), (
        "each flow run ran in a process of its own"
    )
    # the flows took turns step by step: another run got in between the backfill's first and last step
    backfill = [
        s for s in steps if s[1] and any(s[1] == b[1] for b in steps if b[2] == "ads-google_ads-backfill")
    ]
    first, last = min(s[3] for s in backfill), max(s[4] for s in backfill)
    assert any(first < s[3] < last for s in steps if s not in backfill), (
        "the backfill held the file throughout"
    )
    assert not _answers(url), "the Prefect server outlived roi serve"
    print(f"serve: {len(runs)} runs, {len(steps)} steps, {datetime.now():%H:%M:%S}")


def test_a_prefect_server_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    """roi serve's own server dying at start is a configuration error (exit 3), with its last words."""
    from flows.prefect_api import _wait_until_up
    from roi.core.errors import ConfigError

    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "print('port in use'); raise SystemExit(1)"], stdout=out
        )
    try:
        _wait_until_up(proc, "http://127.0.0.1:9/api", log, timeout=60)
    except ConfigError as exc:
        assert "exited at start (port in use)" in str(exc) and exc.exit_code == 3
    else:
        raise AssertionError("no error")
