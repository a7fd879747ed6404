"""Product events from the S3/Kafka landing into ``raw_events`` (see docs/events.md).

Entry point: :func:`load_events`, new landing files -> ``raw_events.*`` in bounded, reconciled
batches. Per batch of files (one dlt load package, :func:`batch_resources`): read and split
lines, parse and validate them (``parse``), hash PII (``pii``), drop erased subjects,
deduplicate ``event_id`` inside the batch and against what is already loaded, route rows to
their tables, resolve the identity map, and write the manifest row of every file with its
reconciliation:

    lines_read = loaded + duplicates_dropped + dead_letters + erased_dropped

Nothing blocks: a file that cannot be read whole (truncated, corrupt, more text than the limit)
and a file whose batch fails even alone (found by bisecting the batch) are put in
``quarantined_files`` instead, all their lines counted as quarantined, and the load goes on;
:func:`requeue_file` (``roi landing requeue``) sends one back after a fix.

Everything is keyed so that a crash between steps and a rerun change nothing: events merge
on ``event_id``, dead letters on (file, line), the manifest on the file key, identity on
``from_user_id``; the manifest is the only thing that says a file is done. Dead letters are
replayed through today's rules by :mod:`connectors.product_events.replay`.

Layout, as dlt's verified sources: the entry point and the dlt resources here, the logic on
frames in ``helpers``, constants in ``settings``, every warehouse read in ``warehouse``, and
file discovery (listing, manifest of files seen, bounded batches, reading) in ``discovery``
for reuse by the 5-minute ops refresh.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
import duckdb
import polars as pl
import pyarrow as pa
from dlt.common.destination.exceptions import DestinationException
from dlt.common.schema.typing import TMergeDispositionDict, TWriteDispositionConfig
from dlt.common.schema.utils import has_table_seen_data
from polars.exceptions import PanicException

from connector_sdk.land import finish_pending_loads
from connectors.product_events import helpers, pii, tables, warehouse
from connectors.product_events import settings as S
from connectors.product_events.discovery import (
    BatchLimits,
    ReadBatch,
    batches,
    list_landing_files,
    new_files,
    read_batch,
    read_batches,
)
from connectors.product_events.helpers import BatchResult, IngestSummary, safe_error
from connectors.product_events.parse import FileLines, LineParser, parse_lines
from connectors.product_events.warehouse import seen_file_keys
from roi.core.errors import ConfigError
from roi.core.settings import get_settings

__all__ = [
    "BatchLimits",
    "IngestSummary",
    "batches",
    "list_landing_files",
    "load_events",
    "new_files",
    "read_batch",
    "read_batches",
    "requeue_file",
    "seen_file_keys",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""``progress(files_done, files_total)``, called after every batch."""

_MERGE: TMergeDispositionDict = {"disposition": "merge", "strategy": "delete-insert"}
_APPEND: TWriteDispositionConfig = "append"
_ALL_TABLES = (S.T_EVENTS, S.T_MMP, S.T_SKAN, S.T_IDENTITY, S.T_DEAD, S.T_MANIFEST)
# What a batch's transform may raise on bad data: any exception, and Polars' panics (a
# BaseException: an out-of-range date, say). Caught around the transform alone, never the load.
_POISON = (Exception, PanicException)
# ... except the warehouse's own errors (a lost connection, a lock, a full disk): those fail the
# run, and the next run retries; quarantining would blame the files.
_NOT_POISON = (DestinationException, duckdb.ConnectionException, duckdb.IOException)


def load_events(
    pipeline: Any,
    landing_url: str,
    pepper: bytes,
    *,
    batch_files: int = S.DEFAULT_BATCH_FILES,
    batch_bytes: int = S.DEFAULT_BATCH_BYTES,
    batch_text_bytes: int = S.DEFAULT_BATCH_TEXT_BYTES,
    max_file_bytes: int = S.DEFAULT_MAX_FILE_BYTES,
    progress: ProgressFn | None = None,
    max_batches: int | None = None,
) -> IngestSummary:
    """Load every landing file not yet in ``raw_events.landing_manifest`` nor in quarantine,
    batch after batch.

    ``pipeline`` is the dlt pipeline of dataset ``raw_events``; ``pepper`` the HMAC secret
    (``get_settings().require_pepper()``). Batches hold at most ``batch_files`` files,
    ``batch_bytes`` compressed bytes and ``batch_text_bytes`` of decompressed text, so a backlog
    is caught up in bounded memory; a file with more than ``max_file_bytes`` of text is
    quarantined unread (``ROI_LANDING_MAX_FILE_MB`` in the flows). ``max_batches`` stops early
    (the rest waits for the next call). Rerunning loads nothing new.

    Nothing blocks: a file that cannot be read whole (truncated, corrupt, too large) and a file
    whose batch fails even alone go to ``raw_events.quarantined_files`` and the load goes on
    (see :func:`requeue_file`).
    """
    if not pepper:
        raise ConfigError("ROI_PII_PEPPER is not set: export a secret of at least 16 characters")
    t0 = time.perf_counter()
    configure_pipeline(pipeline)
    limits = BatchLimits(batch_files, batch_bytes, batch_text_bytes, max_file_bytes)
    summary = IngestSummary()
    warehouse.ensure_side_tables(pipeline)
    # A killed run's pending package holds files and their manifest rows: land it first, so
    # those files count as seen and the new listing continues after them.
    finish_pending_loads(pipeline)
    listing = list_landing_files(landing_url)
    summary.files_listed = listing.height
    skip = pl.concat([seen_file_keys(pipeline), warehouse.quarantined_file_keys(pipeline)])
    todo = new_files(listing, skip)
    run = _Run(pipeline, landing_url, pepper, erased_subjects(pipeline), limits, summary)
    _load_batches(run, todo, progress, max_batches)
    summary.seconds = time.perf_counter() - t0
    return summary


def requeue_file(pipeline: Any, file_key: str) -> bool:
    """Take a landing file out of quarantine (after a fix): the next load reads it again.
    False when ``file_key`` is not in quarantine."""
    warehouse.ensure_side_tables(pipeline)
    return warehouse.requeue(pipeline, file_key, datetime.now(UTC))


def configure_pipeline(pipeline: Any) -> None:
    """The dlt settings this connector needs, scoped to ``pipeline`` (dlt's config key
    ``<pipeline_name>.<section>.<key>``, which an environment variable of that name overrides).

    - ``normalize.parquet_normalizer.add_dlt_load_id``: Arrow items get dlt's own
      ``_dlt_load_id`` only with it; the flows select new rows by it.
    - ``load.delete_completed_jobs``: a loaded package's files are deleted (dlt keeps them by
      default). They hold ``device_id`` and ``anonymous_id`` in clear, which must live only in
      the warehouse tables that joins need (and that erasure can reach); kept, they grew by
      ~1 GB per scale-1.0 day.
    - ``data_writer.compression = none`` on DuckDB: the parquet files live only between extract
      and load, on the same disk: snappy costs CPU and saves nothing. Snowflake keeps snappy
      (the files travel to its stage).

    Set at every call rather than once: the values live in dlt's in-memory config, which a
    caller may replace between loads.
    """
    name = pipeline.pipeline_name
    dlt.config[f"{name}.normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config[f"{name}.load.delete_completed_jobs"] = True
    if pipeline.destination.destination_name == "duckdb":
        dlt.config[f"{name}.data_writer.compression"] = "none"


def erased_subjects(pipeline: Any) -> pl.DataFrame:
    """Every erased subject, user ids expanded through the identity map."""
    with pipeline.sql_client() as client:
        subjects = warehouse.erased_subjects(client)
        has_users = bool((subjects["subject_type"] == "user_id").any())
        links = warehouse.identity_map(client, ("from_user_id", "canonical_user_id")) if has_users else None
    return helpers.expand_erased_users(subjects, links)


def tombstone_key(erased: pl.DataFrame) -> tuple[bytes, str] | None:
    """The tombstone key and its id when some tombstone is keyed (``ROI_TOMBSTONE_KEY``); None
    when none is. A keyed tombstone without the key fails the load (ConfigError): loading
    would bring erased subjects back; so does a tombstone made under another key."""
    if not helpers.has_keyed(erased):
        return None
    key, key_id = get_settings().require_tombstone_key()
    others = set(erased["key_id"].drop_nulls().unique().to_list()) - {key_id}
    if others:
        raise ConfigError(
            f"tombstones were made under another ROI_TOMBSTONE_KEY (key id {sorted(others)[0]}): "
            "set the key they were made with"
        )
    return key, key_id


@dataclass
class _Run:
    """What every batch of one ``load_events`` call shares."""

    pipeline: Any
    landing_url: str
    pepper: bytes
    erased: pl.DataFrame
    limits: BatchLimits
    summary: IngestSummary
    parser: LineParser = field(default_factory=LineParser)

    @property
    def threads(self) -> int:
        return S.READ_THREADS_LOCAL if "://" not in self.landing_url else S.READ_THREADS_REMOTE


def _load_batches(
    run: _Run, todo: pl.DataFrame, progress: ProgressFn | None, max_batches: int | None
) -> None:
    """Read, transform and load the batches of ``todo`` (:func:`read_batches` cuts them).

    The next batch is read (gunzip and S3 I/O release the GIL) while this one is parsed and
    loaded: one batch of raw text ahead, no more, so memory stays bounded.
    """
    done = 0
    reading = read_batches(run.landing_url, todo, run.limits, run.threads)
    try:
        with run.parser, ThreadPoolExecutor(max_workers=1) as reader:
            ahead: Future[ReadBatch | None] | None = reader.submit(next, reading, None)
            n = 0
            while ahead is not None and (batch := ahead.result()) is not None:
                n += 1
                last = max_batches is not None and n >= max_batches
                ahead = None if last else reader.submit(next, reading, None)
                _load_read_batch(run, batch)
                done += batch.n_files
                # a batch's frames are garbage now: release them before the next batch is read
                del batch
                gc.collect()
                if progress is not None:
                    progress(done, todo.height)
    finally:
        reading.close()


def _load_read_batch(run: _Run, batch: ReadBatch) -> None:
    """Quarantine the batch's unreadable files, then transform and load the rest; a transform
    that fails is retried on halves of the batch (:func:`_bisect`)."""
    if batch.unreadable.height:
        _quarantine(run, batch.unreadable)
    if batch.files.height == 0:
        return
    try:
        result = transform_batch(run.pipeline, batch.files, batch.lines, run.pepper, run.erased, run.parser)
    except _POISON as exc:
        if isinstance(exc, _NOT_POISON):
            raise
        log.warning(
            "product_events: a batch of %d files failed (%s): bisecting", batch.files.height, safe_error(exc)
        )
        _bisect(run, batch.files)
        return
    _load_result(run, result)


def _load_result(run: _Run, result: BatchResult) -> None:
    """Load one transformed batch as one package and add it to the summary."""
    files = result.manifest.height
    load_id = load_batch(run.pipeline, result)
    run.summary.add(result.manifest)
    run.summary.load_ids.append(load_id)
    run.summary.new_columns = sorted(set(run.summary.new_columns) | set(result.new_columns))
    log.info("product_events: batch %d loaded %d files (load %s)", run.summary.batches, files, load_id)


def _bisect(run: _Run, files: pl.DataFrame) -> None:
    """Find the files of a failed batch that fail alone: halves are re-read and retried, those
    that pass are loaded (a package each), a single file that fails is quarantined with its
    error. One bad file among n costs ~2 log2(n) transforms and log2(n) packages.

    A fault of the code rather than the data quarantines every file it meets: after the fix,
    ``roi landing requeue`` takes them all back (several keys at once).
    """
    parts = deque(_halves(files))
    while parts:
        part = parts.popleft()
        batch = read_batch(run.landing_url, part, run.threads, run.limits.max_file_text)
        if batch.unreadable.height:
            _quarantine(run, batch.unreadable)
        if batch.files.height == 0:
            continue
        lines = {f.file_key: len(f.lines) for f in batch.lines}
        try:
            result = transform_batch(
                run.pipeline, batch.files, batch.lines, run.pepper, run.erased, run.parser
            )
        except _POISON as exc:
            if isinstance(exc, _NOT_POISON):
                raise
            if batch.files.height > 1:
                parts.extendleft(reversed(_halves(batch.files)))
                continue
            key = batch.files["file_key"][0]
            why = {"error": safe_error(exc), "lines_read": lines.get(key)}
            _quarantine(run, batch.files.with_columns(pl.lit(v).alias(k) for k, v in why.items()))
            continue
        _load_result(run, result)


def _halves(files: pl.DataFrame) -> list[pl.DataFrame]:
    mid = files.height // 2
    return [files.slice(0, mid), files.slice(mid)] if mid else [files]


def _quarantine(run: _Run, rows: pl.DataFrame) -> None:
    """Put files (listing rows with ``error, lines_read``) in quarantine and count them."""
    rows = rows.with_columns(
        pl.col("lines_read").cast(pl.Int64), quarantined_at=pl.lit(datetime.now(UTC)).cast(tables.TS)
    )
    warehouse.quarantine(run.pipeline, rows)
    run.summary.add_quarantined(rows)
    for key, error in rows.select("file_key", "error").iter_rows():
        log.warning("product_events: quarantined %s: %s", key, error)


# -- one batch ------------------------------------------------------------------------------------


def transform_batch(
    pipeline: Any,
    files: pl.DataFrame,
    file_lines: list[FileLines],
    pepper: bytes,
    erased: pl.DataFrame,
    parser: LineParser | None = None,
) -> BatchResult:
    """Parse, hash, filter, dedupe and route one batch of files read into ``file_lines``.

    Reads the warehouse (loaded copies of the batch's event ids, the identity map) through one
    SQL client and writes nothing: :func:`load_batch` hands the result to dlt. ``file_lines``
    is emptied once parsed: the raw text is the batch's biggest object and nothing needs it after.
    """
    parsed = parse_lines(file_lines, parser)
    file_lines.clear()
    tomb_key = tombstone_key(erased)
    # keyed tombstones of e-mails and phones are matched on the clear values, before hashing
    erased_pii = helpers.keyed_erased_pii(parsed.valid, erased, *tomb_key) if tomb_key else None
    valid = pii.hash_pii(parsed.valid, pepper)
    # the parsed frame (clear PII) is the batch's other big object: dropped once hashed
    parsed.valid = parsed.valid.clear()
    valid = helpers.with_row_ids(pii.hash_extra_pii(valid, parsed.extras, pepper))
    # new fields the PII policy drops (addresses and the like) are no columns
    parsed.extras = [e for e in parsed.extras if e in valid.columns]

    keys = helpers.key_columns(valid)
    # erased subjects never load, whatever the file's age
    is_erased = valid.select(helpers.erased_mask(valid, erased)).to_series()
    if tomb_key and erased_pii is not None:
        is_erased = is_erased | erased_pii | helpers.keyed_erased_ids(valid, erased, *tomb_key)
    erased_rows = keys.filter(is_erased).select("_file_key", "_row")
    if erased_rows.height:
        keys = keys.filter(~is_erased)
    losers = helpers.batch_duplicates(keys)
    if losers.height:
        keys = keys.filter(~pl.col("_row").is_in(losers["_row"].implode()))
    with pipeline.sql_client() as client:
        verdict, key_merge = _against_loaded(pipeline, client, keys)
        del keys
        valid = helpers.keep_rows(valid, [erased_rows, losers, verdict.losing, verdict.same])
        merges = valid.filter(pl.col("event_type") == "user_merged")
        edges = warehouse.identity_map(client, helpers.IDENTITY_COLUMNS) if merges.height else None

    out = helpers.route_rows(valid, parsed.extras)
    if merges.height:
        out[S.T_IDENTITY] = helpers.identity_rows(merges, edges)
    if parsed.dead.height:
        out[S.T_DEAD] = helpers.dead_letter_rows(parsed.dead, pepper)
    fates = {
        "loaded": pl.concat([valid.select("_file_key"), verdict.same.select("_file_key")]),
        "duplicates_dropped": pl.concat([losers.select("_file_key"), verdict.losing.select("_file_key")]),
        "dead_letters": parsed.dead.select("_file_key"),
        "erased_dropped": erased_rows,
        "replaced_earlier": verdict.replacing.select("_file_key"),
    }
    manifest = helpers.manifest_rows(files, parsed.lines_read, fates)
    return BatchResult(tables=out, manifest=manifest, new_columns=parsed.extras, key_merge=key_merge)


def _against_loaded(pipeline: Any, client: Any, keys: pl.DataFrame) -> tuple[helpers.LoadedVerdict, set[str]]:
    """The batch's rows (``keys``) judged against the copies of their ids already loaded, and the
    event tables that must merge on ``event_id`` (a row replaces one, or a copy may lie outside
    the batch's dates)."""
    in_engine = pipeline.destination.destination_name == "duckdb"
    verdicts = []
    key_merge = set()
    for table in tables.EVENT_TABLES:
        part = keys.filter(pl.col("event_type").is_in(helpers.event_types_of(table)))
        loaded, outside = warehouse.loaded_copies(
            client, table, part.select("event_id", "event_date"), in_engine
        )
        if outside:
            key_merge.add(table)
        if loaded.height == 0:
            continue
        verdict = helpers.compare_with_loaded(part, loaded)
        if verdict.replacing.height:
            key_merge.add(table)
        verdicts.append(verdict)
    return helpers.merge_verdicts(verdicts), key_merge


# -- dlt ------------------------------------------------------------------------------------------


def batch_resources(result: BatchResult, materialized: set[str]) -> list[Any]:
    """One Arrow resource per table of the batch, plus an empty one for each table not yet
    ``materialized`` (created in the destination), so every raw_events table and contract
    column exists from the first load on.

    Keys are unique within a batch by construction (dedupe, one manifest row per file, one
    identity row per user), so the merge uses ``merge_key`` alone: dlt then skips the
    primary-key dedup window (a sort of the whole package) in its insert.

    An event table whose incoming rows replace no loaded row (``transform_batch`` compared every
    incoming id with the table: copies that lose or were already loaded are not in the batch) is
    appended: the ``delete-insert`` merge would delete nothing, and costs a staging copy of the
    rows plus a scan of the whole table. Batches with replacements merge on ``event_id``.
    """
    # the result hands its frames over: each is dropped once converted, so a batch is never held
    # twice (Polars and Arrow) while dlt writes it
    frames, result.tables = result.tables, {}
    if result.write_manifest:
        frames[S.T_MANIFEST] = result.manifest
    for table in set(_ALL_TABLES) - frames.keys() - materialized:
        frames[table] = tables.empty(table)
    appended = set(tables.EVENT_TABLES) - result.key_merge
    return [
        dlt.resource(
            _with_load_id(tables.to_arrow(table, frames.pop(table))),
            name=table,
            table_name=table,
            write_disposition=_APPEND if table in appended else _MERGE,
            merge_key=list(tables.KEYS[table]),
            columns=tables.column_hints(table),
        )()
        for table in list(frames)
    ]


def _with_load_id(at: pa.Table) -> Callable[[], Iterator[pa.Table]]:
    """A resource function yielding ``at`` with ``_load_id``: the id of the package it lands in,
    known only while dlt extracts (the SQL models' lineage columns read it)."""

    def rows() -> Iterator[pa.Table]:
        lid = str(dlt.current.load_package_state()["load_id"])
        yield at.append_column(tables.LOAD_ID, pa.repeat(pa.scalar(lid, pa.string()), at.num_rows))

    return rows


def _materialized(pipeline: Any) -> set[str]:
    """Tables of the pipeline's schema that already exist in the destination (have seen data)."""
    if not pipeline.default_schema_name:
        return set()
    return {n for n, t in pipeline.default_schema.tables.items() if has_table_seen_data(t)}


def load_batch(pipeline: Any, result: BatchResult) -> str:
    """Write one batch as one dlt load package; returns its load id. The batch's tables are handed
    to dlt (``result.tables`` is empty afterwards; ``result.manifest`` stays)."""
    info = pipeline.run(batch_resources(result, _materialized(pipeline)))
    info.raise_on_failed_jobs()
    return str(info.loads_ids[-1]) if info.loads_ids else ""
