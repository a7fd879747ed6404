"""audit.pull_slices and the ads task: open slices are re-pulled, deferrals are waited out,
lookbacks use each platform's restatement window, every outcome is recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector_sdk.completeness import SliceOutcome
from flows import pull_slices, tasks
from roi.core.errors import ConfigError
from roi.core.settings import Settings, get_settings, reset_settings
from roi.core.warehouse import get_warehouse

T = datetime(2026, 11, 10, 4, tzinfo=UTC)
D = date(2026, 11, 9)


class FakeSummary:
    """What run_connector returns, as far as the task reads it."""

    def __init__(self, slices: list[SliceOutcome], resume_after: datetime | None = None) -> None:
        self.slices = slices
        self.resume_after = resume_after
        self.warnings: list[str] = []
        self.rows = sum(s.rows_received for s in slices)

    def count(self, status: str) -> int:
        return sum(1 for s in self.slices if s.status == status)


def _outcome(day: date, status: str, resume: datetime | None = None) -> SliceOutcome:
    rows = 0 if status == "deferred" else 5
    return SliceOutcome("google_ads", "123", day, status, None, rows, resume, "L1", status == "complete")


@pytest.fixture
def calls(fresh_warehouse: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The run_connector calls of the ads task, answered from a script (no HTTP)."""
    get_warehouse().bootstrap()
    seen: list[dict[str, Any]] = []
    script: list[FakeSummary] = []

    def fake_run(platform: str, pipeline: Any, **kwargs: Any) -> FakeSummary:
        seen.append({"platform": platform, **kwargs})
        return script.pop(0)

    monkeypatch.setattr(tasks, "run_connector", fake_run)
    seen.append({"script": script})
    return seen


def _script(calls: list[dict[str, Any]]) -> list[FakeSummary]:
    return calls[0]["script"]


def test_partial_and_deferred_slices_are_pulled_again_by_the_next_run(calls: list[dict[str, Any]]) -> None:
    resume = T + timedelta(hours=1)
    _script(calls).extend(
        [
            FakeSummary([_outcome(D, "complete"), _outcome(D - timedelta(days=1), "partial")]),
            FakeSummary([_outcome(D, "deferred", resume)], resume_after=resume),
            FakeSummary([_outcome(D, "complete"), _outcome(D - timedelta(days=1), "complete")]),
        ]
    )
    first = tasks.load_ads.fn("google_ads", "hourly", T)
    assert first["slices"] == {"complete": 1, "partial": 1, "deferred": 0}
    tasks.load_ads.fn("google_ads", "hourly", T + timedelta(minutes=5))
    assert calls[2]["reopen"] == [("123", D - timedelta(days=1))]
    # before the resume time the platform is not asked again; after it, the open slices are
    skipped = tasks.load_ads.fn("google_ads", "hourly", T + timedelta(minutes=30))
    assert skipped["skipped"].startswith("deferred until") and len(calls) == 3
    tasks.load_ads.fn("google_ads", "hourly", T + timedelta(hours=2))
    assert sorted(calls[3]["reopen"]) == [("123", D - timedelta(days=1)), ("123", D)]
    assert pull_slices.open_slices(get_warehouse(), "google_ads") == []
    rows = (
        get_warehouse()
        .connection()
        .execute("select report_date, status, rows_received from audit.pull_slices order by 1")
        .fetchall()
    )
    assert rows == [(D - timedelta(days=1), "complete", 5), (D, "complete", 5)]


def test_a_deferral_before_any_slice_holds_the_platform(calls: list[dict[str, Any]]) -> None:
    resume = T + timedelta(seconds=17941)
    _script(calls).extend([FakeSummary([], resume_after=resume), FakeSummary([_outcome(D, "complete")])])
    tasks.load_ads.fn("google_ads", "hourly", T)
    held = tasks.load_ads.fn("google_ads", "hourly", T + timedelta(hours=1))
    assert "deferred until" in held["skipped"]
    tasks.load_ads.fn("google_ads", "hourly", T + timedelta(hours=5))
    assert calls[2]["reopen"] == []  # the platform-wide marker is no slice
    assert pull_slices.open_slices(get_warehouse(), "google_ads") == []


def test_lookback_uses_each_platforms_restatement_window(
    calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROI_RESTATEMENT_DAYS", '{"meta_ads": 28, "impact": "locking"}')
    reset_settings()
    _script(calls).extend([FakeSummary([]) for _ in range(4)])
    tasks.load_ads.fn("meta_ads", "lookback", T)
    tasks.load_ads.fn("impact", "lookback", T)
    tasks.load_ads.fn("google_ads", "lookback", T)
    tasks.load_ads.fn("meta_ads", "hourly", T)
    got = [(c["platform"], c.get("lookback_days"), c.get("until_locking")) for c in calls[1:]]
    assert got == [
        ("meta_ads", 28, None),
        ("impact", None, True),
        ("google_ads", None, None),
        ("meta_ads", None, None),
    ]
    reset_settings()


def test_production_windows_are_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROI_RESTATEMENT_DAYS")
    assert Settings(_env_file=None).restatement_days == {
        "meta_ads": 28,
        "apple_search_ads": 30,
        "impact": "locking",
    }


def test_a_bad_window_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROI_RESTATEMENT_DAYS", '{"meta_ads": 0}')
    reset_settings()
    with pytest.raises(ConfigError, match="ROI_RESTATEMENT_DAYS"):
        get_settings()
    reset_settings()


class _Run:
    """What a flow's run record offers the ads step: counters."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, key: str, n: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


def test_a_platform_that_is_down_does_not_stop_the_others_and_its_dates_are_owed(
    prefect_harness: None, calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Meta down after its retries: Google still pulls, Meta's dates are owed and pulled next run."""
    import flows.pipeline as pipeline

    monkeypatch.setattr(pipeline, "ad_sources", lambda: ["google_ads", "meta_ads"])
    monkeypatch.setattr(pipeline, "load_ads", tasks.load_ads.with_options(retries=0))
    script = _script(calls)
    meta_seen = SliceOutcome("meta_ads", "act9", D, "complete", None, 5, None, "L0", True)
    script.extend([FakeSummary([_outcome(D, "complete")]), FakeSummary([meta_seen])])
    pipeline.pull_ads(_Run(), "hourly", T)  # both up: Meta's account is known

    real = tasks.run_connector

    def meta_down(platform: str, pipe: Any, **kwargs: Any) -> Any:
        if platform == "meta_ads":
            calls.append({"platform": platform, **kwargs})
            raise ConnectionError("503 Service Unavailable from graph.facebook.com after 5 attempts")
        return real(platform, pipe, **kwargs)

    monkeypatch.setattr(tasks, "run_connector", meta_down)
    script.append(FakeSummary([_outcome(D, "complete")]))
    run = _Run()
    summaries, failures = pipeline.pull_ads(run, "hourly", T + timedelta(hours=1))
    assert len(summaries) == 1 and calls[-2]["platform"] == "google_ads"
    assert run.counts["ads_meta_ads_failed"] == 1 and "ads_google_ads" in run.counts
    assert len(failures) == 1 and failures[0].startswith("meta_ads: ") and "503" in failures[0]
    with pytest.raises(pipeline.PullsFailed, match=r"^ads pull failed for meta_ads: .*next run") as err:
        pipeline.raise_failed_pulls(failures)
    assert "\n" not in str(err.value)
    owed = pull_slices.open_slices(get_warehouse(), "meta_ads")
    assert {(s.account_id, s.status) for s in owed} == {("act9", "deferred")}
    assert [s.report_date for s in owed] == pipeline.owed_dates("hourly", T + timedelta(hours=1), None, None)

    # Meta is back: the next run asks it for every owed date, and nothing stays open.
    monkeypatch.setattr(tasks, "run_connector", real)
    script.extend([FakeSummary([_outcome(D, "complete")]), FakeSummary([meta_seen])])
    pipeline.pull_ads(_Run(), "hourly", T + timedelta(hours=2))
    assert sorted(calls[-1]["reopen"]) == [("act9", s.report_date) for s in owed]
