"""``roi alerts [--open] [--days N]`` and ``roi alerts ack ID`` on a warehouse with alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rich.console import Console

from flows.monitor import run_monitor
from roi.cli import common, main
from tests.monitoring.helpers import NOW, add_runs, run_row


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide console, so the table's cells are not folded."""
    monkeypatch.setattr("roi.cli.alerts.console", Console(width=300, force_terminal=False))
    assert common.console is not None


def _two_alerts(wh: Any) -> None:
    """close_daily failed and still open (id 1); hourly failed, resolved the next hour (id 2)."""
    add_runs(wh, [run_row("hourly_incremental", NOW, "failed"), run_row("close_daily", NOW, "failed")])
    run_monitor(NOW)
    add_runs(wh, [run_row("hourly_incremental", NOW + timedelta(hours=1))])
    run_monitor(NOW + timedelta(hours=1, minutes=30))


def test_list_open_and_recent(wh: Any, wide: None, capsys: pytest.CaptureFixture[str]) -> None:
    _two_alerts(wh)
    assert main(["alerts"]) == 0
    out = capsys.readouterr().out
    assert "close_daily" in out and "hourly_incremental" in out and "docs/runbooks/failed_flow_run.md" in out
    assert main(["alerts", "--open"]) == 0
    out = capsys.readouterr().out
    assert "close_daily" in out and "hourly_incremental" not in out


def test_ack_then_unknown_and_resolved_ids_are_one_line_exit_2(
    wh: Any, wide: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_alerts(wh)
    assert main(["alerts", "ack", "1"]) == 0
    assert "acknowledged" in capsys.readouterr().out
    assert wh.rows("select status from audit.alerts where alert_id = 1") == [("acknowledged",)]
    for args, words in (
        (["alerts", "ack", "99"], "no alert 99"),
        (["alerts", "ack", "2"], "already resolved"),
    ):
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]


def test_empty_warehouse(fresh_warehouse: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "--open"]) == 0
    assert "no open alerts" in capsys.readouterr().out
    assert main(["alerts", "--days", "0"]) == 2
