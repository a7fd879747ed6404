"""Turns on the embedded warehouse file: processes take turns, a waiter gets in within one step,
a stalled or killed holder behaves as the write slot must (roi.core.turns, flows/locks.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pytest

from roi.core.warehouse import get_warehouse

ROOT = Path(__file__).resolve().parents[2]

# A process that holds the warehouse in back-to-back steps of STEP seconds, each writing a row,
# and asks for its next turn the instant it gave one back (the worst case for a waiter).
STEPPER = """
import sys, time
from roi.core.warehouse import get_warehouse
step, steps = float(sys.argv[1]), int(sys.argv[2])
wh = get_warehouse()
with wh.session("setup"):
    wh.connection().execute("create table if not exists steps (who varchar, t0 double, t1 double)")
print("ready", flush=True)
for _ in range(steps):
    with wh.session("long run: step"):
        t0 = time.time()
        time.sleep(step)
        wh.connection().execute("insert into steps values ('long', ?, ?)", [t0, time.time()])
"""

# A process that takes the warehouse once and then stalls (SIGSTOP it: a starved holder).
HOLDER = """
import time
from roi.core.warehouse import get_warehouse
wh = get_warehouse()
with wh.session("holder"):
    wh.connection().execute("create table if not exists held (x int)")
    print("holding", flush=True)
    time.sleep(600)
"""


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.strip() in ("ready", "holding"), proc.stderr.read() if proc.poll() is not None else first
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)


def _open_elsewhere(path: Path) -> str:
    """Open the file read-write in another process, without any turn: what a stray opener sees."""
    code = f"import duckdb; duckdb.connect({str(path)!r}).execute('select 42').fetchone(); print('opened')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return res.stdout.strip() or res.stderr.strip().splitlines()[-1]


def test_a_process_holds_the_file_only_during_its_turn(fresh_warehouse: Path) -> None:
    """The old warehouse kept the file open for the process's life: `roi serve` locked every other process out."""
    wh = get_warehouse()
    with wh.session("test"):
        wh.connection().execute("create table t as select 1 as x")
        assert "lock" in _open_elsewhere(fresh_warehouse).lower()
    assert _open_elsewhere(fresh_warehouse) == "opened"
    with wh.session("test again"):  # reopens on the next turn
        assert wh.connection().execute("select x from t").fetchone() == (1,)


def test_a_waiter_gets_in_within_one_step_of_a_long_run(fresh_warehouse: Path) -> None:
    """A long run yielding between steps: a waiter gets the next turn, though the run asks again at once."""
    step = 1.0
    proc = _spawn(STEPPER, str(step), "30")
    try:
        wh = get_warehouse()
        waits = []
        for _ in range(3):
            time.sleep(0.3)  # arrive somewhere inside a step
            t0 = time.monotonic()
            with wh.session("ops refresh"):
                waits.append(time.monotonic() - t0)
                wh.connection().execute("select count(*) from steps").fetchone()
        assert proc.poll() is None, "the long run failed: " + (proc.stderr.read() if proc.stderr else "")
    finally:
        _end(proc)
    # one step of the run ahead of us, plus polling and a loaded machine's scheduling
    assert max(waits) < step + 1.5, waits
    con = duckdb.connect(str(fresh_warehouse))
    assert con.execute("select count(*) from steps").fetchone()[0] >= 2  # the run went on meanwhile
    con.close()


def test_a_stalled_holder_keeps_its_turn_and_a_killed_one_frees_it_at_once(fresh_warehouse: Path) -> None:
    """Item 8: no lease to lapse. A holder starved of CPU keeps the slot (nobody else writes meanwhile);
    a holder that dies frees it immediately, with no lease to wait out."""
    proc = _spawn(HOLDER)
    got: list[float] = []
    try:
        os.kill(proc.pid, signal.SIGSTOP)  # a holder that gets no CPU, as on a loaded machine

        def take() -> None:
            with get_warehouse().session("second writer"):
                got.append(time.monotonic())

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        waiter.join(3.0)
        assert not got, "a second writer got in while the holder lived"
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        waiter.join(10.0)
        assert got and got[0] - killed_at < 2.0, "the dead holder's turn was not freed at once"
    finally:
        _end(proc)


def test_threads_of_one_process_take_turns_and_nest(fresh_warehouse: Path) -> None:
    wh = get_warehouse()
    spans: list[tuple[str, float, float]] = []

    def writer(name: str) -> None:
        for _ in range(2):
            with wh.session(name), wh.session(name + " nested"):
                t0 = time.monotonic()
                wh.connection().execute("select 1").fetchone()
                time.sleep(0.2)
                spans.append((name, t0, time.monotonic()))

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    spans.sort(key=lambda s: s[1])
    assert len(spans) == 4
    for (_, _, end), (_, start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.01, spans


def test_use_outside_a_session_holds_the_turn_until_close(fresh_warehouse: Path) -> None:
    """The fallback for code that never took a turn: correct (nobody else opens the file), until close()."""
    wh = get_warehouse()
    wh.connection().execute("create table t (x int)")
    with wh.session("nested in the pinned turn"):
        wh.connection().execute("insert into t values (1)")
    assert "lock" in _open_elsewhere(fresh_warehouse).lower()
    wh.close()
    assert _open_elsewhere(fresh_warehouse) == "opened"


def test_the_ops_refresh_gets_in_behind_a_long_run(
    prefect_harness, fresh_warehouse: Path, monkeypatch
) -> None:
    """The real ops_refresh flow (its loader stubbed) beside a long run of 2 s steps: each of its
    turns waits for one step at most, so it finishes long before the run does, within a minute."""
    from prefect import task

    from flows import ops
    from flows.locks import holds_warehouse

    @task
    @holds_warehouse
    def no_new_files() -> dict[str, object]:
        return {"loaded": 0, "load_ids": []}

    monkeypatch.setattr(ops, "load_events", no_new_files)
    get_warehouse().bootstrap()
    ops.ops_refresh()  # the first flow run of a session pays Prefect's warm-up: not part of the bound
    step = 2.0
    proc = _spawn(STEPPER, str(step), "60")
    try:
        t0 = time.monotonic()
        run_id = ops.ops_refresh()
        took = time.monotonic() - t0
        assert proc.poll() is None, "the long run did not go on beside the refresh"
    finally:
        _end(proc)
    # four turns (audit row, load, buckets, audit row), each behind at most one step of the run
    print(f"ops refresh behind a long run: {took:.1f} s")
    assert took < 4 * step + 10, took
    assert not get_warehouse()._turn.held, (
        "a step used the warehouse outside its turn (the process kept the file)"
    )
    with get_warehouse().session("test") as wh:
        status = (
            wh.connection()
            .execute("select status from audit.pipeline_runs where run_id = ?", [run_id])
            .fetchone()
        )
    assert status == ("succeeded",)


@pytest.mark.parametrize("what", ["dlt", "dbt"])
def test_dlt_and_dbt_leave_nothing_open_after_the_turn(fresh_warehouse: Path, what: str) -> None:
    """dlt borrows the warehouse's connection and dbt-duckdb opens the same file: neither outlives the turn."""
    wh = get_warehouse()
    with wh.session(what):
        if what == "dlt":
            pipeline = wh.dlt_pipeline("turn_test", "raw_events")
            pipeline.run([{"id": 1}, {"id": 2}], table_name="turn_rows")
        else:
            from flows import dbt_runner

            dbt_runner.seed()
    assert _open_elsewhere(fresh_warehouse) == "opened"


def test_a_writing_command_takes_its_turn(fresh_warehouse: Path, monkeypatch, capsys) -> None:
    """`roi attribution run` wrote through the shared connection with no slot at all; now it waits
    for the turn (saying for whom) and writes only while it holds it."""
    from attribution.errors import AttributionInputError
    from roi.cli import attribution as attribution_cli
    from roi.cli import main

    held: list[bool] = []

    def fake_run(connection, first, last, config, **kwargs):
        turn = get_warehouse()._turn
        held.append(turn is not None and turn.held)
        raise AttributionInputError("stub: nothing to attribute")

    monkeypatch.setattr(attribution_cli, "run_attribution", fake_run)
    proc = _spawn(HOLDER)
    codes: list[int] = []
    try:
        cmd = threading.Thread(
            target=lambda: codes.append(
                main(["attribution", "run", "--start", "2026-11-01", "--end", "2026-11-01"])
            )
        )
        cmd.start()
        cmd.join(2.0)
        assert not codes and not held, "the command wrote while another process held the warehouse"
    finally:
        _end(proc)
    cmd.join(30)
    assert codes == [2] and held == [True]
    assert "waiting for the warehouse: held by holder (pid" in capsys.readouterr().err
