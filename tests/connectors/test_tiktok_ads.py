"""TikTok against its simulator: deleted ads through a restatement, fixed-offset hours at a DST date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dlt
import duckdb
import polars as pl
import pytest

from connector_sdk.http import FAST_RETRY
from connector_sdk.registry import run_connector
from connector_sdk.testing import SimulatorHandle, duckdb_pipeline
from simulator.ads.common import local_midnight_utc
from simulator.ads.state import AdsWorld
from tests.connectors.conftest import WORLD_START

EU_FALL_BACK = date(2026, 10, 25)  # Europe/Berlin leaves summer time; TikTok's Etc/GMT-1 does not


@pytest.fixture(scope="module")
def world(sim_world: Path) -> AdsWorld:
    """The session world's ad state (to choose cases)."""
    return AdsWorld(sim_world)


@pytest.fixture(scope="module")
def truth(sim_world: Path) -> pl.DataFrame:
    """TikTok's final spend per ad and UTC hour."""
    return pl.read_parquet(sim_world / "truth" / "spend_final.parquet").filter(
        pl.col("platform") == "tiktok_ads"
    )


def _pull(sim: SimulatorHandle, pipe: dlt.Pipeline, at: datetime, **kw: object) -> None:
    sim.set_as_of(at)
    run_connector(
        "tiktok_ads",
        pipe,
        logical_time=at,
        base_url=sim.base_url,
        credentials=sim.credentials["tiktok_ads"],
        retry=FAST_RETRY,
        requests_per_second=0,
        **kw,  # type: ignore[arg-type]
    )


def _truth_of_local_day(truth: pl.DataFrame, account: str, tz: str, day: date) -> pl.DataFrame:
    """Truth rows whose UTC hour falls in the account's local ``day``."""
    lo = datetime.fromtimestamp(local_midnight_utc(day, tz), UTC)
    hi = datetime.fromtimestamp(local_midnight_utc(day + timedelta(days=1), tz), UTC)
    utc = pl.col("spend_date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=pl.col("spend_hour"))
    return (
        truth.filter(pl.col("account_id") == account)
        .with_columns(utc.alias("utc"))
        .filter(pl.col("utc").is_between(lo, hi, closed="left"))
    )


def _deleted_ad_case(world: AdsWorld, truth: pl.DataFrame) -> tuple[str, str, str, date, int, int]:
    """(account, zone, ad, local day D, deletion time, spend micros on D) of an ad that spent on
    the local day before it was deleted."""
    accounts = {r["account_id"]: r["time_zone"] for r in world.entities["tiktok_ads"].accounts.to_dicts()}
    deletions = world.changes.filter(
        (pl.col("platform") == "tiktok_ads")
        & (pl.col("entity_type") == "ad")
        & (pl.col("value") == "DELETED")
    )
    for d in deletions.iter_rows(named=True):
        tz = accounts[d["account_id"]]
        day = datetime.fromtimestamp(d["effective_ts"], ZoneInfo(tz)).date() - timedelta(days=1)
        if day < WORLD_START:
            continue
        rows = _truth_of_local_day(truth, d["account_id"], tz, day).filter(pl.col("ad_id") == d["entity_id"])
        spend = int(rows["spend_micros"].sum())
        if spend > 0:
            return d["account_id"], tz, d["entity_id"], day, d["effective_ts"], spend
    raise AssertionError("no TikTok ad was deleted after spending: the world models no deletions")


def test_deleted_ad_keeps_its_spend_through_a_restatement(
    sim: SimulatorHandle, world: AdsWorld, truth: pl.DataFrame, tmp_path: Path
) -> None:
    """An ad deleted after spending: re-pulling its day after the deletion keeps its real spend."""
    account, tz, ad, day, deleted_at, spend = _deleted_ad_case(world, truth)
    pipe = duckdb_pipeline(tmp_path, "t")
    sim.reset()
    before = datetime.fromtimestamp(deleted_at - 1, UTC)
    # the day is final (past the 7-day restatement window) and was deleted long before
    after = datetime.fromtimestamp(local_midnight_utc(day + timedelta(days=8), tz) + 3600, UTC)
    _pull(sim, pipe, before, mode="lookback", lookback_days=7)
    _pull(sim, pipe, after, mode="lookback", lookback_days=7)
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    pulls = con.execute(
        "select count(distinct _load_id) from raw_ads.tiktok_ads__slices where account_id = ? and report_date = ?",
        [account, day],
    ).fetchall()[0][0]
    kept = con.execute(
        "select coalesce(sum(spend), 0) from raw_ads.tiktok_ads__ad_performance "
        "where account_id = ? and report_date = ? and ad_id = ?",
        [account, day, ad],
    ).fetchall()[0][0]
    con.close()
    assert pulls == 2, "the day was not pulled before and after the deletion"
    assert Decimal(kept) * 1_000_000 == spend


def test_fixed_offset_hours_across_a_dst_date(
    sim: SimulatorHandle, world: AdsWorld, truth: pl.DataFrame, tmp_path: Path
) -> None:
    """Across the EU daylight-saving change each advertiser's hours keep one UTC offset and land
    on the truth's UTC hours (the DE advertiser's Oct 25 is a voided slice: it has no rows)."""
    pipe = duckdb_pipeline(tmp_path, "z")
    sim.reset()
    at = datetime.fromtimestamp(world.end_utc + 9 * 86400, UTC)
    first, last = EU_FALL_BACK - timedelta(days=1), EU_FALL_BACK + timedelta(days=1)
    _pull(sim, pipe, at, mode="backfill", start=first, end=last)
    con = duckdb.connect(str(tmp_path / "z.duckdb"))
    rows = con.execute(
        "select account_id, ad_id, report_date, report_hour, time_zone, spend "
        "from raw_ads.tiktok_ads__ad_performance"
    ).fetchall()
    con.close()
    for acc in world.entities["tiktok_ads"].accounts.to_dicts():
        mine = [r for r in rows if r[0] == acc["account_id"]]
        assert {r[2] for r in mine} >= {first, last}
        (tz,) = {r[4] for r in mine}
        zone = ZoneInfo(tz)
        got: dict[tuple[str, datetime], Decimal] = {}
        offsets = set()
        for _, ad, day, hour, _, spend in mine:
            local = datetime(day.year, day.month, day.day, hour)
            utc = local.replace(tzinfo=zone).astimezone(UTC)
            offsets.add(local - utc.replace(tzinfo=None))
            got[(ad, utc)] = got.get((ad, utc), Decimal(0)) + Decimal(spend)
        assert len(offsets) == 1, f"{tz}: hours change offset across the DST date"
        want = pl.concat(
            [_truth_of_local_day(truth, acc["account_id"], tz, first + timedelta(days=i)) for i in range(3)]
        )
        expected = {
            (r["ad_id"], r["utc"]): Decimal(r["spend_micros"]) / 1_000_000
            for r in want.group_by("ad_id", "utc").agg(pl.col("spend_micros").sum()).iter_rows(named=True)
        }
        assert got == expected
