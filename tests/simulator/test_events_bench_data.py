"""Benchmark Parquet: the columns the attribution benchmark reads, and the cache."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from simulator.bench_data import bench_parquet


def test_bench_parquet_has_touches_and_signups_and_is_cached(tmp_path: Path) -> None:
    paths = bench_parquet(tmp_path, 2, 3, 0.002)
    touches, signups = pl.read_parquet(paths["touches"]), pl.read_parquet(paths["signups"])
    assert touches.columns == [
        "user_id",
        "touch_ts",
        "touch_type",
        "platform",
        "campaign_id",
        "ad_group_id",
        "ad_id",
        "is_spam",
        "touch_id",
    ]
    assert signups.columns == ["user_id", "signup_ts", "signup_date", "device_platform", "country"]
    assert signups["user_id"].is_unique().all() and signups["signup_date"].n_unique() == 2
    assert set(touches["touch_type"]) == {"click", "view"} and touches["is_spam"].any()
    assert touches["touch_id"].null_count() == 0 and touches["touch_id"].is_unique().all()
    # signers' touches join on user_id
    assert touches.join(signups, on="user_id").height > 0.3 * signups.height
    mtime = paths["touches"].stat().st_mtime
    again = bench_parquet(tmp_path, 2, 3, 0.002)
    assert again == paths and paths["touches"].stat().st_mtime == mtime
