"""The world as a whole: determinism, DST-crossing worlds, the simulate CLI's input errors."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from datetime import date
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from simulator.cli import app
from simulator.events import EventsConfig
from simulator.events.day import WorldCtx
from simulator.events.generate import generate_events
from simulator.events.journeys import day_signup_count
from simulator.world import generate_world


def _fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            rel = str(p.relative_to(root))
            mtime = int(p.stat().st_mtime) if rel.startswith("landing/") else 0
            out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), mtime)
    return out


def test_same_seed_and_args_give_byte_identical_worlds(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        generate_world(out, date(2026, 3, 27), 2, seed=seed, scale=0.001, show_progress=False)
    fa, fb, fc = _fingerprint(a), _fingerprint(b), _fingerprint(c)
    assert len(fa) > 100
    for required in (
        "world.json",
        "landing_manifest.parquet",
        "sim.env",
        "truth/signups.parquet",
        "truth/attribution_last_touch.parquet",
        "truth/skan_daily.parquet",
        "truth/pii.parquet",
        "truth/touch_paths.parquet",
        "truth/spend_final.parquet",
    ):
        assert required in fa, required
    assert fa == fb  # every file, byte for byte, and every landing file's mtime
    assert fa["truth/signups.parquet"] != fc["truth/signups.parquet"]  # the seed matters


def test_multi_slice_generation_is_byte_identical_and_keeps_the_day_totals(tmp_path: Path) -> None:
    # Scale 0.001 is ~800 sign-ups a day; 250 a slice draws each day in 4 independent slices,
    # the code path a scale-1.0 day takes with its 80K-sign-up slices.
    start = date(2026, 10, 24)
    steps: set[int] = set()

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "journeys":
            steps.add(total)

    for out in (tmp_path / "a", tmp_path / "b"):
        generate_events(out, start, 2, 11, 0.001, part_signups=250, progress=progress)
    assert steps == {8}  # 2 days x 4 slices
    fa, fb = _fingerprint(tmp_path / "a"), _fingerprint(tmp_path / "b")
    assert len(fa) > 50 and fa == fb
    ctx = WorldCtx(11, 0.001, start, 2, EventsConfig(), catalog=None)  # type: ignore[arg-type]
    # the slices split each day's sign-ups exactly: one canonical user per person
    expected = sum(sum(day_signup_count(ctx, d)) for d in range(2))
    assert pl.read_parquet(tmp_path / "a/truth/signups.parquet").height == expected


def test_world_crossing_dst_has_every_utc_hour(events_world: Path) -> None:
    meta = json.loads((events_world / "world.json").read_text())
    assert (meta["start"], meta["days"], meta["end"]) == ("2026-10-22", 12, "2026-11-03")
    manifest = pl.read_parquet(events_world / "landing_manifest.parquet")
    in_world = manifest.filter(pl.col("dt") < "2026-11-03")
    hours = in_world.group_by("dt").agg(pl.col("hour").n_unique()).sort("dt")
    assert hours["dt"].to_list()[0] == "2026-10-22" and hours.height == 12
    # UTC folders: the DST change days (25 Oct EU, 1 Nov US) have 24 hour folders like any other
    assert hours["hour"].to_list() == [24] * 12
    signups = pl.read_parquet(events_world / "truth" / "signups.parquet")
    per_day = signups.group_by("signup_date").len()
    assert per_day.height == 12 and per_day["len"].min() > 1000


def test_promotion_burst_peaks_near_20k_a_minute_at_scale(events_world: Path) -> None:
    signups = pl.read_parquet(events_world / "truth" / "signups.parquet")
    per_minute = signups.group_by(pl.col("signup_ts").dt.truncate("1m")).len().sort("len", descending=True)
    peak_minute, peak = per_minute.row(0)
    assert peak_minute.hour == 18 and peak_minute.date() == date(2026, 10, 22)
    assert 0.8 * 20_000 * 0.002 <= peak <= 1.3 * 20_000 * 0.002


def test_landing_files_mtime_is_arrival_time(events_world: Path) -> None:
    manifest = pl.read_parquet(events_world / "landing_manifest.parquet")
    for key, arrival in manifest.select("key", "arrival_ts").head(200).iter_rows():
        assert os.stat(events_world / "landing" / key).st_mtime == arrival.timestamp()


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    cases = [
        ["generate", "--out", str(tmp_path / "w"), "--start", "2026-02-30", "--days", "2"],
        ["generate", "--out", str(tmp_path / "w"), "--start", "2026-02-01", "--days", "0"],
        ["generate", "--out", str(tmp_path / "w"), "--start", "2026-02-01", "--days", "1", "--scale", "-1"],
        ["serve", "--world", str(tmp_path / "missing")],
        [
            "publish",
            "--world",
            str(tmp_path / "missing"),
            "--to",
            str(tmp_path / "x"),
            "--until",
            "2026-01-01",
        ],
    ]
    for args in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output
        assert not (tmp_path / "w").exists()


def test_cli_publish_bad_timestamp(events_world: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["publish", "--world", str(events_world), "--to", str(tmp_path), "--until", "soon"]
    )
    assert res.exit_code == 2 and "timestamp" in res.output


def _one_line_error(res: object) -> str:
    out = res.output.strip()  # type: ignore[attr-defined]
    assert res.exit_code == 2, out  # type: ignore[attr-defined]
    assert "Traceback" not in out and "\n" not in out and out.startswith("error: "), out
    return out


def test_cli_serve_world_without_ad_state_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "world.json").write_text("{}\n")  # an event-only or half-deleted world
    res = CliRunner().invoke(app, ["serve", "--world", str(tmp_path), "--port", "0"])
    assert "no ad state" in _one_line_error(res)


def test_cli_serve_port_in_use_is_one_line_and_exit_2(events_world: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = CliRunner().invoke(app, ["serve", "--world", str(events_world), "--port", str(port)])
    msg = _one_line_error(res)
    assert f"127.0.0.1:{port}" in msg and "--port" in msg
