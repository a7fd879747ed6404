"""The close gate's independent reconciliation against the simulator.

Every ad connector pulls its fine report and the platform's own account x day totals in the same
run; on a simulated world the two agree for every account-local date (the list is empty), and a
fine row removed or changed in raw makes that platform and account appear, with both figures.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dlt
import duckdb
import pytest

import connectors  # noqa: F401  (registers every connector)
from connector_sdk.http import FAST_RETRY
from connector_sdk.registry import get_connector
from flows.reconciliation import (
    NOT_AVAILABLE,
    PAIRS,
    account_day_mismatches,
    coverage,
    in_progress,
    local_day_bounds,
    overlaps,
)
from simulator.ads import generate_ads
from simulator.server import SimServer
from simulator.world import credentials_by_source, read_sim_env

WORLD_START = date(2026, 10, 20)
WORLD_DAYS = 8
PLATFORMS = [p.platform for p in PAIRS]


@dataclass(frozen=True)
class Pulled:
    """The raw tables of one lookback run of every ad connector, in one DuckDB file."""

    path: Path
    at: datetime

    @property
    def day(self) -> date:
        """A UTC day whose every overlapping local date had ended at the pull."""
        return (self.at - timedelta(days=2)).date()


@pytest.fixture(scope="module")
def pulled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pulled]:
    """A small world, and a 4-day lookback of every ad connector at its end (fine and coarse reports)."""
    base = tmp_path_factory.mktemp("reconcile")
    generate_ads(base / "world", WORLD_START, WORLD_DAYS, 7, 0.002)
    db = base / "raw.duckdb"
    with SimServer(base / "world") as srv:
        at = srv.as_of.astimezone(UTC)
        creds = credentials_by_source(read_sim_env(base / "world" / "sim.env"))
        for name in PLATFORMS:
            pipe = dlt.pipeline(
                pipeline_name=f"reconcile_{name}",
                destination=dlt.destinations.duckdb(str(db)),
                dataset_name="raw_ads",
                pipelines_dir=str(base / "dlt"),
            )
            conn = get_connector(name)(
                base_url=srv.url,
                credentials=creds.get(name, {}),
                retry=FAST_RETRY,
                lookback_days=4,
                requests_per_second=0,
            )
            conn.load(pipe, mode="lookback", logical_time=at)
    yield Pulled(db, at)


def _copy(pulled: Pulled, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    path = tmp_path / "raw.duckdb"
    shutil.copy(pulled.path, path)
    return duckdb.connect(str(path))


def _compared(con: duckdb.DuckDBPyConnection, table: str, day: date) -> int:
    row = con.execute(
        f"select count(*) from raw_ads.{table} where report_date between ? and ?",
        [day - timedelta(days=1), day + timedelta(days=1)],
    ).fetchone()
    return int(row[0]) if row else 0


def test_fine_and_coarse_agree_on_a_simulated_world(pulled: Pulled, tmp_path: Path) -> None:
    con = _copy(pulled, tmp_path)
    for pair in PAIRS:  # not vacuous: both reports hold rows of the day for every platform
        assert _compared(con, pair.table(pair.fine), pulled.day) > 0, pair.platform
        assert _compared(con, pair.table(pair.coarse), pulled.day) > 0, pair.platform
    assert account_day_mismatches(con.cursor(), pulled.day) == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_fine_row_removed_shows_as_a_mismatch(pulled: Pulled, tmp_path: Path, platform: str) -> None:
    con = _copy(pulled, tmp_path)
    pair = next(p for p in PAIRS if p.platform == platform)
    table, spend = f"raw_ads.{pair.table(pair.fine)}", pair.fine.spend_column
    row = con.execute(
        f"select _row_key, account_id, report_date from {table} where {spend} > 0 and report_date = ? limit 1",
        [pulled.day],
    ).fetchone()
    assert row is not None
    con.execute(f"delete from {table} where _row_key = ?", [row[0]])
    found = account_day_mismatches(con.cursor(), pulled.day)
    assert {(m["platform"], m["account_id"], m["local_date"]) for m in found} == {(platform, row[1], row[2])}
    spend_diff = next(m for m in found if m["metric"] == "spend_micros")
    assert spend_diff["fine"] < spend_diff["coarse"]
    assert spend_diff["currency"]


def test_a_changed_fine_spend_shows_the_micro_difference(pulled: Pulled, tmp_path: Path) -> None:
    con = _copy(pulled, tmp_path)
    con.execute(
        "update raw_ads.google_ads__ad_performance set cost_micros = cost_micros + 1 "
        "where _row_key = (select min(_row_key) from raw_ads.google_ads__ad_performance "
        "where report_date = ? and cost_micros > 0)",
        [pulled.day],
    )
    found = account_day_mismatches(con.cursor(), pulled.day)
    assert [(m["platform"], m["metric"], m["fine"] - m["coarse"]) for m in found] == [
        ("google_ads", "spend_micros", 1)
    ]


def test_a_coarse_row_missing_is_a_mismatch(pulled: Pulled, tmp_path: Path) -> None:
    con = _copy(pulled, tmp_path)
    con.execute("delete from raw_ads.tiktok_ads__account_daily where report_date = ?", [pulled.day])
    found = account_day_mismatches(con.cursor(), pulled.day)
    assert found and {m["platform"] for m in found} == {"tiktok_ads"}
    assert all(m["coarse"] == 0 and m["fine"] > 0 for m in found if m["metric"] == "spend_micros")


def test_a_platform_without_its_coarse_table_is_unreconciled(pulled: Pulled, tmp_path: Path) -> None:
    """A warehouse from before the coarse reports: every fine total of that platform differs (coarse 0)."""
    con = _copy(pulled, tmp_path)
    con.execute("drop table raw_ads.apple_search_ads__campaign_daily")
    found = account_day_mismatches(con.cursor(), pulled.day)
    assert found and {(m["platform"], m["coarse"]) for m in found} == {("apple_search_ads", 0)}


def test_a_local_date_in_progress_at_its_pull_is_not_judged(pulled: Pulled, tmp_path: Path) -> None:
    """A local date whose latest pull ran before it ended is skipped; the same change on an ended date is found."""
    con = _copy(pulled, tmp_path)
    day = pulled.day
    west = con.execute(
        "select account_id from raw_ads.meta_ads__ad_performance where time_zone = 'America/Los_Angeles' limit 1"
    ).fetchone()
    assert west is not None
    account = west[0]
    con.execute(
        "update raw_ads.meta_ads__ad_performance set spend = spend + 1 where account_id = ? and report_date = ?",
        [account, day],
    )
    assert [
        m["local_date"] for m in account_day_mismatches(con.cursor(), day) if m["metric"] == "spend_micros"
    ] == [day]
    # as if the latest pull of that date ran at 05:00 UTC the next day (a close's time): LA's day runs to 08:00
    _, end = local_day_bounds(day, "America/Los_Angeles")
    con.execute(
        "update raw_ads.meta_ads__slices set logical_time = ? where account_id = ? and report_date = ?",
        [end - timedelta(hours=3), account, day],
    )
    assert account_day_mismatches(con.cursor(), day) == []


def test_local_dates_overlapping_a_utc_day() -> None:
    d = date(2026, 11, 20)
    start, end = local_day_bounds(d, "America/Los_Angeles")
    assert (start, end) == (datetime(2026, 11, 20, 8, tzinfo=UTC), datetime(2026, 11, 21, 8, tzinfo=UTC))
    assert overlaps(start, end, d) and overlaps(start, end, d + timedelta(days=1))
    assert not overlaps(start, end, d - timedelta(days=1))
    # a close at 05:00 UTC the next day: LA's local 20th has not ended
    assert in_progress(end, datetime(2026, 11, 21, 5, tzinfo=UTC))
    assert not in_progress(end, datetime(2026, 11, 21, 9, tzinfo=UTC))


def test_impact_and_fx_are_named_not_available() -> None:
    cov = coverage()
    assert cov["impact"].startswith("not available")
    assert set(NOT_AVAILABLE) == {"impact", "fx_rates"}
    assert all(cov[p].startswith("reconciled against raw_ads.") for p in PLATFORMS)
