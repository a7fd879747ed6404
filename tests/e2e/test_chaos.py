"""The chaos matrix: each fault, and afterwards the same tables as a clean run.

One two-day world, served on 127.0.0.1, is run through the real hourly flow in three steps
(A: the first day and four hours, B: three more hours, C: to the end) on a clean warehouse,
and the tables are kept after each step. Each fault then runs the same steps on a warehouse of
its own; the result must equal the clean run's after the same step (or the faulty run fails
with a one-line error and the next run recovers to it), and every landing file must reconcile:
its lines = loaded + duplicates + dead letters + erased, or the file is quarantined with its
lines counted.

Compared: every ``analytics`` table and the current rows of ``raw_ads`` and ``raw_events`` (run
and load ids left out). Faults that add lines to the landing (a copy of a file, a poison line)
change what the landing manifest and the dead letters say by design: those tables are checked
by the reconciliation instead.

The slower tier (marker ``slower``): ``make test`` leaves it out, ``.ci/run`` runs it after
(``make slower``).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from simulator.world import read_sim_env
from tests.e2e.chaos_child import current_raw_hashes
from tests.e2e.conftest import table_hashes

pytestmark = pytest.mark.slower

REPO = Path(__file__).resolve().parents[2]
WORLD_START = date(2026, 11, 9)
T0 = datetime.combine(WORLD_START, datetime.min.time(), UTC)
STEPS = {
    "A": (T0, T0 + timedelta(days=1, hours=4)),
    "B": (T0 + timedelta(days=1, hours=4), T0 + timedelta(days=1, hours=7)),
    "C": (T0 + timedelta(days=1, hours=7), T0 + timedelta(days=2, hours=4)),
}
# Three fault kinds drawn one after the other, each with p: 1 - (1 - p)^3 = 20% of requests fail.
FAULT_P = 1 - 0.8 ** (1 / 3)
# The landing's bookkeeping: it records what arrived, which some faults change by design.
LANDING_BOOKS = ("dead_letters", "landing_manifest", "quarantined_files")
# The tasks of the hourly flow, in order: a kill right after each is a crash at that boundary.
BOUNDARIES = (
    "load_ads:fx_rates",
    "load_ads:meta_ads",
    "load_ads:tiktok_ads",
    "load_events",
    "build_facts",
    "attribute",
    "build_mart",
    "run_checks",
    "publish_mart",
    "publish_roi_artifact",
)

Snapshot = dict[str, dict[str, tuple[int, str]]]


def snapshot(con: Any) -> Snapshot:
    """Row count and hash of every compared table, by schema."""
    return {
        "analytics": table_hashes(con),
        "raw_ads": current_raw_hashes(con, "raw_ads"),
        "raw_events": current_raw_hashes(con, "raw_events"),
    }


def differences(clean: Snapshot, got: Snapshot, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The tables whose rows differ (missing or extra tables included), ``skip`` left out."""
    out: dict[str, Any] = {}
    for schema, tables in clean.items():
        names = (set(tables) | set(got[schema])) - set(skip)
        for t in sorted(names):
            if tables.get(t) != got[schema].get(t):
                out[f"{schema}.{t}"] = (tables.get(t), got[schema].get(t))
    return out


def file_lines(path: Path) -> int:
    """Lines of a landing file, as the loader splits them."""
    return len(gzip.decompress(path.read_bytes()).splitlines())


def assert_every_file_reconciles(con: Any, landing: Path) -> None:
    """Every landing file is in the manifest or in quarantine, and its lines are all accounted for."""
    m = pl.from_arrow(con.execute("select * from raw_events.landing_manifest").to_arrow_table())
    q = (
        pl.from_arrow(
            con.execute(
                "select file_key, lines_read from raw_events.quarantined_files where requeued_at is null"
            ).to_arrow_table()
        )
        if con.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw_events' "
            "and table_name = 'quarantined_files'"
        ).fetchone()[0]
        else pl.DataFrame(
            {"file_key": [], "lines_read": []}, schema={"file_key": pl.String, "lines_read": pl.Int64}
        )
    )
    fates = m["loaded"] + m["duplicates_dropped"] + m["dead_letters"] + m["erased_dropped"]
    assert (m["lines_read"] == fates).all(), m.filter(m["lines_read"] != fates)
    booked = dict(zip(m["file_key"], m["lines_read"], strict=True))
    assert not set(booked) & set(q["file_key"]), "a file both loaded and quarantined"
    booked.update(zip(q["file_key"], q["lines_read"], strict=True))
    files = {p.relative_to(landing).as_posix(): p for p in landing.rglob("*.jsonl.gz")}
    assert set(booked) == set(files), set(files) ^ set(booked)
    wrong = {k: (booked[k], file_lines(p)) for k, p in files.items() if booked[k] != file_lines(p)}
    assert wrong == {}
    rows = sum(
        con.execute(f"select count(*) from raw_events.{t}").fetchone()[0]
        for t in ("events", "mmp_touches", "skan_postbacks")
    )
    assert rows == m["loaded"].sum() - m["replaced_earlier"].sum()


@dataclass
class Chaos:
    """The served world, the clean run's tables after each step, and the place of each case."""

    world: Path
    srv: Any
    base: Path
    clean: dict[str, Snapshot] = field(default_factory=dict)

    def point_at(self, name: str) -> Path:
        """A fresh warehouse and landing folder for one case; returns the landing folder."""
        from roi.core.settings import reset_settings
        from roi.core.warehouse import get_warehouse, reset_warehouse

        folder = self.base / name
        folder.mkdir(parents=True)
        os.environ["ROI_DUCKDB_PATH"] = str(folder / "warehouse.duckdb")
        os.environ["ROI_LANDING_URL"] = str(folder / "landing")
        reset_settings()
        reset_warehouse()
        get_warehouse().bootstrap()
        self.srv.clear_faults()
        return folder / "landing"

    def arrive(self, step: str, landing: Path) -> tuple[datetime, datetime]:
        """Move the APIs and the landing to the end of ``step``; returns its window."""
        from simulator.world import publish

        start, end = STEPS[step]
        self.srv.set_as_of(end)
        publish(self.world, str(landing), end)
        return start, end

    def run(self, step: str, landing: Path, before: Callable[[], None] | None = None) -> str:
        """One hourly run of ``step`` (``before``: a fault applied once the files arrived)."""
        from flows.pipeline import hourly_incremental

        start, end = self.arrive(step, landing)
        if before is not None:
            before()
        return hourly_incremental(window_start=start, window_end=end)

    def lookback(self) -> str:
        """The daily restatement lookback at the end of the last step (every platform's window re-pulled)."""
        from flows.pipeline import restatement_lookback

        return restatement_lookback(window_end=STEPS["C"][1])

    def tables(self) -> Snapshot:
        from roi.core.warehouse import get_warehouse

        return snapshot(get_warehouse().connection().cursor())

    def check(self, step: str, landing: Path, skip: tuple[str, ...] = ()) -> None:
        """The clean run's tables after ``step``, and every file reconciled."""
        from roi.core.warehouse import get_warehouse

        con = get_warehouse().connection().cursor()
        assert differences(self.clean[step], snapshot(con), skip) == {}
        assert_every_file_reconciles(con, landing)


@pytest.fixture(scope="module")
def chaos(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    """The world served, retries without sleeping, and the clean run's tables after each step."""
    import connector_sdk.base as base
    from connector_sdk.http import FAST_RETRY
    from roi.core.settings import reset_settings
    from roi.core.warehouse import reset_warehouse
    from simulator.server import SimServer
    from simulator.world import generate_world

    root = tmp_path_factory.mktemp("chaos")
    world = root / "world"
    generate_world(world, WORLD_START, 2, seed=21, scale=0.0005, show_progress=False)
    saved_env, saved_policy = dict(os.environ), base.RetryPolicy
    base.RetryPolicy = lambda: FAST_RETRY  # type: ignore[assignment,misc]
    with SimServer(world, port=0, as_of=T0) as srv:
        os.environ.update(read_sim_env(world / "sim.env"))
        os.environ["ROI_API_BASE_URL"] = srv.url
        chaos = Chaos(world=world, srv=srv, base=root)
        try:
            landing = chaos.point_at("clean")
            for step in STEPS:
                chaos.run(step, landing)
                chaos.clean[step] = chaos.tables()
            chaos.lookback()
            chaos.clean["lookback"] = chaos.tables()
            assert chaos.clean["C"]["analytics"]["fact_ad_spend"][0] > 0
            assert chaos.clean["C"]["analytics"]["fact_signups"][0] > 0
            yield chaos
        finally:
            reset_warehouse()
            base.RetryPolicy = saved_policy
            os.environ.clear()
            os.environ.update(saved_env)
            reset_settings()


def _child(step: str, marker: Path, prefect_home: Path, *flags: str) -> tuple[int, str, dict[str, Any]]:
    """Run one hourly step in a child process (which may kill itself) on the current environment."""
    from prefect.settings import PREFECT_API_URL

    from roi.core.warehouse import reset_warehouse

    reset_warehouse()  # the child writes the file: this process lets go of it
    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()), PREFECT_HOME=str(prefect_home))
    start, end = STEPS[step]
    cmd = [sys.executable, "-m", "tests.e2e.chaos_child", "--start", start.isoformat()]
    cmd += ["--end", end.isoformat(), "--marker", str(marker), *flags]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr, json.loads(marker.read_text())


def test_api_faults_on_every_platform(chaos: Chaos) -> None:
    """20% of API requests fail (429, 5xx, dropped connection) through all three steps."""
    landing = chaos.point_at("api_faults")
    chaos.srv.set_faults(
        "*", rate_limit=FAULT_P, server_error=FAULT_P, drop_connection=FAULT_P, retry_after_seconds=0
    )
    for step in STEPS:
        chaos.run(step, landing)
    stats = chaos.srv.stats()
    failed = sum(s.get(o, 0) for s in stats.values() for o in ("rate_limited", "server_error", "dropped"))
    assert failed > 0, stats
    chaos.srv.clear_faults()
    chaos.check("C", landing)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_killed_at_a_task_boundary_then_rerun(chaos: Chaos, boundary: str, tmp_path: Path) -> None:
    """SIGKILL right after a task of step A returned; the rerun of A gives the clean tables."""
    from flows.pipeline import hourly_incremental

    landing = chaos.point_at(f"kill_after_{boundary.replace(':', '_')}")
    chaos.arrive("A", landing)
    rc, out, marker = _child("A", tmp_path / "marker.json", tmp_path / "prefect", "--kill-after", boundary)
    assert rc == -signal.SIGKILL and marker["killed_after"] == boundary, out[-3000:]
    hourly_incremental(window_start=STEPS["A"][0], window_end=STEPS["A"][1])
    chaos.check("A", landing)


def test_killed_inside_a_load_then_rerun(chaos: Chaos, tmp_path: Path) -> None:
    """SIGKILL inside dlt's load with a normalized package pending; the rerun loads it, no more."""
    from flows.pipeline import hourly_incremental

    landing = chaos.point_at("kill_inside_load")
    chaos.arrive("A", landing)
    rc, out, marker = _child(
        "A", tmp_path / "marker.json", tmp_path / "prefect", "--kill-at", "roi_product_events"
    )
    assert rc == -signal.SIGKILL and marker["killed_with_pending"], out[-3000:]
    hourly_incremental(window_start=STEPS["A"][0], window_end=STEPS["A"][1])
    chaos.check("A", landing)


def test_a_file_delivered_twice(chaos: Chaos) -> None:
    """The sink redelivers files under new part names (a consumer rebalance): same tables."""
    landing = chaos.point_at("delivered_twice")
    redelivered: list[Path] = []

    def redeliver() -> None:
        files = sorted(landing.rglob("*.jsonl.gz"))
        for path in random.Random(1).sample(files, k=max(3, len(files) // 10)):
            # the sink writes the replayed records as a new part, named by its later flush time
            flushed = datetime.strptime(path.name, "part-%Y%m%dT%H%M%SZ.jsonl.gz") + timedelta(seconds=30)
            path.with_name(f"part-{flushed:%Y%m%dT%H%M%SZ}.jsonl.gz").write_bytes(path.read_bytes())
            redelivered.append(path.with_name(f"part-{flushed:%Y%m%dT%H%M%SZ}.jsonl.gz"))

    chaos.run("A", landing, before=redeliver)
    chaos.check("A", landing, skip=LANDING_BOOKS)
    keys = [p.relative_to(landing).as_posix() for p in redelivered]
    marks = ", ".join("?" for _ in keys)
    dups = (
        _con()
        .execute(
            "select count(*), sum(duplicates_dropped), sum(lines_read), sum(loaded) "
            f"from raw_events.landing_manifest where file_key in ({marks})",
            keys,
        )
        .fetchone()
    )
    assert dups[0] == len(keys) and dups[1] > 0 and dups[3] == 0, dups


def test_hours_out_of_order(chaos: Chaos) -> None:
    """Files of two hours arrive after the hour following them; the next run takes them in."""
    landing = chaos.point_at("out_of_order")
    late_hours = ("dt=2026-11-10/hour=01", "dt=2026-11-10/hour=02")

    def hold_back() -> None:
        for hour in late_hours:
            for path in (landing / "events" / hour).glob("*.jsonl.gz"):
                path.unlink()
        assert any((landing / "events" / "dt=2026-11-10" / "hour=03").glob("*.jsonl.gz"))

    chaos.run("A", landing, before=hold_back)
    assert differences(chaos.clean["A"], chaos.tables()), "holding two hours back changed nothing"
    chaos.run("B", landing)  # the held-back files arrive (publish copies what is missing)
    assert any((landing / "events" / late_hours[0]).glob("*.jsonl.gz"))
    chaos.check("B", landing, skip=LANDING_BOOKS)


def test_a_poison_line(chaos: Chaos) -> None:
    """Lines that once stopped ingestion (infinity, 1970, not JSON) are dead letters; nothing else changes."""
    landing = chaos.point_at("poison")
    poison = [
        b'{"event_id": "poison-1", "event_type": "landing", "event_ts": "infinity", '
        b'"received_at": "2026-11-10T01:00:00Z", "schema_version": 1, "anonymous_id": "a"}',
        b'{"event_id": "poison-2", "event_type": "user_signup", "event_ts": "1970-01-01T00:00:00Z", '
        b'"received_at": "2026-11-10T01:00:00Z", "schema_version": 1, "user_id": "u-poison"}',
        b"\x00\xff not json",
    ]

    def inject() -> None:
        path = sorted((landing / "events" / "dt=2026-11-10" / "hour=01").glob("*.jsonl.gz"))[0]
        # appended, as the sink writes records: the file's other lines keep their numbers
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + b"\n".join(poison) + b"\n"))

    chaos.run("A", landing, before=inject)
    chaos.check("A", landing, skip=LANDING_BOOKS)
    assert _con().execute("select count(*) from raw_events.dead_letters").fetchone()[0] >= len(poison)


def test_landing_mtimes_skewed_from_event_times(chaos: Chaos) -> None:
    """File times say nothing about event times: days off either way, the same tables."""
    landing = chaos.point_at("skewed_mtimes")

    def skew() -> None:
        rng = random.Random(3)
        for path in landing.rglob("*.jsonl.gz"):
            ts = path.stat().st_mtime + rng.uniform(-5, 5) * 86400
            os.utime(path, (ts, ts))

    chaos.run("A", landing, before=skew)
    chaos.check("A", landing, skip=("landing_manifest",))  # it records each file's mtime


def test_one_platform_down_for_three_hours_then_back(chaos: Chaos) -> None:
    """Meta answers 503 to everything through step B (three hours), then is back.

    Step B fails in one line naming Meta, after the other platforms, the events and the models
    went on; Meta's dates are owed. Step C pulls them again (nothing stays open): at C's time,
    so they can be newer than the clean run's pull at B's. The daily lookback then gives the
    clean run's tables.
    """
    from flows.pipeline import PullsFailed

    landing = chaos.point_at("platform_down")
    chaos.run("A", landing)
    chaos.srv.set_faults("meta_ads", server_error=1.0, retry_after_seconds=0)
    with pytest.raises(PullsFailed, match=r"^ads pull failed for meta_ads: [^\n]*next run pulls") as err:
        chaos.run("B", landing)
    assert "\n" not in str(err.value)
    con = _con()
    owed = con.execute(
        "select count(*) from audit.pull_slices where platform = 'meta_ads' and status = 'deferred'"
    ).fetchone()[0]
    assert owed > 0
    # everything but Meta went on: B's events and sign-ups are in, the other platforms pulled at B
    diffs = differences(chaos.clean["B"], chaos.tables(), skip=("landing_manifest",))
    assert not [t for t in diffs if t.startswith("raw_events.") or t == "analytics.fact_signups"], diffs
    assert all(t.startswith(("raw_ads.meta_ads__", "analytics.")) for t in diffs), diffs
    chaos.srv.clear_faults()
    chaos.run("C", landing)
    assert (
        not _con()
        .execute(
            "select count(*) from audit.pull_slices where platform = 'meta_ads' and status <> 'complete'"
        )
        .fetchone()[0]
    )
    chaos.lookback()
    chaos.check("lookback", landing)


def _con() -> Any:
    from roi.core.warehouse import get_warehouse

    return get_warehouse().connection().cursor()
