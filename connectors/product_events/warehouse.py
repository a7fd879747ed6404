"""Every read of ``raw_events`` the connector makes, through the pipeline's own SQL client.

The client is dlt's (DuckDB or Snowflake): no credentials of the connector's own, and table
names qualified the way dlt loads them. Rows of the loaded tables are written only by dlt load
packages. Two tables live outside dlt's schema, created here: ``erased_subjects`` (the erasure
feature fills it) and ``quarantined_files`` (written here, row by row, the moment a file is
quarantined or requeued: it must hold even when the batch that found the fault loads nothing).

Functions that take ``client`` share an open ``pipeline.sql_client()``: opening one resolves
dlt's configuration (~25 ms), so a batch's reads go through one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

from connectors.product_events import settings as S
from connectors.product_events import tables

ERASED_DDL = (
    "create table if not exists {table} ("
    "subject_type varchar not null, subject_id varchar not null, "
    "erased_at timestamp with time zone, request_id varchar, key_id varchar)"
)
# ``key_id`` came with keyed tombstones (flows/erasure.py): a row without one holds the id in clear.
ERASED_KEY_ID = "alter table {table} add column if not exists key_id varchar"
QUARANTINE_DDL = (
    "create table if not exists {table} ("
    "file_key varchar not null, file_url varchar, size_bytes bigint, modified_at timestamp with time zone, "
    "error varchar not null, lines_read bigint, quarantined_at timestamp with time zone not null, "
    "requeued_at timestamp with time zone)"
)
QUARANTINE_COLUMNS = (
    "file_key",
    "file_url",
    "size_bytes",
    "modified_at",
    "error",
    "lines_read",
    "quarantined_at",
)
# The columns ``loaded_copies`` returns: what the dedupe rule compares.
COPY_SCHEMA = pl.Schema(
    {"event_id": pl.String(), "received_at": tables.TS, "_file_key": pl.String(), "_line_no": pl.Int32()}
)


def qualified(client: Any, table: str) -> str:
    """``table`` of the pipeline's dataset, quoted and qualified for its destination."""
    return str(client.make_qualified_table_name(table))


def table_exists(client: Any, table: str) -> bool:
    """Whether the dataset has ``table`` (dlt creates tables at their first load)."""
    try:
        client.execute_sql(f"select 1 from {qualified(client, table)} limit 0")
        return True
    except Exception:
        return False


def fetch(cur: Any) -> pl.DataFrame:
    """A cursor's result as a frame."""
    # dlt's cursor.arrow() calls a DuckDB API that 2.0 removed: go through DB-API rows.
    rows = cur.fetchall()
    cols = [d[0] for d in cur.description]
    return pl.DataFrame(rows, schema=cols, orient="row", infer_schema_length=None)


def select(client: Any, sql: str, *args: Any) -> pl.DataFrame:
    """The result of one query."""
    with client.execute_query(sql, *args) as cur:
        return fetch(cur)


def ensure_side_tables(pipeline: Any) -> None:
    """Create ``raw_events.erased_subjects`` (empty) if the erasure feature has not yet, and
    ``raw_events.quarantined_files``."""
    with pipeline.sql_client() as c:
        if not c.has_dataset():
            c.create_dataset()
        c.execute_sql(ERASED_DDL.format(table=qualified(c, S.T_ERASED)))
        c.execute_sql(ERASED_KEY_ID.format(table=qualified(c, S.T_ERASED)))
        c.execute_sql(QUARANTINE_DDL.format(table=qualified(c, S.T_QUARANTINE)))


def quarantined_file_keys(pipeline: Any) -> pl.Series:
    """Keys of the files in quarantine now (not requeued); empty before the table exists."""
    empty = pl.Series("file_key", [], dtype=pl.String)
    with pipeline.sql_client() as c:
        if not table_exists(c, S.T_QUARANTINE):
            return empty
        df = select(c, f"select file_key from {qualified(c, S.T_QUARANTINE)} where requeued_at is null")
    return df["file_key"].cast(pl.String) if df.height else empty


def quarantine(pipeline: Any, rows: pl.DataFrame) -> None:
    """Record ``rows`` (:data:`QUARANTINE_COLUMNS`) in ``quarantined_files``: their files are not
    read again until requeued. A row per quarantine, kept after a requeue (``requeued_at``)."""
    cols = ", ".join(QUARANTINE_COLUMNS)
    marks = ", ".join("?" for _ in QUARANTINE_COLUMNS)
    with pipeline.sql_client() as c:
        c.execute_sql(QUARANTINE_DDL.format(table=qualified(c, S.T_QUARANTINE)))
        sql = f"insert into {qualified(c, S.T_QUARANTINE)} ({cols}) values ({marks})"
        for row in rows.select(QUARANTINE_COLUMNS).iter_rows():
            c.execute_sql(sql, *row)


def requeue(pipeline: Any, file_key: str, at: datetime) -> bool:
    """Take ``file_key`` out of quarantine (its row keeps ``requeued_at = at``), so the next load
    reads it again; False when it is not in quarantine."""
    with pipeline.sql_client() as c:
        if not table_exists(c, S.T_QUARANTINE):
            return False
        qt = qualified(c, S.T_QUARANTINE)
        n = select(c, f"select count(*) as n from {qt} where file_key = ? and requeued_at is null", file_key)
        if not n["n"][0]:
            return False
        c.execute_sql(
            f"update {qt} set requeued_at = ? where file_key = ? and requeued_at is null", at, file_key
        )
    return True


def seen_file_keys(pipeline: Any, manifest_table: str = S.T_MANIFEST) -> pl.Series:
    """Keys of the files already recorded in a manifest table (empty before the first load)."""
    empty = pl.Series("file_key", [], dtype=pl.String)
    with pipeline.sql_client() as c:
        if not table_exists(c, manifest_table):
            return empty
        df = select(c, f"select file_key from {qualified(c, manifest_table)}")
    return df["file_key"].cast(pl.String) if df.height else empty


def erased_subjects(client: Any) -> pl.DataFrame:
    """``subject_type, subject_id, key_id`` of every row of ``erased_subjects`` (the table must
    exist): ``key_id`` null for an id in clear, else ``subject_id`` is its hash under that key."""
    df = select(client, f"select subject_type, subject_id, key_id from {qualified(client, S.T_ERASED)}")
    return df.with_columns(
        pl.col("subject_type").cast(pl.String),
        pl.col("subject_id").cast(pl.String),
        pl.col("key_id").cast(pl.String),
    )


def identity_map(client: Any, columns: Sequence[str]) -> pl.DataFrame | None:
    """``columns`` of every ``identity_map`` row, untyped; None before the first merge loaded."""
    if not table_exists(client, S.T_IDENTITY):
        return None
    return select(client, f"select {', '.join(columns)} from {qualified(client, S.T_IDENTITY)}")


def loaded_copies(
    client: Any, table: str, incoming: pl.DataFrame, in_engine: bool
) -> tuple[pl.DataFrame, bool]:
    """Copies already in ``table`` of the ``incoming`` event ids (``event_id, event_date``) whose
    ``event_date`` is in the batch's range, as :data:`COPY_SCHEMA`; and whether a copy may lie
    outside that range (then only the key merge, which deletes by ``event_id`` whatever the
    date, treats it as before).

    ``in_engine`` (DuckDB): the ids are joined inside the engine against the registered Arrow
    column (no id list in Python), and the same scan tells whether a copy lies outside the range.
    Elsewhere the date range bounds the scan, the join happens here, and copies outside the range
    are not looked for: the key merge stays on.
    """
    empty = pl.DataFrame(schema=COPY_SCHEMA)
    if incoming.height == 0 or not table_exists(client, table):
        return empty, False
    lo, hi = incoming["event_date"].min(), incoming["event_date"].max()
    qt = qualified(client, table)
    native = getattr(client, "native_connection", None)
    if in_engine and native is not None:
        native.register("_pe_incoming_ids", incoming.select("event_id").to_arrow())
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
        sql = (
            f"select t.event_id, t.received_at, t._file_key, t._line_no from {qt} t "
            "where t.event_date between ? and ?"
        )
        df = select(client, sql, lo, hi)
        outside = True
        if df.height == 0:
            return empty, outside
        df = df.join(incoming.select("event_id"), on="event_id", how="semi")
    return df.cast(COPY_SCHEMA), outside


def columns_of(client: Any, table: str) -> set[str]:
    """The column names of ``table`` (lower case)."""
    with client.execute_query(f"select * from {qualified(client, table)} limit 0") as cur:
        return {str(d[0]).lower() for d in cur.description}


def dead_letters_to_replay(client: Any, reason: str | None, since: datetime | None) -> pl.DataFrame:
    """``file_key, line_no, reason, line, line_hash`` of the dead letters not replayed yet, those of one
    ``reason`` (exactly, or its family: ``wrong_type`` takes ``wrong_type:<field>``) and recorded
    since ``since`` (their load's time) if given; empty before the first dead letter."""
    schema = pl.Schema(
        {"file_key": pl.String(), "line_no": pl.Int32(), "reason": pl.String(), "line": pl.String()}
        | {"line_hash": pl.String()}
    )
    if not table_exists(client, S.T_DEAD):
        return pl.DataFrame(schema=schema)
    # dead letters written before these columns existed: none replayed, no hash
    columns = columns_of(client, S.T_DEAD)
    line_hash = "line_hash" if "line_hash" in columns else "cast(null as varchar) as line_hash"
    where, args = ["1 = 1"], []
    if "replayed_at" in columns:
        where.append("replayed_at is null")
    if reason is not None:
        where.append("(reason = ? or substr(reason, 1, ?) = ?)")
        args += [reason, len(reason) + 1, f"{reason}:"]
    sql = (
        f"select file_key, line_no, reason, line, {line_hash}, _dlt_load_id from {qualified(client, S.T_DEAD)} "
        f"where {' and '.join(where)} order by file_key, line_no"
    )
    df = select(client, sql, *args)
    if df.height == 0:
        return pl.DataFrame(schema=schema)
    if since is not None:
        # a dlt load id is the load's start as Unix seconds
        df = df.filter(pl.col("_dlt_load_id").cast(pl.Float64) >= since.timestamp())
    return df.select(schema.names()).cast(schema)
