"""FX publication rules, and the ad world's determinism, volumes and DST handling."""

from __future__ import annotations

import hashlib
from datetime import date

import polars as pl
import requests

from simulator.ads import generate_ads


def test_fx_business_days_weekends_and_unpublished(ads_server) -> None:
    base = f"{ads_server.url}/fx_rates/v1"
    q = {"base": "USD", "symbols": "EUR,GBP"}
    ads_server.set_as_of("2026-10-27T12:00:00Z")  # before 16:00 CET: the 27th is not yet published
    latest = requests.get(f"{base}/latest", params=q, timeout=10).json()
    assert latest["date"] == "2026-10-26" and set(latest["rates"]) == {"EUR", "GBP"}
    assert requests.get(f"{base}/2026-10-27", params=q, timeout=10).json()["date"] == "2026-10-26"
    ads_server.set_as_of("2026-10-27T15:30:00Z")
    assert requests.get(f"{base}/2026-10-27", params=q, timeout=10).json()["date"] == "2026-10-27"
    sat = requests.get(f"{base}/2026-10-24", params=q, timeout=10).json()
    fri = requests.get(f"{base}/2026-10-23", params=q, timeout=10).json()
    assert sat["date"] == "2026-10-23" and sat["rates"] == fri["rates"]
    rng = requests.get(f"{base}/2026-10-24..2026-10-27", params=q, timeout=10).json()
    assert list(rng["rates"]) == ["2026-10-23", "2026-10-26", "2026-10-27"]
    assert isinstance(rng["rates"]["2026-10-26"]["EUR"], float)
    assert (
        requests.get(f"{base}/2026-10-24", params={"base": "USD", "symbols": "XYZ"}, timeout=10).status_code
        == 404
    )


def _digest(folder) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(ads_world, ads_state, tmp_path) -> None:
    meta = ads_state.meta
    start = date.fromisoformat(meta["start"])
    generate_ads(tmp_path, start, meta["days"], meta["seed"], meta["scale"])
    mine = _digest(tmp_path)
    theirs = {k: v for k, v in _digest(ads_world).items() if k in mine}
    assert mine == theirs and len(mine) >= 10
    other = tmp_path / "other"
    generate_ads(other, start, 2, meta["seed"] + 1, meta["scale"])
    assert _digest(other)["truth/spend_final.parquet"] != mine["truth/spend_final.parquet"]


def test_volumes_shape_and_dst_hours(ads_state, ads_truth) -> None:
    per_day = ads_truth.group_by("spend_date").agg(pl.col("impressions", "clicks", "conversions").sum())
    mid = per_day.filter(pl.col("spend_date") == date(2026, 10, 28)).row(0, named=True)
    # scale 0.01 of ~150M impressions / 6M clicks / 200K conversions a day
    assert (
        1.0e6 < mid["impressions"] < 2.0e6
        and 30e3 < mid["clicks"] < 80e3
        and 1.0e3 < mid["conversions"] < 3.5e3
    )
    hourly = (
        ads_truth.filter(pl.col("platform") == "google_ads")
        .group_by("spend_hour")
        .agg(pl.col("impressions").sum())
    )
    assert hourly["impressions"].max() > 3 * hourly["impressions"].min(), "daily shape"
    cells = pl.DataFrame(
        {k: ads_state.cells["google_ads"][k] for k in ("account_idx", "local_day", "local_hour", "n_hours")}
    )
    hours = (
        cells.unique(["account_idx", "local_day", "local_hour"])
        .group_by("account_idx", "local_day")
        .agg(pl.col("n_hours").sum())
    )
    tzs = ads_state.entities["google_ads"].accounts["time_zone"].to_list()
    for row in hours.iter_rows(named=True):
        d = date(1970, 1, 1).toordinal() + row["local_day"]
        day = date.fromordinal(d)
        tz = tzs[row["account_idx"]]
        expected = (
            25
            if (tz.startswith("Europe") and day == date(2026, 10, 25))
            or (tz.startswith("America") and day == date(2026, 11, 1))
            else 24
        )
        assert row["n_hours"] == expected, (tz, day)
