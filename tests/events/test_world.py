"""Ingestion of a generated world (default dirt), locally and through S3 on moto."""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import polars as pl
import pytest

from connectors.product_events import load_events
from tests.events.conftest import PEPPER, Loaded, make_warehouse

COUNTS = ["loaded", "duplicates_dropped", "dead_letters", "erased_dropped"]


def test_every_file_is_reconciled_exactly(world: Path, world_loaded: Loaded) -> None:
    truth = pl.read_parquet(world / "landing_manifest.parquet")
    m = world_loaded.sql("select * from raw_events.landing_manifest")
    assert m.height == truth.height
    joined = m.join(truth.select(pl.col("key").alias("file_key"), "n_lines", "size_bytes"), on="file_key")
    assert joined.height == truth.height
    assert (joined["lines_read"] == joined["n_lines"]).all()
    assert (joined["size_bytes"] == joined["size_bytes_right"]).all()
    assert (joined["lines_read"] == joined.select(pl.sum_horizontal(COUNTS)).to_series()).all()
    rows = sum(
        world_loaded.sql(f"select count(*) n from raw_events.{t}")["n"][0]
        for t in ("events", "mmp_touches", "skan_postbacks")
    )
    assert rows == m["loaded"].sum() - m["replaced_earlier"].sum()


def test_duplicates_collapse_to_the_earliest_received_copy(world: Path, world_loaded: Loaded) -> None:
    ev = world_loaded.sql("select event_id, received_at from raw_events.events")
    assert ev["event_id"].is_unique().all()
    assert world_loaded.summaries[0].duplicates_dropped > 0
    # recompute the winners straight from the landing files, independently of the loader
    lines = []
    for f in sorted((world / "landing").rglob("*.jsonl.gz")):
        lines.extend(gzip.decompress(f.read_bytes()).decode().splitlines())
    raw = pl.DataFrame({"line": lines}).with_columns(
        event_id=pl.col("line").str.json_path_match("$.event_id"),
        rx=pl.col("line").str.json_path_match("$.received_at"),
        et=pl.col("line").str.json_path_match("$.event_type"),
    )
    raw = raw.filter(pl.col("et").is_in(["landing", "user_signup", "first_ride", "app_install"]))
    first = raw.group_by("event_id").agg(pl.col("rx").min())
    got = ev.join(first, on="event_id", how="inner").with_columns(
        pl.col("received_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias("got")
    )
    assert got.height > 100
    assert (got["got"] == got["rx"]).all()


def test_dead_letters_match_the_generators_broken_lines(world: Path, world_loaded: Loaded) -> None:
    dl = world_loaded.sql("select reason from raw_events.dead_letters")
    assert dl.height > 0 and dl["reason"].null_count() == 0
    kinds = {r.split(":")[0] for r in dl["reason"]}
    assert {"malformed_json", "wrong_type", "missing_field", "unknown_event_type"} <= kinds


def test_rerun_adds_nothing(world_loaded: Loaded) -> None:
    s2 = world_loaded.summaries[1]
    assert (s2.files_loaded, s2.lines_read) == (0, 0)


def test_signups_reach_truth_once_per_event(world: Path, world_loaded: Loaded) -> None:
    truth = pl.read_parquet(world / "truth" / "signups.parquet")
    got = world_loaded.sql("select distinct user_id from raw_events.events where event_type = 'user_signup'")
    # every true canonical sign-up is present (merged duplicates add their own user ids)
    assert set(truth["user_id"]) <= set(got["user_id"])


def test_identity_map_matches_truth(world: Path, world_loaded: Loaded) -> None:
    ids = pl.read_parquet(world / "truth" / "user_identities.parquet")
    idm = world_loaded.sql("select from_user_id, canonical_user_id from raw_events.identity_map")
    assert idm.height > 0
    canon_col = next(c for c in ids.columns if "canonical" in c)
    joined = idm.join(ids, left_on="from_user_id", right_on="user_id")
    assert joined.height == idm.height
    assert (joined["canonical_user_id"] == joined[canon_col]).all()


@pytest.mark.slower  # the same load again through S3: the slower tier (make slower)
def test_same_through_s3_on_moto(world: Path, moto_s3: str, tmp_path: Path, world_loaded: Loaded) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_s3)
    s3.create_bucket(Bucket="landing")
    files = sorted((world / "landing").rglob("*.jsonl.gz"))

    def put(f: Path) -> None:
        s3.put_object(
            Bucket="landing", Key=f"prod/{f.relative_to(world / 'landing').as_posix()}", Body=f.read_bytes()
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline("product_events", "raw_events")
    try:
        s = load_events(pipe, "s3://landing/prod", PEPPER, batch_files=400)
        again = load_events(pipe, "s3://landing/prod", PEPPER, batch_files=400)
        q = "select {c} from raw_events.{t} order by all"
        for t, c in (
            ("events", "event_id, received_at, email_hash"),
            ("landing_manifest", "file_key, lines_read, loaded"),
        ):
            local = world_loaded.sql(q.format(c=c, t=t))
            remote = wh.connection().cursor().sql(q.format(c=c, t=t)).pl()
            assert local.equals(remote), t
        assert s.files_loaded == len(files) and again.files_loaded == 0
    finally:
        wh.close()
