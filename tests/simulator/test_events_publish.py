"""publish: files arrive as time advances, to a folder or to S3 (moto on 127.0.0.1), idempotently."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.world import publish


def _manifest(world: Path) -> pl.DataFrame:
    return pl.read_parquet(world / "landing_manifest.parquet")


def test_publish_to_folder_respects_until_and_is_idempotent(events_world: Path, tmp_path: Path) -> None:
    dest = tmp_path / "landing"
    manifest = _manifest(events_world)
    t1 = datetime(2026, 10, 24, 6, 3, tzinfo=UTC)
    r1 = publish(events_world, str(dest), t1)
    expected = manifest.filter(pl.col("arrival_ts") <= t1)
    got = {str(p.relative_to(dest)) for p in dest.rglob("*.gz")}
    assert got == set(expected["key"]) and r1.copied == len(got) and r1.pending == manifest.height - len(got)
    for key, arrival in expected.select("key", "arrival_ts").tail(20).iter_rows():
        assert os.stat(dest / key).st_mtime == arrival.timestamp()
        assert (dest / key).read_bytes() == (events_world / "landing" / key).read_bytes()
    again = publish(events_world, str(dest), t1)
    assert (again.copied, again.skipped) == (0, len(got))
    # time advances: only the newly arrived files are copied, including late files in old folders
    t2 = datetime(2026, 10, 25, 6, 0, tzinfo=UTC)
    r2 = publish(events_world, str(dest), t2)
    new = manifest.filter((pl.col("arrival_ts") > t1) & (pl.col("arrival_ts") <= t2))
    assert r2.copied == new.height and r2.skipped == len(got)
    assert new.filter(pl.col("dt") < "2026-10-24").height > 0  # late events into old dt= folders


def test_publish_cli_to_folder(events_world: Path, tmp_path: Path) -> None:
    args = [
        "publish",
        "--world",
        str(events_world),
        "--to",
        str(tmp_path / "x"),
        "--until",
        "2026-10-22T01:00:00Z",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    n = _manifest(events_world).filter(pl.col("arrival_ts") <= datetime(2026, 10, 22, 1, tzinfo=UTC)).height
    assert len(list((tmp_path / "x").rglob("*.gz"))) == n > 0


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer  # imported on use: slow, and only the S3 tests need it

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for k, v in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }.items():
        monkeypatch.setenv(k, v)
    try:
        yield url
    finally:
        server.stop()


def test_publish_to_s3_is_idempotent_and_respects_until(events_world: Path, moto_s3: str) -> None:
    import boto3  # imported on use: slow, and only the S3 tests need it

    s3 = boto3.client("s3", endpoint_url=moto_s3)
    s3.create_bucket(Bucket="sim-publish")
    until = datetime(2026, 10, 22, 12, 0, tzinfo=UTC)
    r1 = publish(events_world, "s3://sim-publish/prod/raw", until)
    expected = _manifest(events_world).filter(pl.col("arrival_ts") <= until)
    keys = {
        o["Key"]: o["Size"]
        for p in s3.get_paginator("list_objects_v2").paginate(Bucket="sim-publish")
        for o in p.get("Contents", [])
    }
    assert set(keys) == {f"prod/raw/{k}" for k in expected["key"]}
    assert r1.copied == expected.height > 50
    assert all(keys[f"prod/raw/{k}"] == s for k, s in expected.select("key", "size_bytes").iter_rows())
    r2 = publish(events_world, "s3://sim-publish/prod/raw", until)
    assert (r2.copied, r2.skipped) == (0, expected.height)
    body = s3.get_object(Bucket="sim-publish", Key=f"prod/raw/{expected['key'][0]}")["Body"].read()
    assert body == (events_world / "landing" / expected["key"][0]).read_bytes()
