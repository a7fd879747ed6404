"""``load_events``: new landing files -> ``raw_events.*`` in bounded, reconciled batches.

Per batch of files (one dlt load package): read and split lines, parse and validate them
(``parse``), hash PII (``pii``), drop erased subjects, deduplicate ``event_id`` inside the
batch and against what is already loaded, route rows to their tables, resolve the identity
map, and write the manifest row of every file with its reconciliation:

    lines_read = loaded + duplicates_dropped + dead_letters + erased_dropped

Everything is keyed so that a crash between steps and a rerun change nothing: events merge
on ``event_id``, dead letters on (file, line), the manifest on the file key, identity on
``from_user_id``; the manifest is the only thing that says a file is done.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from connector_sdk.land import finish_pending_loads
from connectors.product_events import identity, pii, tables
from connectors.product_events import settings as S
from connectors.product_events.discovery import batches, list_landing_files, new_files, read_batch
from connectors.product_events.parse import FileLines, LineParser, parse_lines

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""``progress(files_done, files_total)``, called after every batch."""

ERASED_DDL = (
    "create table if not exists {table} ("
    "subject_type varchar not null, subject_id varchar not null, "
    "erased_at timestamp with time zone, request_id varchar)"
)
# subject_type -> columns of incoming rows it matches
ERASURE_MATCH: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "from_user_id", "to_user_id"),
    "email_hash": ("email_hash",),
    "phone_hash": ("phone_hash",),
    "device_id": ("device_id",),
    "anonymous_id": ("anonymous_id",),
}
TS = pl.Datetime("us", "UTC")


@dataclass
class IngestSummary:
    """What one ``load_events`` call did (sums over its batches)."""

    files_listed: int = 0
    files_loaded: int = 0
    batches: int = 0
    lines_read: int = 0
    loaded: int = 0
    duplicates_dropped: int = 0
    dead_letters: int = 0
    erased_dropped: int = 0
    replaced_earlier: int = 0
    new_columns: list[str] = field(default_factory=list)
    load_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, manifest: pl.DataFrame) -> None:
        """Add one batch's manifest rows to the totals."""
        self.batches += 1
        self.files_loaded += manifest.height
        for c in (
            "lines_read",
            "loaded",
            "duplicates_dropped",
            "dead_letters",
            "erased_dropped",
            "replaced_earlier",
        ):
            setattr(self, c, getattr(self, c) + int(manifest[c].sum()))


# -- warehouse access (through the pipeline's own SQL client: DuckDB or Snowflake) ------------


def _qualified(client: Any, table: str) -> str:
    return str(client.make_qualified_table_name(table))


def _table_exists(client: Any, table: str) -> bool:
    try:
        client.execute_sql(f"select 1 from {_qualified(client, table)} limit 0")
        return True
    except Exception:
        return False


def _pipeline_has_table(pipeline: Any, table: str) -> bool:
    with pipeline.sql_client() as c:
        return _table_exists(c, table)


def _fetch(cur: Any) -> pl.DataFrame:
    # dlt's cursor.arrow() calls a DuckDB API that 2.0 removed: go through DB-API rows.
    rows = cur.fetchall()
    cols = [d[0] for d in cur.description]
    return pl.DataFrame(rows, schema=cols, orient="row", infer_schema_length=None)


def _query(pipeline: Any, sql: str, *args: Any) -> pl.DataFrame:
    with (
        pipeline.sql_client() as c,
        c.execute_query(sql.format(**{t: _qualified(c, t) for t in _TABLE_NAMES}), *args) as cur,
    ):
        return _fetch(cur)


_TABLE_NAMES = (S.T_EVENTS, S.T_MMP, S.T_SKAN, S.T_IDENTITY, S.T_DEAD, S.T_MANIFEST, S.T_ERASED)


def ensure_erased_subjects(pipeline: Any) -> None:
    """Create ``raw_events.erased_subjects`` (empty) if the erasure feature has not yet."""
    with pipeline.sql_client() as c:
        if not c.has_dataset():
            c.create_dataset()
        c.execute_sql(ERASED_DDL.format(table=_qualified(c, S.T_ERASED)))


def seen_file_keys(pipeline: Any, manifest_table: str = S.T_MANIFEST) -> pl.Series:
    """Keys of the files already recorded in a manifest table (empty before the first load)."""
    if not _pipeline_has_table(pipeline, manifest_table):
        return pl.Series("file_key", [], dtype=pl.String)
    with (
        pipeline.sql_client() as c,
        c.execute_query(f"select file_key from {_qualified(c, manifest_table)}") as cur,
    ):
        df = _fetch(cur)
    return df["file_key"].cast(pl.String) if df.height else pl.Series("file_key", [], dtype=pl.String)


def erased_subjects(pipeline: Any) -> pl.DataFrame:
    """``subject_type, subject_id`` of every erased subject, user ids expanded through the identity map."""
    df = _query(pipeline, "select subject_type, subject_id from {erased_subjects}")
    df = df.with_columns(pl.col("subject_type").cast(pl.String), pl.col("subject_id").cast(pl.String))
    users = df.filter(pl.col("subject_type") == "user_id")["subject_id"]
    if users.len() and _pipeline_has_table(pipeline, S.T_IDENTITY):
        idm = _query(pipeline, "select from_user_id, canonical_user_id from {identity_map}")
        linked = idm.filter(
            pl.col("canonical_user_id").is_in(users.implode()) | pl.col("from_user_id").is_in(users.implode())
        )
        more = pl.concat([linked["from_user_id"], linked["canonical_user_id"]]).unique()
        df = pl.concat([df, pl.DataFrame({"subject_type": "user_id", "subject_id": more})]).unique()
    return df


# -- per-batch transformation -----------------------------------------------------------------


def _erased_mask(valid: pl.DataFrame, erased: pl.DataFrame) -> pl.Expr:
    conds = []
    for stype, cols in ERASURE_MATCH.items():
        ids = erased.filter(pl.col("subject_type") == stype)["subject_id"]
        if ids.len() == 0:
            continue
        for c in cols:
            if c in valid.columns:
                conds.append(pl.col(c).is_in(ids.implode()).fill_null(False))
    return pl.any_horizontal(conds) if conds else pl.lit(False)


def _existing_copies(pipeline: Any, c: Any, table: str, incoming: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """Already loaded copies (``event_id, received_at, _file_key, _line_no``) of incoming event ids
    whose ``event_date`` is in the batch's range, and whether a copy may exist outside that range
    (then only the key merge, which deletes by ``event_id`` whatever the date, treats it as before).
    ``c``: an open SQL client of the pipeline."""
    empty = pl.DataFrame(
        schema={"event_id": pl.String, "received_at": TS, "_file_key": pl.String, "_line_no": pl.Int32}
    )
    if incoming.height == 0 or not _table_exists(c, table):
        return empty, False
    lo, hi = incoming["event_date"].min(), incoming["event_date"].max()
    qt = _qualified(c, table)
    native = getattr(c, "native_connection", None)
    if pipeline.destination.destination_name == "duckdb" and native is not None:
        # DuckDB: join inside the engine against the registered Arrow ids (no id list in Python);
        # one scan finds the copies in the range and tells whether any lies outside it
        ids = incoming.select("event_id").to_arrow()
        native.register("_pe_incoming_ids", ids)
        try:
            res = native.sql(
                "select t.event_id, t.received_at, t._file_key, t._line_no, "
                "coalesce(t.event_date between ? and ?, false) as _in_range "
                f"from {qt} t where t.event_id in (select event_id from _pe_incoming_ids)",
                params=[lo, hi],
            ).to_arrow_table()
        finally:
            native.unregister("_pe_incoming_ids")
        df = pl.from_arrow(res)
        assert isinstance(df, pl.DataFrame)
        outside = not bool(df["_in_range"].all())
        df = df.filter("_in_range").drop("_in_range")
    else:
        # Other warehouses: the date range bounds the scan; the key join happens here. Copies
        # outside the range are not looked for: the key merge stays on.
        sql = (
            f"select t.event_id, t.received_at, t._file_key, t._line_no from {qt} t "
            "where t.event_date between ? and ?"
        )
        with c.execute_query(sql, lo, hi) as cur:
            df = _fetch(cur)
        outside = True
        if df.height == 0:
            return empty, outside
        df = df.join(incoming.select("event_id"), on="event_id", how="semi")
    assert isinstance(df, pl.DataFrame)
    return df.cast(empty.schema), outside  # type: ignore[arg-type]


@dataclass
class BatchResult:
    """Tables of one batch, ready for dlt, plus its manifest rows."""

    tables: dict[str, pl.DataFrame]
    manifest: pl.DataFrame
    new_columns: list[str]
    # event tables whose rows may replace rows already loaded (see ``_resources``)
    key_merge: set[str] = field(default_factory=lambda: set(tables.EVENT_TABLES))


def _sort_key() -> list[str]:
    return ["received_at", "_file_key", "_line_no"]


def transform_batch(
    pipeline: Any,
    landing_url: str,
    files: pl.DataFrame,
    pepper: bytes,
    erased: pl.DataFrame,
    parser: LineParser | None = None,
    file_lines: list[FileLines] | None = None,
) -> BatchResult:
    """Read (unless ``file_lines`` holds the batch already read), parse, hash, filter, dedupe and
    route one batch of files (no writes). ``file_lines`` is emptied once parsed: the raw text is
    the batch's biggest object and nothing needs it after parsing."""
    if file_lines is None:
        file_lines = _read(landing_url, files)
    truncated = {f.file_key for f in file_lines if f.truncated}
    parsed = parse_lines(file_lines, parser)
    # the raw text and the untyped frame are the batch's biggest objects: drop them as soon as used
    file_lines.clear()
    valid = pii.hash_pii(parsed.valid, pepper)
    parsed.valid = parsed.valid.clear()
    valid = pii.hash_extra_pii(valid, parsed.extras, pepper)
    valid = valid.with_columns(
        event_date=pl.col("event_ts").dt.date(), _row=pl.int_range(pl.len(), dtype=pl.Int64)
    )

    # Steps 1-3 decide which rows stay on a narrow frame of the columns they need; the wide
    # frame is filtered once, after step 3 (each filter of it copies every column).
    keys = valid.select("_row", "event_id", "event_type", "event_date", *_sort_key())

    # 1. erased subjects never load, whatever the file's age
    is_erased = valid.select(_erased_mask(valid, erased)).to_series()
    erased_rows = keys.filter(is_erased).select("_file_key", "_row")
    if erased_rows.height:
        keys = keys.filter(~is_erased)

    # 2. duplicates inside the batch: lowest (received_at, file key, line) wins
    dupes = keys.filter(pl.col("event_id").is_duplicated())
    losers = pl.DataFrame(schema={"_file_key": pl.String, "_row": pl.Int64})
    if dupes.height:
        dupes = dupes.sort(["event_id", *_sort_key()])
        losers = dupes.filter(~pl.col("event_id").is_first_distinct()).select("_file_key", "_row")
        keys = keys.filter(~pl.col("_row").is_in(losers["_row"].implode()))

    # 3. duplicates of rows loaded earlier: the incoming copy is dropped unless it wins
    dropped_vs_existing = []
    replaced = []
    already = []
    key_merge = set()
    with pipeline.sql_client() as client:
        for table in (S.T_EVENTS, S.T_MMP, S.T_SKAN):
            types = [t for t, tb in S.TABLE_OF_TYPE.items() if tb == table]
            part = keys.filter(pl.col("event_type").is_in(types))
            ex, outside = _existing_copies(pipeline, client, table, part.select("event_id", "event_date"))
            if outside:
                key_merge.add(table)
            if ex.height == 0:
                continue
            cmp = part.select("event_id", "_row", *_sort_key()).join(ex, on="event_id", suffix="_ex")
            same = pl.all_horizontal([pl.col(c) == pl.col(f"{c}_ex") for c in _sort_key()])
            older_wins = ~same & _lex_less_ex()
            dropped_vs_existing.append(cmp.filter(older_wins).select("_file_key", "_row"))
            already.append(cmp.filter(same).select("_file_key", "_row"))
            repl = cmp.filter(~same & ~_lex_less_ex()).select("_file_key", "_row")
            if repl.height:
                key_merge.add(table)
            replaced.append(repl)
    del keys
    drop_rows = pl.concat(dropped_vs_existing) if dropped_vs_existing else losers.clear()
    same_rows = pl.concat(already) if already else losers.clear()
    repl_rows = pl.concat(replaced) if replaced else losers.clear()
    skip = pl.concat([erased_rows["_row"], losers["_row"], drop_rows["_row"], same_rows["_row"]])
    if skip.len():
        valid = valid.filter(~pl.col("_row").is_in(skip.implode()))

    # 4. route
    out = _route(valid, parsed.extras)
    merges = valid.filter(pl.col("event_type") == "user_merged")
    if merges.height:
        out[S.T_IDENTITY] = _identity_rows(pipeline, merges)

    # 5. dead letters: PII masked in the raw text, whatever shape the line had
    dead = parsed.dead.with_columns(line=pii.mask_text(pl.col("line"))).rename(
        {"_file_key": "file_key", "_line_no": "line_no"}
    )
    if dead.height:
        out[S.T_DEAD] = tables.conform(S.T_DEAD, dead)

    # 6. manifest with per-file reconciliation
    def count(df: pl.DataFrame, name: str) -> pl.DataFrame:
        return df.group_by("_file_key").agg(pl.len().cast(pl.Int64).alias(name))

    loaded = pl.concat([valid.select("_file_key"), same_rows.select("_file_key")])
    parts = [
        parsed.lines_read.with_columns(pl.col("lines_read").cast(pl.Int64)),
        count(loaded, "loaded"),
        count(pl.concat([losers.select("_file_key"), drop_rows.select("_file_key")]), "duplicates_dropped"),
        count(parsed.dead.select("_file_key"), "dead_letters"),
        count(erased_rows, "erased_dropped"),
        count(repl_rows.select("_file_key"), "replaced_earlier"),
    ]
    man = files.select("file_key", "file_url", "size_bytes", pl.col("modified_at").cast(TS))
    for p in parts:
        man = man.join(p.rename({"_file_key": "file_key"}), on="file_key", how="left")
    counts = [
        "lines_read",
        "loaded",
        "duplicates_dropped",
        "dead_letters",
        "erased_dropped",
        "replaced_earlier",
    ]
    man = man.with_columns(
        [pl.col(c).fill_null(0) for c in counts],
    ).with_columns(truncated=pl.col("file_key").is_in(list(truncated)))
    return BatchResult(
        tables=out,
        manifest=tables.conform(S.T_MANIFEST, man),
        new_columns=parsed.extras,
        key_merge=key_merge,
    )


def _read(landing_url: str, files: pl.DataFrame) -> list[FileLines]:
    # remote reads wait on the network, not the CPU: more threads than cores pay off
    return read_batch(landing_url, files, threads=2 if "://" not in landing_url else 8)


def _lex_less_ex() -> pl.Expr:
    """Existing copy sorts before the incoming one on (received_at, file key, line)."""
    r, f, n = (pl.col(c) for c in _sort_key())
    re, fe, ne = (pl.col(f"{c}_ex") for c in _sort_key())
    return (re < r) | ((re == r) & (fe < f)) | ((re == r) & (fe == f) & (ne < n))


def _route(valid: pl.DataFrame, extras: list[str]) -> dict[str, pl.DataFrame]:
    """Split valid rows into the events, mmp_touches and skan_postbacks tables (contract columns,
    then the new fields that carry a value in that table's rows, then lineage)."""
    out: dict[str, pl.DataFrame] = {}
    for table in tables.EVENT_TABLES:
        types = [t for t, tb in S.TABLE_OF_TYPE.items() if tb == table]
        part = valid.filter(pl.col("event_type").is_in(types))
        if part.height == 0:
            continue
        ex = [e for e in extras if e in part.columns and part[e].null_count() < part.height]
        out[table] = tables.conform(
            table, part.select([*tables.SCHEMAS[table].keys() & set(part.columns), *ex])
        )
    return out


def _identity_rows(pipeline: Any, merges: pl.DataFrame) -> pl.DataFrame:
    new = merges.select("from_user_id", "to_user_id", pl.col("event_ts").alias("merged_at"), "event_id").cast(
        identity.EDGE_SCHEMA
    )  # type: ignore[arg-type]
    existing = pl.DataFrame(schema={**identity.EDGE_SCHEMA, "canonical_user_id": pl.String})
    if _pipeline_has_table(pipeline, S.T_IDENTITY):
        existing = _query(
            pipeline,
            "select from_user_id, to_user_id, merged_at, event_id, canonical_user_id from {identity_map}",
        ).cast({**identity.EDGE_SCHEMA, "canonical_user_id": pl.String})  # type: ignore[arg-type]
    resolved = identity.resolve(pl.concat([existing.select(list(identity.EDGE_SCHEMA)), new]))
    return tables.conform(S.T_IDENTITY, identity.changed_rows(existing, resolved))


# -- dlt ----------------------------------------------------------------------------------------

# Arrow items get dlt's own ``_dlt_load_id`` only with this normalizer option (FIELD_NOTES); set
# for the process, as connector_sdk does, so every load of raw_events carries it (the flows
# select new rows by it). Set again at every call: a caller that restores its environment
# after this module was imported (the e2e fixtures do) would otherwise load without it.
_ADD_LOAD_ID = "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID"
os.environ.setdefault(_ADD_LOAD_ID, "true")


def _configure_packages(pipeline: Any) -> None:
    """dlt settings of this pipeline alone (dlt reads ``<PIPELINE_NAME>__<section>__<key>``).

    - ``load.delete_completed_jobs``: a loaded package's files are deleted (dlt keeps them by
      default). They hold ``device_id`` and ``anonymous_id`` in clear, which must live only in
      the warehouse tables that joins need (and that erasure can reach); kept, they grew by
      ~1 GB per scale-1.0 day.
    - ``data_writer.compression = none`` on DuckDB: the parquet files live only between extract
      and load, on the same disk: snappy costs CPU and saves nothing. Snowflake keeps snappy
      (the files travel to its stage).
    """
    prefix = pipeline.pipeline_name.upper()
    os.environ.setdefault(f"{prefix}__LOAD__DELETE_COMPLETED_JOBS", "true")
    if pipeline.destination.destination_name == "duckdb":
        os.environ.setdefault(f"{prefix}__DATA_WRITER__COMPRESSION", "none")


_MERGE: dict[str, Any] = {"disposition": "merge", "strategy": "delete-insert"}
_ALL_TABLES = (S.T_EVENTS, S.T_MMP, S.T_SKAN, S.T_IDENTITY, S.T_DEAD, S.T_MANIFEST)


def _materialized(pipeline: Any) -> set[str]:
    """Tables of the pipeline's schema that already exist in the destination (have seen data)."""
    from dlt.common.schema.utils import has_table_seen_data

    if not pipeline.default_schema_name:
        return set()
    return {n for n, t in pipeline.default_schema.tables.items() if has_table_seen_data(t)}


def _resources(pipeline: Any, result: BatchResult) -> list[Any]:
    """One Arrow resource per table of the batch, plus an empty one for each table not yet created,
    so every raw_events table and contract column exists from the first load on.

    Keys are unique within a batch by construction (dedupe, one manifest row per file, one
    identity row per user), so the merge uses ``merge_key`` alone: dlt then skips the
    primary-key dedup window (a sort of the whole package) in its insert.

    An event table whose incoming rows replace no loaded row (``transform_batch`` compared every
    incoming id with the table: copies that lose or were already loaded are not in the batch) is
    appended: the ``delete-insert`` merge would delete nothing, and costs a staging copy of the
    rows plus a scan of the whole table. Batches with replacements merge on ``event_id``.
    """
    import dlt

    # the result hands its frames over: each is dropped once converted, so a batch is never held
    # twice (Polars and Arrow) while dlt writes it
    frames, result.tables = result.tables, {}
    frames[S.T_MANIFEST] = result.manifest
    for table in set(_ALL_TABLES) - frames.keys() - _materialized(pipeline):
        frames[table] = tables.empty(table)
    res = []
    for table in list(frames):
        at = tables.to_arrow(table, frames.pop(table))

        def rows(at: pa.Table = at) -> Iterator[pa.Table]:
            lid = str(dlt.current.load_package_state()["load_id"])
            yield at.append_column(tables.LOAD_ID, pa.repeat(pa.scalar(lid, pa.string()), at.num_rows))

        res.append(
            dlt.resource(
                rows,
                name=table,
                table_name=table,
                write_disposition=(
                    "append" if table in tables.EVENT_TABLES and table not in result.key_merge else _MERGE
                ),
                merge_key=list(tables.KEYS[table]),
                columns=tables.column_hints(table),
            )()
        )
    return res


def load_batch(pipeline: Any, result: BatchResult) -> str:
    """Write one batch as one dlt load package; returns its load id. The batch's tables are handed
    to dlt (``result.tables`` is empty afterwards; ``result.manifest`` stays)."""
    info = pipeline.run(_resources(pipeline, result))
    info.raise_on_failed_jobs()
    return str(info.loads_ids[-1]) if info.loads_ids else ""


# -- entry point --------------------------------------------------------------------------------


def load_events(
    pipeline: Any,
    landing_url: str,
    pepper: bytes,
    *,
    batch_files: int = S.DEFAULT_BATCH_FILES,
    batch_bytes: int = S.DEFAULT_BATCH_BYTES,
    progress: ProgressFn | None = None,
    max_batches: int | None = None,
) -> IngestSummary:
    """Load every landing file not yet in ``raw_events.landing_manifest``, batch after batch.

    ``pipeline`` is the dlt pipeline of dataset ``raw_events``; ``pepper`` the HMAC secret
    (``get_settings().require_pepper()``). Batches hold at most ``batch_files`` files and
    ``batch_bytes`` compressed bytes, so a backlog is caught up in bounded memory;
    ``max_batches`` stops early (the rest waits for the next call). Rerunning loads nothing new.
    """
    if not pepper:
        from roi.core.errors import ConfigError

        raise ConfigError("ROI_PII_PEPPER is not set: export a secret of at least 16 characters")
    t0 = time.perf_counter()
    os.environ.setdefault(_ADD_LOAD_ID, "true")
    _configure_packages(pipeline)
    summary = IngestSummary()
    ensure_erased_subjects(pipeline)
    # A killed run's pending package holds files and their manifest rows: land it first, so
    # those files count as seen and the new listing continues after them.
    finish_pending_loads(pipeline)
    listing = list_landing_files(landing_url)
    summary.files_listed = listing.height
    todo = new_files(listing, seen_file_keys(pipeline))
    erased = erased_subjects(pipeline)
    done = 0
    total = todo.height
    todo_batches = list(batches(todo, batch_files, batch_bytes))
    if max_batches is not None:
        todo_batches = todo_batches[:max_batches]
    # The next batch is read (gunzip and S3 I/O release the GIL) while this one is parsed and
    # loaded: one batch of raw text ahead, no more, so memory stays bounded.
    with LineParser() as parser, ThreadPoolExecutor(max_workers=1) as reader:
        ahead = [reader.submit(_read, landing_url, todo_batches[0])] if todo_batches else []
        for i, files in enumerate(todo_batches):
            fut = ahead.pop()
            if i + 1 < len(todo_batches):
                ahead.append(reader.submit(_read, landing_url, todo_batches[i + 1]))
            result = transform_batch(pipeline, landing_url, files, pepper, erased, parser, fut.result())
            load_id = load_batch(pipeline, result)
            summary.add(result.manifest)
            summary.load_ids.append(load_id)
            summary.new_columns = sorted(set(summary.new_columns) | set(result.new_columns))
            done += files.height
            # a batch's frames are garbage now: release them before the next batch is read
            del result
            gc.collect()
            log.info("product_events: batch %d loaded %d files (load %s)", i + 1, files.height, load_id)
            if progress is not None:
                progress(done, total)
    summary.seconds = time.perf_counter() - t0
    return summary
