"""``roi landing requeue`` and ``roi deadletters replay`` through ``roi.cli.main``."""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.product_events import load_events
from connectors.product_events import settings as S
from roi.cli import main
from tests.events import dirty
from tests.events.conftest import PEPPER

DAY = "2026-01-05"
KEY = f"events/dt={DAY}/hour=10/part-cut.jsonl.gz"
AHEAD = f"{DAY}T12:00:00Z"


@pytest.fixture
def env(fresh_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty warehouse, a landing folder and a pepper in the settings."""
    from roi.core.settings import reset_settings

    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv("ROI_LANDING_URL", str(landing))
    monkeypatch.setenv("ROI_PII_PEPPER", PEPPER.decode())
    reset_settings()
    return landing


def _load(landing: Path) -> object:
    from roi.core.warehouse import get_warehouse

    return load_events(get_warehouse().dlt_pipeline(S.PIPELINE_NAME, S.DATASET), str(landing), PEPPER)


def _one_line_error(capsys: pytest.CaptureFixture[str], needle: str) -> None:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and needle in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["landing", "requeue", "events/dt=2026-01-05/hour=10/nope.jsonl.gz"], "is not in quarantine"),
        (["landing", "requeue"], "Missing argument"),
        (["deadletters", "replay", "--since", "2026-13-01"], "--since '2026-13-01' is not a date"),
        (["deadletters", "replay", "--since", "yesterday"], "is not a date"),
        (["deadletters", "replay", "--reason", "bogus"], "is not a dead-letter reason"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    env: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    assert main(args) == 2
    _one_line_error(capsys, needle)


def test_replay_without_a_pepper_is_a_configuration_error(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from roi.core.settings import reset_settings

    monkeypatch.delenv("ROI_PII_PEPPER")
    reset_settings()
    assert main(["deadletters", "replay"]) == 3
    _one_line_error(capsys, "ROI_PII_PEPPER")


def test_requeue_a_fixed_file_then_replay_fixed_rules(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [dirty.ev("c1", "landing", AHEAD, f"{DAY}T10:00:00Z", anonymous_id="a1")]
    whole = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    path = env / KEY
    path.parent.mkdir(parents=True)
    path.write_bytes(whole[:-12])  # the upload was cut
    assert _load(env).files_quarantined == 1  # type: ignore[attr-defined]
    path.write_bytes(whole)
    assert main(["landing", "requeue", KEY]) == 0
    assert "requeued 1 file" in capsys.readouterr().out
    assert main(["landing", "requeue", KEY]) == 2  # once out of quarantine, no longer known
    _one_line_error(capsys, "is not in quarantine")
    s = _load(env)
    assert (s.files_loaded, s.dead_letters) == (1, 1)  # type: ignore[attr-defined]

    monkeypatch.setattr(S, "TS_MAX_AFTER_RECEIVED", timedelta(hours=3))
    assert main(["deadletters", "replay", "--reason", "implausible_timestamp", "--since", "2020-01-01"]) == 0
    out = capsys.readouterr().out
    assert "replayed: loaded" in out and out.split("replayed: loaded", 1)[1].split()[1] == "1"
    assert main(["deadletters", "replay"]) == 0  # again: nothing left to replay
    assert "selected (not replayed before)" in capsys.readouterr().out
