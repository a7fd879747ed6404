"""The typed column contract of every ``raw_events`` table this connector writes.

One Polars schema per table is the single source of truth: batches are cast to it before they
reach dlt, and the dlt column hints are derived from the very Arrow schema the data will have
(``py_arrow_to_table_schema_columns``), so dlt never sees a hint that differs from the data
(the cause of the "several column hints were different" warnings: primary-key columns are
``nullable: false`` in dlt but were nullable in Arrow). Declaring every column up front also
means each table exists with all its contract columns from the first load on, even when a batch
has no row for it (dbt staging selects them by name).
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa
from dlt.common.libs.pyarrow import py_arrow_to_table_schema_columns

from connectors.product_events import settings as S

TS = pl.Datetime("us", "UTC")
_KIND_DTYPE: dict[str, Any] = {
    S.STRING: pl.String,
    S.TIMESTAMP: TS,
    S.INTEGER: pl.Int64,
    S.NUMBER: pl.Float64,
    S.BOOLEAN: pl.Boolean,
}
LOAD_ID = "_load_id"
LINEAGE: dict[str, Any] = {"_file_key": pl.String, "_line_no": pl.Int32}


def _fields(names: tuple[str, ...]) -> dict[str, Any]:
    return {f: _KIND_DTYPE[S.FIELD_KINDS[f]] for f in names}


def _event_table(fields: tuple[str, ...], tail: dict[str, Any] | None = None) -> dict[str, Any]:
    cols = _fields(S.COMMON_REQUIRED) | _fields(fields) | (tail or {})
    return cols | {"event_date": pl.Date}


# Contract columns of each table (new fields of the events are appended after them, lineage last).
SCHEMAS: dict[str, dict[str, Any]] = {
    S.T_EVENTS: _event_table(S.EVENT_COLUMNS, {"email_hash": pl.String, "phone_hash": pl.String}),
    S.T_MMP: _event_table(S.MMP_COLUMNS),
    S.T_SKAN: _event_table(S.SKAN_COLUMNS),
    S.T_IDENTITY: {
        "from_user_id": pl.String,
        "to_user_id": pl.String,
        "merged_at": TS,
        "event_id": pl.String,
        "canonical_user_id": pl.String,
    },
    # line: PII masked; line_hash: HMAC of the raw line; replayed_at: set when ``roi deadletters
    # replay`` found the line passes today's rules
    S.T_DEAD: {
        "file_key": pl.String,
        "line_no": pl.Int32,
        "reason": pl.String,
        "line": pl.String,
        "line_hash": pl.String,
        "replayed_at": TS,
    },
    S.T_MANIFEST: {
        "file_key": pl.String,
        "file_url": pl.String,
        "size_bytes": pl.Int64,
        "modified_at": TS,
        "lines_read": pl.Int64,
        "loaded": pl.Int64,
        "duplicates_dropped": pl.Int64,
        "dead_letters": pl.Int64,
        "erased_dropped": pl.Int64,
        "replaced_earlier": pl.Int64,
        "truncated": pl.Boolean,
    },
}
EVENT_TABLES = (S.T_EVENTS, S.T_MMP, S.T_SKAN)
for _t in EVENT_TABLES:
    SCHEMAS[_t] |= LINEAGE

# merge key (also the primary key: never null)
KEYS: dict[str, tuple[str, ...]] = {
    S.T_EVENTS: ("event_id",),
    S.T_MMP: ("event_id",),
    S.T_SKAN: ("event_id",),
    S.T_IDENTITY: ("from_user_id",),
    S.T_DEAD: ("file_key", "line_no"),
    S.T_MANIFEST: ("file_key",),
}


def conform(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with the table's contract columns first (added as nulls when absent, cast to their
    type), then its other columns (new fields) except lineage, then lineage."""
    schema = SCHEMAS[table]
    head = [
        (pl.col(c).cast(t) if c in df.columns else pl.lit(None, t)).alias(c)
        for c, t in schema.items()
        if c not in LINEAGE
    ]
    extra = [c for c in df.columns if c not in schema]
    lineage = [
        (pl.col(c).cast(t) if c in df.columns else pl.lit(None, t)).alias(c) for c, t in LINEAGE.items()
    ]
    return df.select(*head, *extra, *(lineage if table in EVENT_TABLES else []))


def to_arrow(table: str, df: pl.DataFrame) -> pa.Table:
    """The Arrow table dlt gets: key fields marked non-nullable, as dlt declares primary keys."""
    at = df.to_arrow()
    keys = KEYS[table]
    target = pa.schema([f.with_nullable(False) if f.name in keys else f for f in at.schema])
    return at.cast(target)


def empty(table: str) -> pl.DataFrame:
    """An empty frame of the table's contract columns."""
    return conform(table, pl.DataFrame(schema=SCHEMAS[table]))


def column_hints(table: str) -> dict[str, Any]:
    """dlt ``columns=`` hints of the table, derived from its Arrow schema (plus ``_load_id``)."""
    schema = to_arrow(table, empty(table)).schema.append(pa.field(LOAD_ID, pa.string()))
    return dict(py_arrow_to_table_schema_columns(schema))
