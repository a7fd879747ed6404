"""The Meta connector against its simulator: conversions from the daily report equal the truth's day
totals while the hourly rows carry none, and report runs Meta fails are split instead of resubmitted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from connector_sdk.exceptions import ApiVersionSunsetError, FatalAPIError
from connector_sdk.testing import CONTRACT_RETRY, SimulatorHandle, duckdb_pipeline, read_rows
from connectors.meta_ads import MetaAdsConnector
from connectors.meta_ads import settings as S
from simulator.server import SimServer
from tests.connectors.conftest import WORLD_DAYS, WORLD_START

HOURLY = "meta_ads__ad_performance"
DAILY = "meta_ads__ad_conversions_daily"


@pytest.fixture
def sim_meta(sim: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The simulator, reset and back at the world's end after the test."""
    sim.reset()
    yield sim
    sim.reset()
    sim.set_as_of(sim.world_end)


def _load(sim: SimulatorHandle, pipe: Any, mode: str, at: datetime, **kw: Any) -> None:
    conn = MetaAdsConnector(
        base_url=sim.base_url,
        credentials=sim.credentials["meta_ads"],
        retry=CONTRACT_RETRY,
        requests_per_second=0,
        lookback_days=3,
    )
    conn.load(pipe, mode=mode, logical_time=at, **kw)


def test_conversions_equal_the_truth_day_totals(
    sim_meta: SimulatorHandle, sim_world: Path, tmp_path: Path
) -> None:
    """After the restatement window: hourly spend per account equals the truth, hourly conversions are
    null, and conversions per ad and local day equal ``truth/conversions_daily.parquet``."""
    final = sim_meta.world_end + timedelta(days=8)
    sim_meta.set_as_of(final)
    pipe = duckdb_pipeline(tmp_path, "meta_truth")
    last = WORLD_START + timedelta(days=WORLD_DAYS - 1)
    _load(sim_meta, pipe, "backfill", final, start=WORLD_START, end=last)

    hourly = read_rows(pipe, HOURLY, ["account_id", "spend", "conversions"])
    assert hourly and all(conv is None for _, _, conv in hourly)
    spend = pl.read_parquet(sim_world / "truth" / "spend_final.parquet").filter(
        pl.col("platform") == "meta_ads"
    )
    want_spend = {a: s for a, s in spend.group_by("account_id").agg(pl.col("spend_micros").sum()).iter_rows()}
    got_spend: dict[str, int] = {}
    for acc, money, _ in hourly:
        got_spend[acc] = got_spend.get(acc, 0) + int(money * 1_000_000)
    assert got_spend == want_spend

    cols = ["account_id", "campaign_id", "ad_group_id", "ad_id", "report_date", "conversions"]
    got = {tuple(r[:-1]): r[-1] for r in read_rows(pipe, DAILY, cols)}
    truth = pl.read_parquet(sim_world / "truth" / "conversions_daily.parquet")
    want = {tuple(r[1:-1]): float(r[-1]) for r in truth.iter_rows()}
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in want.items() if v}
    assert sum(got.values()) == truth["conversions"].sum() > 0


def _max_rows(rows: list[tuple[Any, ...]], width: int) -> int:
    counts: dict[tuple[Any, ...], int] = {}
    for r in rows:
        counts[r[:width]] = counts.get(r[:width], 0) + 1
    return max(counts.values())


def test_failed_report_runs_are_split_not_resubmitted(
    sim_meta: SimulatorHandle, sim_server: SimServer, tmp_path: Path
) -> None:
    """With runs over N rows failing (``Job Failed``), the pull splits them by campaign, then ad set,
    and lands exactly what a run without the fault lands; no whole run is submitted twice."""
    at = sim_meta.world_end
    sim_meta.set_as_of(at)
    clean = duckdb_pipeline(tmp_path, "meta_clean")
    _load(sim_meta, clean, "lookback", at)
    cols = ["account_id", "campaign_id", "adset_id", "ad_id", "report_date", "report_hour", "spend"]
    daily_cols = ["account_id", "campaign_id", "ad_group_id", "ad_id", "report_date", "conversions"]
    want = read_rows(clean, HOURLY, cols), read_rows(clean, DAILY, daily_cols)
    # every ad set's hourly run passes, every account's whole hourly run fails
    limit = _max_rows(want[0], 3)
    assert limit < _max_rows(want[0], 1)

    before = set(sim_server.ctx.report_runs)
    sim_meta.set_faults("meta_ads", async_job_fail_rows=limit)
    split = duckdb_pipeline(tmp_path, "meta_split")
    _load(sim_meta, split, "lookback", at)
    assert (read_rows(split, HOURLY, cols), read_rows(split, DAILY, daily_cols)) == want

    runs = [r for k, r in sim_server.ctx.report_runs.items() if k not in before]
    whole = [r for r in runs if not r["spec"]["filters"] and r["spec"]["hourly"]]
    assert whole and all(r["status"] == "Job Failed" for r in whole)
    asked = [(r["account"], r["spec"]["hourly"], r["spec"]["filters"]) for r in runs]
    assert len(asked) == len(set(asked))  # nothing submitted twice
    assert {len(r["spec"]["filters"]) for r in runs} == {0, 1, 2}  # by campaign, then by ad set


def test_an_expired_version_fails_in_one_line(
    sim_meta: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Configured to v21.0 (expired 2025-09-09): refused before any request, in one line naming
    the setting; and a version whose sunset the settings do not know is refused by Meta (2635)."""
    monkeypatch.setenv("SOURCES__META_ADS__API_VERSION", "v21.0")
    pipe = duckdb_pipeline(tmp_path, "meta_v21")
    with pytest.raises(ApiVersionSunsetError) as refused:
        _load(sim_meta, pipe, "lookback", sim_meta.world_end)
    assert "\n" not in str(refused.value) and "API_VERSION" in str(refused.value).upper()
    assert sim_meta.stats().get("meta_ads", {}) == {}
    monkeypatch.setattr(MetaAdsConnector, "settings", replace(S.SETTINGS, sunsets={}))
    with pytest.raises(FatalAPIError) as err:
        _load(sim_meta, pipe, "lookback", sim_meta.world_end)
    msg = str(err.value)
    assert "\n" not in msg and "2635" in msg and "sources.meta_ads.api_version" in msg
    assert sim_meta.stats()["meta_ads"] == {"http_400": 1}
