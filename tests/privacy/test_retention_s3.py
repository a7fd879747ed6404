"""Landing retention on an S3 landing URL (moto on 127.0.0.1): whole ``dt=`` prefixes go."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from flows.retention import delete_landing_folders, landing_fs
from tests.privacy import retention_world as W

BUCKET = "retention-landing"  # moto shares state across servers of a process: a bucket of its own


@pytest.fixture
def s3_landing(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server, dlt's filesystem credentials pointing at it, an empty bucket's URL."""
    # imported here: moto.server takes ~2 s to import
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SOURCES__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID": "test",
        "SOURCES__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY": "test",
        "SOURCES__FILESYSTEM__CREDENTIALS__ENDPOINT_URL": url,
        "SOURCES__FILESYSTEM__CREDENTIALS__REGION_NAME": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    try:
        yield f"s3://{BUCKET}/landing"
    finally:
        server.stop()


def test_expired_partitions_are_deleted_from_s3(s3_landing: str) -> None:
    fs, root = landing_fs(s3_landing)
    keys = [k for d in W.DAYS for k in W.landing_keys(d)]
    for key in keys:
        fs.pipe(f"{root}/{key}", b"x")
    fs.invalidate_cache()

    assert delete_landing_folders(s3_landing, W.CUTOFF) == 4
    fs.invalidate_cache()
    left = sorted(p.removeprefix(f"{root}/") for p in fs.find(root))
    assert left == sorted(k for d in W.DAYS if d >= W.CUTOFF for k in W.landing_keys(d))
    assert delete_landing_folders(s3_landing, W.CUTOFF) == 0  # a rerun deletes nothing
