"""The world as a whole: determinism, DST-crossing worlds, the simulate CLI's input errors."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from simulator.cli import app
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
