"""Own keys for raw rows: ``_row_key`` is the MD5 of the natural grain.

Platforms give report rows no ids, so we derive one from the columns that make a row
unique (platform, account, campaign, ad group, ad, date, hour...). MD5 of the values joined
with ``|`` is reproducible in SQL on both warehouses (``md5(concat_ws('|', ...))``), so a
model or an auditor can recompute it; nulls become empty strings.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

_LOCAL = threading.local()


def _duckdb() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection per thread (hashing only; never the warehouse)."""
    con: duckdb.DuckDBPyConnection | None = getattr(_LOCAL, "con", None)
    if con is None:
        con = _LOCAL.con = duckdb.connect(":memory:")
    return con


def row_keys(platform: str, table: pa.Table, grain: Sequence[str]) -> pa.Array:
    """The ``_row_key`` column for ``table``: md5(platform | grain values...) as hex."""
    if table.num_rows == 0:
        return pa.array([], pa.string())
    parts = [pa.array([platform] * table.num_rows, pa.string())]
    for col in grain:
        parts.append(pc.fill_null(pc.cast(table.column(col), pa.string()), ""))
    joined = pc.binary_join_element_wise(*parts, "|")
    # DuckDB's md5 is the same digest as hashlib's over the UTF-8 bytes, computed column-wise
    # (no Python call per row); the text hashed is fixed by Arrow's cast-to-string, so keys stay
    # stable across library versions (unlike polars' or Arrow's own hash functions).
    con = _duckdb()
    con.register("keys_input", pa.table({"s": joined}))
    try:
        out = con.sql("select md5(s) as k from keys_input").to_arrow_table()
    finally:
        con.unregister("keys_input")
    return out.column("k").combine_chunks().cast(pa.string())


def key_of(platform: str, *values: object) -> str:
    """The same key for one row given as plain values (tombstones, tests)."""
    text = "|".join([platform] + ["" if v is None else str(v) for v in values])
    return hashlib.md5(text.encode()).hexdigest()
