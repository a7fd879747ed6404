"""Make a world's landing files "arrive": copy those that arrived by a time to a folder or S3."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class PublishResult:
    """What one publish did."""

    copied: int
    skipped: int
    pending: int  # files of the world that have not arrived by ``until``


def _arrived(world: Path, until: datetime) -> tuple[pl.DataFrame, int]:
    manifest_path = world / "landing_manifest.parquet"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} not found: generate the world first")
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    manifest = pl.read_parquet(manifest_path)
    arrived = manifest.filter(pl.col("arrival_ts") <= until).sort(["arrival_ts", "key"])
    return arrived, manifest.height - arrived.height


def publish(world: Path, to: str, until: datetime) -> PublishResult:
    """Copy the landing files whose arrival time is at or before ``until`` to ``to``.

    ``to`` is a local folder or ``s3://bucket/prefix`` (boto3; the endpoint and credentials come
    from the usual ``AWS_*`` variables, including ``AWS_ENDPOINT_URL``). Keys keep the landing
    layout (``events/dt=.../hour=.../part-...jsonl.gz``). Idempotent: a file already there with the
    same size is skipped. Local copies get the arrival time as mtime, as the sink would have.
    """
    world = Path(world)
    arrived, pending = _arrived(world, until)
    src_root = world / "landing"
    if to.startswith("s3://"):
        return _publish_s3(src_root, arrived, to, pending)
    dest = Path(to)
    copied = skipped = 0
    for key, arrival, size in arrived.select("key", "arrival_ts", "size_bytes").iter_rows():
        target = dest / key
        if target.exists() and target.stat().st_size == size:
            skipped += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(src_root / key, tmp)
        ts = arrival.timestamp()
        os.utime(tmp, (ts, ts))
        tmp.replace(target)  # atomic: a reader never sees a half-written part file
        copied += 1
    return PublishResult(copied, skipped, pending)


def _publish_s3(src_root: Path, arrived: pl.DataFrame, to: str, pending: int) -> PublishResult:
    import boto3  # imported on use: slow to import, and only S3 publishing needs it

    bucket, _, prefix = to[len("s3://") :].partition("/")
    prefix = prefix.strip("/")
    client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    existing: dict[str, int] = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/events/" if prefix else "events/"):
        for obj in page.get("Contents", []):
            existing[obj["Key"]] = obj["Size"]
    copied = skipped = 0
    for key, arrival, size in arrived.select("key", "arrival_ts", "size_bytes").iter_rows():
        s3_key = f"{prefix}/{key}" if prefix else key
        if existing.get(s3_key) == size:
            skipped += 1
            continue
        client.put_object(
            Bucket=bucket,
            Key=s3_key,
            Body=(src_root / key).read_bytes(),
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
            Metadata={"arrival-ts": arrival.isoformat()},
        )
        copied += 1
    return PublishResult(copied, skipped, pending)
