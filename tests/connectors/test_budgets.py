"""Campaign budgets land in ``raw_ads.<platform>__campaigns`` in the account currency's units, from
each platform's own shape (Google micros, Meta minor units, TikTok and Apple units), and equal
``truth/campaign_budgets.parquet``; the wire-to-unit conversions on their own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from connector_sdk.base import Connector
from connector_sdk.budgets import settled, units
from connector_sdk.specs import BUDGET_COLUMNS
from connector_sdk.testing import CONTRACT_RETRY, SimulatorHandle, duckdb_pipeline, read_rows
from connectors.apple_search_ads import AppleSearchAdsConnector
from connectors.google_ads import GoogleAdsConnector
from connectors.google_ads.helpers import budget_period as google_period
from connectors.google_ads.helpers import micros_units
from connectors.meta_ads import MetaAdsConnector
from connectors.meta_ads.helpers import minor_units, with_budgets
from connectors.tiktok_ads import TikTokAdsConnector
from connectors.tiktok_ads.helpers import budget_period as tiktok_period

CONNECTORS: dict[str, type[Connector]] = {
    "google_ads": GoogleAdsConnector,
    "meta_ads": MetaAdsConnector,
    "tiktok_ads": TikTokAdsConnector,
    "apple_search_ads": AppleSearchAdsConnector,
}
COLUMNS = ["account_id", "campaign_id", *BUDGET_COLUMNS]


@pytest.fixture
def sim_after_world(sim: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The simulator a day after the world's end (every ad set move done), reset afterwards."""
    sim.reset()
    sim.set_as_of(sim.world_end + timedelta(days=1))
    yield sim
    sim.reset()
    sim.set_as_of(sim.world_end)


def _money(v: object) -> Decimal | None:
    return None if v is None else Decimal(str(v))


@pytest.mark.parametrize("platform", list(CONNECTORS))
def test_budgets_land_in_currency_units_equal_to_the_truth(
    platform: str, sim_after_world: SimulatorHandle, sim_world: Path, tmp_path: Path
) -> None:
    """One entity pull per platform: every campaign's budget period, daily / lifetime amount (units
    of the account currency, decimal text) and currency equal the truth; Meta campaigns without a
    campaign budget carry their ad sets' summed daily budgets."""
    at = sim_after_world.world_end + timedelta(days=1)
    pipe = duckdb_pipeline(tmp_path, f"{platform}_budgets")
    conn = CONNECTORS[platform](
        base_url=sim_after_world.base_url,
        credentials=sim_after_world.credentials[platform],
        retry=CONTRACT_RETRY,
        requests_per_second=0,
        lookback_days=1,
    )
    conn.load(pipe, mode="lookback", logical_time=at)
    got = {(r[0], r[1]): r[2:] for r in read_rows(pipe, f"{platform}__campaigns", COLUMNS)}
    truth = pl.read_parquet(sim_world / "truth" / "campaign_budgets.parquet").filter(
        pl.col("platform") == platform
    )
    want = {
        (t["account_id"], t["campaign_id"]): (
            t["budget_period"],
            _money(t["daily_budget"]),
            _money(t["lifetime_budget"]),
            t["currency"] if t["budget_period"] != "none" else None,
        )
        for t in truth.iter_rows(named=True)
    }
    landed = {k: (p, _money(d), _money(lt), c) for k, (p, d, lt, c) in got.items()}
    assert landed == want
    assert all(isinstance(v, str) for r in got.values() for v in r[1:3] if v is not None)  # decimal text
    if platform == "meta_ads":
        assert "ad_set" in set(truth["budget_level"])


def test_units_from_micros_minor_units_and_numbers() -> None:
    assert micros_units("1234560000") == "1234.56" and micros_units("5000000") == "5"
    assert micros_units(None) is None and micros_units("") is None
    assert minor_units("123456", "USD") == "1234.56" and minor_units("123456", "EUR") == "1234.56"
    assert minor_units("5000", "JPY") == "5000"  # offset 1: yen have no minor unit
    assert units(250.5) == "250.5" and units("100.00") == "100" and units("x") is None
    assert google_period("DAILY") == "daily" and google_period("CUSTOM_PERIOD") == "lifetime"
    assert google_period("UNSPECIFIED") == "none"
    assert tiktok_period("BUDGET_MODE_DAY") == "daily" and tiktok_period("BUDGET_MODE_TOTAL") == "lifetime"
    assert tiktok_period("BUDGET_MODE_INFINITE") == "none"


def test_settled_keeps_only_the_amount_of_the_period() -> None:
    row = {
        "budget_period": "lifetime",
        "daily_budget": "50",
        "lifetime_budget": "900",
        "budget_currency": "USD",
    }
    assert settled(row) == {**row, "daily_budget": None}
    # TikTok answers budget 0 with BUDGET_MODE_INFINITE; a period without an amount is none
    zero = {"budget_period": "daily", "daily_budget": "0", "lifetime_budget": None, "budget_currency": "EUR"}
    assert settled(zero) == {
        "budget_period": "none",
        "daily_budget": None,
        "lifetime_budget": None,
        "budget_currency": None,
    }
    # no period on the wire (Apple): the amount present decides
    assert settled({"daily_budget": "20", "budget_currency": "GBP"})["budget_period"] == "daily"


def test_meta_sums_ad_set_daily_budgets_only_when_every_ad_set_has_one() -> None:
    camps = [
        {"campaign_id": "1", "daily_budget_minor": "10000", "lifetime_budget_minor": None},
        {"campaign_id": "2", "daily_budget_minor": None, "lifetime_budget_minor": None},
        {"campaign_id": "3", "daily_budget_minor": None, "lifetime_budget_minor": None},
        {"campaign_id": "4", "daily_budget_minor": None, "lifetime_budget_minor": None},
    ]
    sets = [
        {"campaign_id": "2", "daily_budget_minor": "2500", "lifetime_budget_minor": None},
        {"campaign_id": "2", "daily_budget_minor": "1250", "lifetime_budget_minor": None},
        {"campaign_id": "3", "daily_budget_minor": "2500", "lifetime_budget_minor": None},
        {"campaign_id": "3", "daily_budget_minor": None, "lifetime_budget_minor": "90000"},
    ]
    out = {
        r["campaign_id"]: (r["budget_period"], r["daily_budget"]) for r in with_budgets(camps, sets, "GBP")
    }
    assert out == {"1": ("daily", "100"), "2": ("daily", "37.5"), "3": ("none", None), "4": ("none", None)}
