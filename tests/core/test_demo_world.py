"""`roi demo --world DIR` deletes only a folder the demo made (its marker file), never a user's."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from roi.cli import demo as demo_cli
from roi.cli import main
from roi.core.errors import UserInputError

QUIET = Console(quiet=True)


@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """generate_world stubbed: writes world.json only, records the folders it wrote."""
    calls: list[Path] = []

    def fake(out: Path, start: date, days: int, seed: int = 7, scale: float = 0.01, **_: Any) -> None:
        out.mkdir(parents=True, exist_ok=True)
        meta = {"start": start.isoformat(), "days": days, "seed": seed, "scale": scale}
        (out / "world.json").write_text(json.dumps(meta))
        calls.append(out)

    monkeypatch.setattr(demo_cli, "generate_world", fake)
    return calls


def _world_json(folder: Path, days: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "world.json").write_text(
        json.dumps({"start": "2026-10-29", "days": days, "seed": 7, "scale": 0.002})
    )


def test_a_folder_with_a_users_file_is_refused_and_kept(tmp_path: Path, generated: list[Path]) -> None:
    world = tmp_path / "mine"
    world.mkdir()
    (world / "notes.txt").write_text("my notes")
    with pytest.raises(UserInputError, match="empty folder or one the demo made"):
        demo_cli._world_start(world, 3, 7, 0.002, QUIET)
    assert (world / "notes.txt").read_text() == "my notes" and generated == []


def test_a_world_for_other_options_not_made_by_the_demo_is_refused(
    tmp_path: Path, generated: list[Path]
) -> None:
    world = tmp_path / "sim"
    _world_json(world, days=5)
    (world / "keep.parquet").write_bytes(b"x")
    with pytest.raises(UserInputError):
        demo_cli._world_start(world, 3, 7, 0.002, QUIET)
    assert (world / "keep.parquet").exists() and generated == []


def test_a_matching_world_is_reused_whoever_made_it(tmp_path: Path, generated: list[Path]) -> None:
    world = tmp_path / "sim"
    _world_json(world, days=3)
    assert demo_cli._world_start(world, 3, 7, 0.002, QUIET) == date(2026, 10, 29)
    assert generated == []


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_new_or_empty_folder_is_generated_and_marked(
    tmp_path: Path, generated: list[Path], state: str
) -> None:
    world = tmp_path / "new"
    if state == "empty":
        world.mkdir()
    demo_cli._world_start(world, 3, 7, 0.002, QUIET)
    assert generated == [world] and (world / demo_cli.DEMO_MARKER).is_file()


def test_a_demo_made_world_for_other_options_is_regenerated(tmp_path: Path, generated: list[Path]) -> None:
    world = tmp_path / "demo"
    demo_cli._world_start(world, 3, 7, 0.002, QUIET)
    (world / "old-landing-file").write_text("x")
    demo_cli._world_start(world, 4, 7, 0.002, QUIET)
    assert generated == [world, world]
    assert not (world / "old-landing-file").exists() and (world / demo_cli.DEMO_MARKER).is_file()


def test_the_command_refuses_in_one_line_with_exit_2(
    tmp_path: Path, generated: list[Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo's own folder (.roi/demo) stays in the test's folder
    for name in ("_point_pipeline_at", "_run_plan", "print_roi"):
        monkeypatch.setattr(demo_cli, name, lambda *a, **k: tmp_path)
    world = tmp_path / "mine"
    world.mkdir()
    (world / "notes.txt").write_text("my notes")
    assert main(["demo", "--world", str(world)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and str(world) in err[0]
    assert (world / "notes.txt").read_text() == "my notes"
