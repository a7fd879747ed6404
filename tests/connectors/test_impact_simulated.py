"""Impact against its simulator: a range over 10 x PageSize is split, and the lookback until LockingDate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from connector_sdk.base import LoadSummary
from connector_sdk.http import FAST_RETRY
from connector_sdk.testing import SimulatorHandle, duckdb_pipeline, read_rows
from connectors.impact import ImpactConnector
from connectors.impact import helpers as H

COLUMNS = ["action_id", "report_date", "state", "payout", "event_ts"]


@pytest.fixture
def impact_sim(sim: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The session simulator, clean before and after (no faults, no page-size override, world end)."""
    sim.reset()
    sim.set_as_of(sim.world_end)
    yield sim
    sim.reset()
    sim.set_as_of(sim.world_end)


def _load(sim: SimulatorHandle, base: Path, name: str, mode: str = "lookback", **options: Any) -> LoadSummary:
    connector = ImpactConnector(
        base_url=sim.base_url,
        credentials=sim.credentials["impact"],
        retry=FAST_RETRY,
        requests_per_second=0,
        **options,
    )
    return connector.load(duckdb_pipeline(base, name), mode=mode, logical_time=sim.world_end)


def test_ranges_over_ten_pages_are_split_without_losing_rows(
    impact_sim: SimulatorHandle, tmp_path: Path
) -> None:
    """With a served page of 2 (at most 20 records a request) the pull splits and equals a one-page pull."""
    whole = _load(impact_sim, tmp_path, "whole", lookback_days=5)
    impact_sim.set_page_size(2, "impact")
    split = _load(impact_sim, tmp_path, "split", lookback_days=5)
    stats = impact_sim.stats()["impact"]
    rows_whole = read_rows(duckdb_pipeline(tmp_path, "whole"), "impact__actions", COLUMNS)
    rows_split = read_rows(duckdb_pipeline(tmp_path, "split"), "impact__actions", COLUMNS)
    assert stats.get("http_400", 0) > 0, "the simulator refused no range: the test splits nothing"
    assert len(rows_whole) > 20 and rows_split == rows_whole
    assert split.rows == whole.rows


def test_lookback_until_locking_reaches_the_latest_locking_date(
    impact_sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the window 'until LockingDate' a lookback covers the longest locking horizon seen (7 days here)."""
    short = _load(impact_sim, tmp_path, "lock", lookback_days=2)
    pipeline = duckdb_pipeline(tmp_path, "lock")
    assert H.locking_horizon_days(pipeline, "impact__actions") == 7  # the simulator locks within 7 UTC days
    assert H.locking_horizon_days(duckdb_pipeline(tmp_path, "empty"), "impact__actions") is None
    longer = _load(impact_sim, tmp_path, "lock", lookback_days=2, until_locking=True)
    assert (len(short.slices), len(longer.slices)) == (2 + 2, 7 + 2)  # today and lookback_days + 1 before
    monkeypatch.setenv("SOURCES__IMPACT__LOOKBACK_UNTIL_LOCKING", "true")
    assert ImpactConnector(credentials=impact_sim.credentials["impact"]).until_locking
    monkeypatch.delenv("SOURCES__IMPACT__LOOKBACK_UNTIL_LOCKING")
    assert not ImpactConnector(credentials=impact_sim.credentials["impact"]).until_locking


def test_every_action_lands_on_the_utc_day_of_its_event(impact_sim: SimulatorHandle, tmp_path: Path) -> None:
    """report_date is the UTC date of EventDate, and each slice holds exactly the actions of its UTC day."""
    _load(impact_sim, tmp_path, "days", lookback_days=5)
    rows = read_rows(duckdb_pipeline(tmp_path, "days"), "impact__actions", COLUMNS)
    assert rows and all(r[1] == r[4].astimezone(UTC).date() for r in rows)
