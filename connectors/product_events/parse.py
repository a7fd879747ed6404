"""Landing file bytes -> typed valid events + dead letters, with no per-line Python.

Lines are cut out of the decompressed buffer with numpy (zero-copy Arrow strings), DuckDB's
JSON functions validate and type them in one vectorised pass (``json_valid``, ``json_type``
over every contract path, one ``json_transform`` into typed columns, ``json_keys`` to find new
fields), and Polars applies the rules: the first failing rule of a line is its dead-letter
reason, so every bad line has exactly one reason.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from connectors.product_events import settings as S

# DuckDB json_type names accepted for each contract kind (numbers may be written as 12 or 12.0).
_ALLOWED_JSON_TYPES: dict[str, tuple[str, ...]] = {
    S.STRING: ("VARCHAR",),
    S.TIMESTAMP: ("VARCHAR",),
    S.INTEGER: ("BIGINT", "UBIGINT"),
    S.NUMBER: ("BIGINT", "UBIGINT", "DOUBLE"),
    S.BOOLEAN: ("BOOLEAN",),
}
_DUCK_TYPE: dict[str, str] = {
    S.STRING: "VARCHAR",
    S.TIMESTAMP: "TIMESTAMPTZ",
    S.INTEGER: "BIGINT",
    S.NUMBER: "DOUBLE",
    S.BOOLEAN: "BOOLEAN",
}
_FIELDS = tuple(S.FIELD_KINDS)


@dataclass(frozen=True)
class FileLines:
    """One landing file cut into lines (Arrow strings, newline kept at the end of each)."""

    file_key: str
    lines: pa.StringArray
    truncated: bool


def decompress(data: bytes) -> tuple[bytes, bool]:
    """Gunzip a landing file; a truncated upload keeps what decompresses and is flagged."""
    try:
        return gzip.decompress(data), False
    except (EOFError, gzip.BadGzipFile, zlib.error):
        d = zlib.decompressobj(wbits=47)
        try:
            out = d.decompress(data)
        except zlib.error:
            out = b""
        return out, True


def split_lines(file_key: str, data: bytes, truncated: bool = False) -> FileLines:
    """Cut a decompressed buffer into lines without copying it (offsets from numpy).

    A final newline ends the last line rather than starting an empty one, as in every JSONL
    writer. Invalid UTF-8 is replaced (U+FFFD) so one bad byte cannot sink the whole file;
    such lines become dead letters (``invalid_utf8``).
    """
    if not data:
        return FileLines(file_key, pa.array([], pa.string()), truncated)
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10) + 1
    if ends.size == 0 or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    offsets = np.empty(ends.size + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends
    typ, otype = (pa.large_string(), np.int64) if len(data) >= 2**31 - 1 else (pa.string(), np.int32)
    arr = pa.Array.from_buffers(
        typ, ends.size, [None, pa.py_buffer(offsets.astype(otype)), pa.py_buffer(data)]
    )
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return split_lines(file_key, data.decode("utf-8", "replace").encode("utf-8"), truncated)
    if typ == pa.large_string():
        arr = arr.cast(pa.string()) if len(data) < 2**31 - 1 else arr
    return FileLines(file_key, arr, truncated)


@dataclass
class Parsed:
    """A batch of lines after parsing.

    ``valid``: one row per valid line with typed contract columns, extras as text,
    ``_file_key``/``_line_no``; raw ``email``/``phone`` still present (the caller hashes them).
    ``dead``: ``_file_key, _line_no, reason, line`` (line not yet masked).
    ``lines_read``: ``_file_key, lines_read``. ``extras``: new fields seen in this batch.
    """

    valid: pl.DataFrame
    dead: pl.DataFrame
    lines_read: pl.DataFrame
    extras: list[str]


def _lines_table(files: list[FileLines]) -> tuple[pa.Table, list[str]]:
    keys = [f.file_key for f in files]
    idx = (
        np.concatenate([np.full(len(f.lines), i, dtype=np.int32) for i, f in enumerate(files)])
        if files
        else []
    )
    line_no = np.concatenate([np.arange(1, len(f.lines) + 1, dtype=np.int32) for f in files]) if files else []
    chunks = [f.lines for f in files if len(f.lines)]
    lines = pa.chunked_array(chunks, pa.string()) if chunks else pa.chunked_array([], pa.string())
    tbl = pa.table(
        {"_f": pa.array(idx, pa.int32()), "_line_no": pa.array(line_no, pa.int32()), "line": lines}
    )
    return tbl, keys


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def parse_lines(files: list[FileLines]) -> Parsed:
    """Validate and type every line of a batch of files (vectorised; see module docstring)."""
    tbl, keys = _lines_table(files)
    con = duckdb.connect()
    try:
        con.execute("set TimeZone='UTC'")
        con.register("lines", tbl)
        found = con.sql(
            "select distinct unnest(json_keys(line)) as k from lines "
            "where json_valid(line) and json_type(line) = 'OBJECT'"
        ).fetchall()
        extras = sorted(k for (k,) in found if k not in S.FIELD_KINDS and k.isidentifier())
        struct = {f: _DUCK_TYPE[S.FIELD_KINDS[f]] for f in _FIELDS} | {e: "VARCHAR" for e in extras}
        struct_sql = _quote("{" + ",".join(f'"{k}":"{v}"' for k, v in struct.items()) + "}")
        paths = "[" + ",".join(_quote(f"$.{f}") for f in _FIELDS) + "]"
        res = con.sql(
            f"""
            select _f, _line_no,
                   json_valid(line) as _ok,
                   case when _ok then json_type(line) end as _root,
                   case when _root = 'OBJECT' then json_type(line, {paths}) end as _types,
                   case when _root = 'OBJECT' then json_transform(line, {struct_sql}) end as _v,
                   (line is null or trim(line, chr(10) || chr(13) || ' ') = '') as _empty,
                   contains(line, chr(65533)) as _badutf
            from lines
            """
        ).to_arrow_table()
    finally:
        con.close()
    df = pl.from_arrow(res)
    assert isinstance(df, pl.DataFrame)
    df = df.unnest("_v") if "_v" in df.columns and df.schema["_v"] != pl.Null else df
    key_col = pl.Series("_file_key", keys, dtype=pl.String)
    df = df.with_columns(_file_key=key_col.gather(df["_f"]) if len(keys) else pl.lit(None, pl.String))

    reason = _reasons(df)
    df = df.with_columns(_reason=reason)
    lines_read = df.group_by("_file_key").agg(pl.len().alias("lines_read"))
    bad = df.filter(pl.col("_reason").is_not_null()).select("_f", "_file_key", "_line_no", "_reason")
    if bad.height:
        text = pl.from_arrow(tbl.take(pa.array(_global_rows(tbl, bad), pa.int64())).column("line"))
        assert isinstance(text, pl.Series)
        bad = bad.with_columns(line=text.str.strip_chars_end("\r\n"))
    else:
        bad = bad.with_columns(line=pl.lit(None, pl.String))
    dead = bad.select("_file_key", "_line_no", pl.col("_reason").alias("reason"), "line")
    valid = df.filter(pl.col("_reason").is_null()).drop(
        "_f", "_ok", "_root", "_types", "_empty", "_badutf", "_reason"
    )
    return Parsed(valid=valid, dead=dead, lines_read=lines_read, extras=extras)


def _global_rows(tbl: pa.Table, bad: pl.DataFrame) -> np.ndarray:
    """Row positions of (file index, line number) pairs in the concatenated lines table."""
    sizes = np.bincount(tbl.column("_f").to_numpy(), minlength=int(bad["_f"].max()) + 1)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    f = bad["_f"].to_numpy()
    return starts[f] + bad["_line_no"].to_numpy() - 1


def _reasons(df: pl.DataFrame) -> pl.Expr:
    """The first failing rule of each line, or null for a valid line."""
    t = pl.col("_types")

    def jtype(i: int) -> pl.Expr:
        return t.list.get(i, null_on_oob=True)

    present = {f: jtype(i).is_not_null() & (jtype(i) != "NULL") for i, f in enumerate(_FIELDS)}
    wrong = []
    for i, f in enumerate(_FIELDS):
        kind = S.FIELD_KINDS[f]
        bad_json = present[f] & ~jtype(i).is_in(list(_ALLOWED_JSON_TYPES[kind]))
        # a string that is not a timestamp fails the typed transform: null value though present
        bad_value = present[f] & pl.col(f).is_null()
        wrong.append(pl.when(bad_json | bad_value).then(pl.lit(f"{S.R_WRONG_TYPE}:{f}")))
    missing_common = [pl.when(~present[f]).then(pl.lit(f"{S.R_MISSING}:{f}")) for f in S.COMMON_REQUIRED]
    et = pl.col("event_type")
    missing_specific = []
    for etype, req in S.REQUIRED.items():
        for f in req:
            missing_specific.append(pl.when((et == etype) & ~present[f]).then(pl.lit(f"{S.R_MISSING}:{f}")))
    signup_ids = present["anonymous_id"] | present["device_id"]
    missing_specific.append(
        pl.when((et == "user_signup") & ~signup_ids).then(pl.lit(f"{S.R_MISSING}:anonymous_id|device_id"))
    )
    unknown = pl.when(~et.is_in(list(S.EVENT_TYPES))).then(
        pl.lit(S.R_UNKNOWN_TYPE + ":") + et.str.slice(0, 40)
    )
    return (
        pl.when(pl.col("_empty"))
        .then(pl.lit(S.R_EMPTY))
        .when(pl.col("_badutf"))
        .then(pl.lit(S.R_ENCODING))
        .when(~pl.col("_ok"))
        .then(pl.lit(S.R_MALFORMED))
        .when(pl.col("_root") != "OBJECT")
        .then(pl.lit(S.R_NOT_OBJECT))
        .otherwise(pl.coalesce(*missing_common, *wrong, unknown, *missing_specific))
    )
