"""Apple Ads against its simulator: what the contract suite does not reach (one-day windows, the 90-day limit)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector_sdk.exceptions import FatalAPIError
from connector_sdk.http import FAST_RETRY
from connector_sdk.testing import SimulatorHandle
from connector_sdk.windows import DateWindow
from connectors.apple_search_ads import AppleSearchAdsConnector


def _connector(sim: SimulatorHandle) -> AppleSearchAdsConnector:
    return AppleSearchAdsConnector(
        base_url=sim.base_url,
        credentials=sim.credentials["apple_search_ads"],
        retry=FAST_RETRY,
        requests_per_second=0,
    )


def test_one_day_window_equals_that_day_of_a_longer_one(sim: SimulatorHandle) -> None:
    """DAILY needs more than one day, so a one-day window is asked without granularity: same rows."""
    sim.reset()
    sim.set_as_of(sim.world_end)
    conn = _connector(sim)
    day = (sim.world_end - timedelta(days=3)).date()
    for account in conn.list_accounts():
        one = [r for p in conn.fetch_report(account, DateWindow(day, day)) for r in p.to_pylist()]
        two = [
            r
            for p in conn.fetch_report(account, DateWindow(day, day + timedelta(days=1)))
            for r in p.to_pylist()
        ]
        assert one, "no rows on the day: the test compares nothing"
        assert sorted(one, key=str) == sorted((r for r in two if r["report_date"] == day), key=str)


def test_a_window_older_than_90_days_is_refused_clearly(sim: SimulatorHandle) -> None:
    """Apple serves DAILY rows only for starts within 90 days: the run stops with Apple's reason."""
    sim.reset()
    sim.set_as_of(sim.world_end + timedelta(days=120))
    try:
        conn = _connector(sim)
        account = conn.list_accounts()[0]
        day = (sim.world_end - timedelta(days=3)).date()
        with pytest.raises(FatalAPIError, match="within the last 90 days"):
            list(conn.fetch_report(account, DateWindow(day, day + timedelta(days=1))))
    finally:
        sim.set_as_of(sim.world_end)
