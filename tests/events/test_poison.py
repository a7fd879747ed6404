"""Poison input never blocks ingestion: implausible timestamps are dead letters, a batch that
still fails is bisected down to its bad file, which is quarantined (not marked done) until
``requeue``; unreadable and oversized files are quarantined without being read whole."""

from __future__ import annotations

import gzip
import io
import os
import tracemalloc
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dlt.destinations.exceptions import DatabaseTransientException
from polars.exceptions import PanicException

import connectors.product_events as pe
from connectors.product_events import load_events, requeue_file
from connectors.product_events.parse import FileTooLarge, gunzip, parse_lines, split_lines
from tests.events import dirty
from tests.events.conftest import PEPPER, make_warehouse

DAY = "2026-01-05"
RX = f"{DAY}T10:00:00Z"


def _ev(n: int, ts: object, rx: object = RX, etype: str = "landing", **fields: object) -> str:
    more: dict[str, object] = {"anonymous_id": f"a{n}"} if etype == "landing" else {}
    return dirty.ev(f"p{n}", etype, ts, rx, **(more | fields))  # type: ignore[arg-type]


def _write(landing: Path, key: str, lines: list[str], mtime: float = 1_700_000_000) -> Path:
    path = landing / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    os.utime(path, (mtime, mtime))
    return path


def _key(name: str, hour: int = 10) -> str:
    return f"events/dt={DAY}/hour={hour:02d}/{name}.jsonl.gz"


def _sql(wh: Any, q: str) -> list[tuple[Any, ...]]:
    return list(wh.connection().cursor().sql(q).fetchall())


# -- implausible timestamps ---------------------------------------------------------------------


def test_implausible_timestamps_are_dead_letters_whose_reason_names_only_the_field() -> None:
    mmp = {
        "device_id": "d",
        "platform": "meta_ads",
        "campaign_id": "c",
        "touch_type": "click",
    }
    lines = [
        _ev(1, "infinity"),
        _ev(2, "-infinity"),
        _ev(3, "1970-01-01T00:00:00Z"),
        _ev(4, "epoch"),
        _ev(5, "294000-01-01T00:00:00Z"),
        _ev(6, "1970-01-01T00:00:00Z", "1970-01-01T00:00:01Z"),  # both old: received_at is the bad one
        _ev(7, "infinity", "infinity"),
        _ev(8, f"{DAY}T11:00:01Z"),  # more than 1 hour after received_at
        _ev(9, "2024-12-01T09:59:59Z"),  # more than 400 days before it
        _ev(10, RX, etype="mmp_touch", touch_ts="infinity", **mmp),
        # plausible: the edges of the range, a late event, a device clock slightly ahead
        _ev(11, f"{DAY}T11:00:00Z"),
        _ev(12, "2024-12-01T10:00:00Z"),
        _ev(13, "2026-01-02T08:00:00Z"),
        _ev(14, RX, etype="mmp_touch", touch_ts="2025-12-29T10:00:00Z", **mmp),
    ]
    parsed = parse_lines([split_lines("f", ("\n".join(lines) + "\n").encode())])
    reasons = dict(parsed.dead.select("_line_no", "reason").iter_rows())
    ts = "implausible_timestamp:"
    assert reasons == {
        1: ts + "event_ts",
        2: ts + "event_ts",
        3: ts + "event_ts",
        4: ts + "event_ts",
        5: ts + "event_ts",
        6: ts + "received_at",
        7: ts + "received_at",
        8: ts + "event_ts",
        9: ts + "event_ts",
        10: ts + "touch_ts",
    }
    assert sorted(parsed.valid["_line_no"]) == [11, 12, 13, 14]
    # the valid frame converts without a panic (what failed before: out-of-range dates)
    assert parsed.valid.select(pl.col("event_ts").dt.date()).height == 4


def test_an_infinite_event_ts_no_longer_stops_every_later_run(tmp_path: Path) -> None:
    """Before: with events already loaded, a line with ``"event_ts": "infinity"`` panicked Polars
    (a BaseException, "out-of-range date") at every run, and its file never reached the manifest."""
    landing = tmp_path / "landing"
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline("pe_poison_ts", "raw_events")
    _write(landing, _key("a"), [_ev(1, f"{DAY}T09:59:00Z")])
    assert load_events(pipe, str(landing), PEPPER).loaded == 1
    _write(
        landing,
        _key("b", 11),
        [_ev(2, "infinity"), _ev(3, "1970-01-01T00:00:00.000Z"), _ev(4, f"{DAY}T09:59:30Z")],
        1_700_000_100,
    )
    s = load_events(pipe, str(landing), PEPPER)
    assert (s.files_loaded, s.loaded, s.dead_letters) == (1, 1, 2)
    dead = _sql(wh, "select line_no, reason, line from raw_events.dead_letters order by 1")
    assert [(n, r) for n, r, _ in dead] == [
        (1, "implausible_timestamp:event_ts"),
        (2, "implausible_timestamp:event_ts"),
    ]
    assert _sql(wh, "select min(event_date) from raw_events.events")[0][0].isoformat() == DAY
    assert load_events(pipe, str(landing), PEPPER).files_loaded == 0
    wh.close()


# -- a batch that still fails: bisected, its bad file quarantined --------------------------------


def _poison_hash(monkeypatch: pytest.MonkeyPatch, poison_key: str, exc: BaseException) -> None:
    """A fault no rule catches: PII hashing raises whenever the batch holds ``poison_key``."""
    real = pe.pii.hash_pii

    def hash_pii(df: pl.DataFrame, pepper: bytes) -> pl.DataFrame:
        if poison_key in set(df["_file_key"].to_list()):
            raise exc
        return real(df, pepper)

    monkeypatch.setattr(pe.pii, "hash_pii", hash_pii)


@pytest.mark.parametrize(
    "exc",
    [
        PanicException("out-of-range date for 'alice@example.com'"),
        ValueError('conversion of "alice@example.com" failed\nsecond line'),
    ],
)
def test_a_failing_batch_is_bisected_and_only_its_bad_file_quarantined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    landing = tmp_path / "landing"
    keys = [_key(f"part-{i}") for i in range(5)]
    for i, k in enumerate(keys):
        _write(landing, k, [_ev(10 * i + j, f"{DAY}T09:5{j}:00Z") for j in range(3)], 1_700_000_000 + i)
    _poison_hash(monkeypatch, keys[3], exc)
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline("pe_bisect", "raw_events")
    s = load_events(pipe, str(landing), PEPPER)
    assert (s.files_loaded, s.loaded, s.files_quarantined, s.quarantined) == (4, 12, 1, 3)
    assert s.quarantined_files == [keys[3]]
    manifest = {r[0] for r in _sql(wh, "select file_key from raw_events.landing_manifest")}
    assert manifest == set(keys) - {keys[3]}
    [(key, error, size, lines, at, requeued)] = _sql(
        wh,
        "select file_key, error, size_bytes, lines_read, quarantined_at, requeued_at "
        "from raw_events.quarantined_files",
    )
    assert (key, size, lines, requeued) == (keys[3], (landing / keys[3]).stat().st_size, 3, None)
    assert at is not None and error.startswith(type(exc).__name__)
    assert "alice" not in error and "\n" not in error and "second line" not in error

    # not read again while quarantined, even after the fault is gone
    monkeypatch.undo()
    again = load_events(pipe, str(landing), PEPPER)
    assert (again.files_listed, again.files_loaded, again.lines_read) == (5, 0, 0)
    # requeued after a fix: the next run loads it, once
    assert requeue_file(pipe, keys[3]) is True
    assert requeue_file(pipe, keys[3]) is False  # no longer in quarantine
    fixed = load_events(pipe, str(landing), PEPPER)
    assert (fixed.files_loaded, fixed.loaded, fixed.files_quarantined) == (1, 3, 0)
    assert _sql(wh, "select count(*) from raw_events.events") == [(15,)]
    assert _sql(wh, "select count(*) from raw_events.quarantined_files where requeued_at is null") == [(0,)]
    wh.close()


def test_a_warehouse_fault_fails_the_run_and_quarantines_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    for i in range(3):
        _write(landing, _key(f"part-{i}"), [_ev(i, f"{DAY}T09:50:00Z")])

    def lost(df: pl.DataFrame, pepper: bytes) -> pl.DataFrame:
        raise DatabaseTransientException(RuntimeError("connection lost"))

    monkeypatch.setattr(pe.pii, "hash_pii", lost)
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline("pe_infra", "raw_events")
    with pytest.raises(DatabaseTransientException):
        load_events(pipe, str(landing), PEPPER)
    assert _sql(wh, "select count(*) from raw_events.quarantined_files") == [(0,)]
    monkeypatch.undo()
    assert load_events(pipe, str(landing), PEPPER).loaded == 3
    wh.close()


# -- unreadable and oversized files ---------------------------------------------------------------


def test_truncated_and_corrupt_files_are_quarantined_not_marked_done(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    good = _write(landing, _key("good"), [_ev(1, f"{DAY}T09:50:00Z")])
    body = ("\n".join(_ev(100 + i, f"{DAY}T09:51:00Z") for i in range(400)) + "\n").encode()
    whole = gzip.compress(body, mtime=0)
    cut = landing / _key("cut")
    cut.write_bytes(whole[: len(whole) // 2])
    junk = landing / _key("junk")
    junk.write_bytes(b"not gzip at all")
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline("pe_truncated", "raw_events")
    s = load_events(pipe, str(landing), PEPPER)
    assert (s.files_loaded, s.loaded, s.files_quarantined) == (1, 1, 2)
    assert [r[0] for r in _sql(wh, "select file_key from raw_events.landing_manifest")] == [_key("good")]
    rows = _sql(wh, "select file_key, error, lines_read from raw_events.quarantined_files order by 1")
    assert [r[0] for r in rows] == [_key("cut"), _key("junk")]
    assert all(r[1].startswith("unreadable gzip") for r in rows)
    assert rows[0][2] is None and rows[1][2] is None  # their lines are unknown: none loaded
    assert load_events(pipe, str(landing), PEPPER).files_loaded == 0
    # the upload is fixed, then requeued: it loads whole
    cut.write_bytes(whole)
    assert requeue_file(pipe, _key("cut"))
    s2 = load_events(pipe, str(landing), PEPPER)
    assert (s2.files_loaded, s2.loaded) == (1, 400)
    assert good.exists()
    wh.close()


def test_a_file_over_the_size_limit_is_quarantined_without_being_read_whole(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    big = [_ev(i, f"{DAY}T09:50:00Z") for i in range(3000)]  # ~400 KB of text, ~40 KB of gzip
    _write(landing, _key("big"), big)
    _write(landing, _key("small"), big[:5])
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline("pe_oversize", "raw_events")
    s = load_events(pipe, str(landing), PEPPER, max_file_bytes=64 * 1024)
    assert (s.files_loaded, s.loaded, s.quarantined_files) == (1, 5, [_key("big")])
    [(error, lines)] = _sql(wh, "select error, lines_read from raw_events.quarantined_files")
    assert error.startswith("file too large") and "65536" in error and lines is None
    wh.close()


def test_gunzip_stops_at_the_limit_in_bounded_memory() -> None:
    """A gzip bomb (100 MB of text in ~100 KB) is refused after reading just past the limit."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for _ in range(100):
            gz.write(b"\n" * 2**20)
    raw.seek(0)
    tracemalloc.start()
    try:
        with pytest.raises(FileTooLarge, match="more than 1048576 bytes"):
            gunzip(raw, max_bytes=2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    # under the limit: the whole text, multi-member streams included
    two = gzip.compress(b"a\n", mtime=0) + gzip.compress(b"b\n", mtime=0)
    assert bytes(gunzip(io.BytesIO(two), max_bytes=4)) == b"a\nb\n"


def test_batches_are_bounded_by_decompressed_text_as_well(tmp_path: Path) -> None:
    """Highly compressible files (a gzip bomb in miniature): the text limit closes batches that
    the compressed-byte limit would let grow; every line is still loaded exactly once."""
    landing = tmp_path / "landing"
    for i in range(6):
        pad = "x" * 20_000
        _write(landing, _key(f"part-{i}"), [_ev(100 * i + j, f"{DAY}T09:50:00Z", pad=pad) for j in range(10)])
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline("pe_text_budget", "raw_events")
    s = load_events(pipe, str(landing), PEPPER, batch_text_bytes=450_000)
    assert (s.files_loaded, s.loaded, s.batches) == (6, 60, 3)
    wh.close()
