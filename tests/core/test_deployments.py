"""Every deployment in prefect.yaml parses, names a flow that imports, and matches `roi serve`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _deployments() -> list[dict]:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


def _load_flow(entrypoint: str):
    path, name = entrypoint.split(":")
    spec = importlib.util.spec_from_file_location(path.replace("/", ".")[:-3], ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_every_entrypoint_imports_a_flow() -> None:
    from prefect.flows import Flow

    for dep in _deployments():
        flow_obj = _load_flow(dep["entrypoint"])
        assert isinstance(flow_obj, Flow), dep["name"]
        # parameters given in the yaml must be parameters of the flow
        assert set(dep.get("parameters", {})) <= set(flow_obj.parameters.properties), dep["name"]


def test_schedules_are_utc_cron_as_documented() -> None:
    crons = {d["name"]: [s["cron"] for s in d.get("schedules", [])] for d in _deployments()}
    assert crons["hourly-incremental"] == ["5 * * * *"]
    assert crons["restatement-lookback"] == ["0 4 * * *"]
    assert crons["close-daily"] == ["0 5 * * *"]  # after the lookback, before finance reads at 06:00
    assert crons["ops-refresh"] == ["*/5 * * * *"]
    assert crons["erasure"] == ["35 * * * *"]  # hourly, away from the :05 run; requests are due in 72 h
    # before the 04:00 lookback and the 05:00 close, off the hourly run's :05 (docs/privacy.md)
    assert crons["retention"] == ["15 3 * * *"]
    assert crons["backfill"] == []
    for dep in _deployments():
        for s in dep.get("schedules", []):
            assert s["timezone"] == "UTC"


def test_serve_process_runs_the_same_schedules() -> None:
    from flows.serve import SCHEDULES, deployments

    yaml_crons = {d["name"]: (d.get("schedules") or [{}])[0].get("cron") for d in _deployments()}
    assert {name: cron for name, (_, cron) in SCHEDULES.items()} == yaml_crons
    built = deployments()
    assert {d.name for d in built} == set(yaml_crons)
    for d in built:
        crons = [s.schedule.cron for s in (d.schedules or [])]
        assert crons == ([yaml_crons[d.name]] if yaml_crons[d.name] else [])


def test_sped_up_schedules_make_every_scheduled_flow_due_together(monkeypatch) -> None:
    """The test-only setting behind the serve-loop test: one interval, one start, for every scheduled flow."""
    from datetime import UTC, datetime

    from flows.serve import deployments
    from roi.core.settings import reset_settings

    monkeypatch.setenv("ROI_SERVE_EVERY_SECONDS", "5")
    monkeypatch.setenv("ROI_SERVE_TICKS", "3")
    reset_settings()
    try:
        built = {d.name: d for d in deployments(now=datetime(2026, 11, 2, 10, 0, 0, 250000, tzinfo=UTC))}
    finally:
        monkeypatch.delenv("ROI_SERVE_EVERY_SECONDS")
        monkeypatch.delenv("ROI_SERVE_TICKS")
        reset_settings()
    rrules = {name: [s.schedule.rrule for s in d.schedules or []] for name, d in built.items()}
    expected = "DTSTART:20261102T100011Z\nRRULE:FREQ=SECONDLY;INTERVAL=5;COUNT=3"
    assert rrules == {
        "hourly-incremental": [expected],
        "restatement-lookback": [expected],
        "close-daily": [expected],
        "ops-refresh": [expected],
        "erasure": [expected],
        "retention": [expected],
        "backfill": [],
        "bootstrap-warehouse": [],
    }
