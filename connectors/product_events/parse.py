"""Landing file bytes -> typed valid events + dead letters, with no per-line Python.

Lines are cut out of the decompressed buffer with numpy (zero-copy Arrow strings), DuckDB's
JSON functions validate and type them in one vectorised pass (``json_valid``, ``json_type``
over every contract path, one ``json_transform`` into typed columns; a ``json_keys`` pass
before it finds new fields), and the rules run in the same query as one ``CASE``: the first
failing rule of a line is its dead-letter reason, so every bad line has exactly one reason.
One in-memory DuckDB connection (:class:`LineParser`) serves every batch of a load.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, cast

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention
from isal import igzip, isal_zlib

from connectors.product_events import settings as S
from connectors.product_events import tables

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

# Column names a new field must not take: contract fields, every column the connector writes,
# dlt's own columns, and the parser's and pipeline's working columns.
_RESERVED = (
    set(S.FIELD_KINDS)
    | {c for t in tables.EVENT_TABLES for c in tables.SCHEMAS[t]}
    | {"_f", "_line_no", "_reason", "_line", "_row", "_load_id", "_dlt_load_id", "_dlt_id"}
)


def _ascii_lower(name: str) -> str:
    # DuckDB compares struct keys case-insensitively in ASCII only ("evé" and "evÉ" differ)
    return "".join(c.lower() if c.isascii() else c for c in name)


def _column_name(name: str) -> str:
    """The warehouse column a field name becomes (dlt's default snake_case naming convention)."""
    return str(NamingConvention().normalize_identifier(name))


def _name_keys(name: str) -> tuple[str, str]:
    """Two names clash when they are equal for DuckDB (ASCII case) or as warehouse columns (dlt)."""
    return _ascii_lower(name), _column_name(name)


_RESERVED_KEYS = {k for r in _RESERVED for k in _name_keys(r)}


@dataclass(frozen=True)
class NewFields:
    """The new fields (outside the contract) of a batch, sorted into what the parser does with them.

    ``plain``: fields that become a text column of their own (the common case).
    ``groups``: one column fed by several spellings of a field that are the same name to DuckDB or
    the warehouse (``promoCode``/``PromoCode``); a line carrying two of them is a dead letter.
    ``clashing``: fields whose name is a contract or connector column's but for case or separators
    (``event_ID``, ``eventId``, ``email_hash``); a line carrying one is a dead letter.
    """

    plain: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    clashing: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """The new columns of the batch (a group is named after its first spelling)."""
        return sorted([*self.plain, *(g[0] for g in self.groups)])


def classify_new_fields(keys: list[str]) -> NewFields:
    """Sort the distinct keys of a batch: contract fields and non-identifiers (ignored) aside, each
    new field is plain, one spelling of a group, or clashing with a contract/connector column."""
    new = sorted({k for k in keys if k not in S.FIELD_KINDS and k.isidentifier()})
    clashing = [k for k in new if not _RESERVED_KEYS.isdisjoint(_name_keys(k))]
    rest = [k for k in new if k not in clashing]
    # union of spellings that share either name key (transitively)
    group_of: dict[str, int] = {}
    groups: list[set[str]] = []
    for k in rest:
        hits = {group_of[n] for n in _name_keys(k) if n in group_of}
        g: set[str] = {k}
        for i in sorted(hits):
            g |= groups[i]
            groups[i] = set()
        groups.append(g)
        for member in g:
            for n in _name_keys(member):
                group_of[n] = len(groups) - 1
    real = sorted(tuple(sorted(g)) for g in groups if g)
    return NewFields(
        plain=tuple(g[0] for g in real if len(g) == 1),
        groups=tuple(g for g in real if len(g) > 1),
        clashing=tuple(clashing),
    )


@dataclass(frozen=True)
class FileLines:
    """One landing file cut into lines (Arrow strings, newline kept at the end of each).

    ``line_no``: the lines' numbers in their file when they are a selection of it (a dead-letter
    replay); None for a whole file (1, 2, ...)."""

    file_key: str
    lines: pa.StringArray
    line_no: pa.Int32Array | None = None

    @property
    def line_numbers(self) -> np.ndarray:
        """The number of each line in its file."""
        if self.line_no is not None:
            return np.asarray(self.line_no.to_numpy(zero_copy_only=False), dtype=np.int32)
        return np.arange(1, len(self.lines) + 1, dtype=np.int32)


class UnreadableFile(Exception):
    """A landing file that cannot be read as a whole: it is quarantined, not loaded in part.

    The message says why without any of the file's content; ``lines_read``: the file's lines
    when known (None: the file's lines were not all read)."""

    def __init__(self, message: str, lines_read: int | None = None) -> None:
        super().__init__(message)
        self.lines_read = lines_read


class FileTooLarge(UnreadableFile):
    """A file whose decompressed text exceeds the limit, refused as soon as it does."""


# isal ships igzip untyped (its GzipFile subclasses gzip's), and its stub declares isal_zlib.error
# as an instance: typed here, as what they are at runtime.
_GzipFile: Callable[..., gzip.GzipFile] = igzip.GzipFile
_GUNZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, cast(type[Exception], isal_zlib.error))


def gunzip(fileobj: BinaryIO, max_bytes: int, chunk: int = S.READ_CHUNK_BYTES) -> bytearray:
    """The decompressed text of a gzip stream, read in steps of ``chunk`` bytes: never more than
    ``max_bytes`` (+1, to see it is over) of text held, and the compressed bytes streamed.

    ISA-L's inflate (``isal.igzip``, ~2.5x zlib here; as fast in 4 MB steps as whole) reads
    several members (a sink that appends) and an empty file as ``gzip`` does. A truncated or
    corrupt stream, or bytes after it that are not gzip, raise :class:`UnreadableFile`: a file is
    loaded whole or not at all. Over the limit, :class:`FileTooLarge`.
    """
    out = bytearray()
    try:
        with _GzipFile(fileobj=fileobj, mode="rb") as gz:
            while True:
                part = gz.read(min(chunk, max_bytes + 1 - len(out)))
                if not part:
                    return out
                out += part
                if len(out) > max_bytes:
                    raise FileTooLarge(f"file too large: more than {max_bytes} bytes of text")
    except _GUNZIP_ERRORS as exc:
        kind = "truncated or not gzip" if isinstance(exc, EOFError | gzip.BadGzipFile) else "corrupt stream"
        raise UnreadableFile(f"unreadable gzip: {kind} ({type(exc).__name__})") from None


def split_lines(file_key: str, data: bytes | bytearray) -> FileLines:
    """Cut a decompressed buffer into lines without copying it (offsets from numpy).

    A final newline ends the last line rather than starting an empty one, as in every JSONL
    writer. Invalid UTF-8 is replaced (U+FFFD) so one bad byte cannot sink the whole file;
    such lines become dead letters (``invalid_utf8``).
    """
    if not data:
        return FileLines(file_key, pa.array([], pa.string()))
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
        return split_lines(file_key, bytes(data).decode("utf-8", "replace").encode("utf-8"))
    if typ == pa.large_string():
        arr = arr.cast(pa.string()) if len(data) < 2**31 - 1 else arr
    return FileLines(file_key, arr)


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
    none = np.empty(0, dtype=np.int32)
    idx = (
        np.concatenate([np.full(len(f.lines), i, dtype=np.int32) for i, f in enumerate(files)])
        if files
        else none
    )
    line_no = np.concatenate([f.line_numbers for f in files]) if files else none
    chunks = [f.lines for f in files if len(f.lines)]
    lines = pa.chunked_array(chunks, pa.string()) if chunks else pa.chunked_array([], pa.string())
    tbl = pa.table(
        {"_f": pa.array(idx, pa.int32()), "_line_no": pa.array(line_no, pa.int32()), "line": lines}
    )
    return tbl, keys


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _parse_sql(new: NewFields) -> str:
    """One DuckDB pass over ``lines``: the first failing rule of each line (``_reason``), its text
    when it fails (``_line``), and every contract field and extra as a typed column.

    Each line is parsed a few times by DuckDB's JSON reader (valid, root type, field types,
    typed transform), all inside the engine's vectorised, multithreaded execution; nothing
    per line reaches Python.
    """
    struct = {f: _DUCK_TYPE[S.FIELD_KINDS[f]] for f in _FIELDS} | {e: "VARCHAR" for e in new.plain}
    struct_sql = _quote("{" + ",".join(f'"{k}":"{v}"' for k, v in struct.items()) + "}")
    # spellings of a group cannot share one struct (DuckDB keys are case-insensitive): one each
    spellings = [k for g in new.groups for k in g]
    # presence of clashing names and spellings is read from the same json_type call
    watched = [*new.clashing, *spellings]
    paths = (
        "[" + ",".join(_quote(f'$."{f}"' if f in watched else f"$.{f}") for f in (*_FIELDS, *watched)) + "]"
    )
    idx = {f: i + 1 for i, f in enumerate((*_FIELDS, *watched))}  # DuckDB lists are 1-based
    reason = "case " + " ".join(f"when {c} then {r}" for c, r in _rules(new, idx)) + " end"
    out = {c: f'_v."{c}"' for c in struct}
    for g in new.groups:
        out[g[0]] = "coalesce(" + ", ".join(f"_s{idx[k]}" for k in g) + ")"
    cols = ", ".join(f'{e} as "{c}"' for c, e in out.items() if c in _FIELDS) + "".join(
        f', {out[c]} as "{c}"' for c in new.columns
    )
    one = "".join(
        ", case when _root = 'OBJECT' then json_transform(line, "
        + _quote('{"' + k + '":"VARCHAR"}')
        + f')."{k}" end as _s{idx[k]}'
        for k in spellings
    )
    # unpack the type list once, so the rules read plain columns
    unpack = ", ".join(f"_t[{i}] as _t{i}, coalesce(_t[{i}] <> 'NULL', false) as _p{i}" for i in idx.values())
    return _PARSE_SQL.format(
        cols=cols, reason=reason, unpack=unpack, paths=paths, struct_sql=struct_sql, one=one
    )


def _rules(new: NewFields, idx: dict[str, int]) -> list[tuple[str, str]]:
    """(condition, reason) of every rule in rule order, over the unpacked ``_t<i>``/``_p<i>``
    columns of ``idx``'s paths: one ``CASE``, so each line stops at its first failing rule."""

    def present(f: str) -> str:
        return f"_p{idx[f]}"

    lit = _quote
    rules: list[tuple[str, str]] = [
        ("_empty", lit(S.R_EMPTY)),
        ("_badutf", lit(S.R_ENCODING)),
        ("not _ok", lit(S.R_MALFORMED)),
        ("_root <> 'OBJECT'", lit(S.R_NOT_OBJECT)),
    ]
    # a key that is present, whatever its value, makes the line ambiguous
    rules += [(f"_t{idx[k]} is not null", lit(f"{S.R_NAME_CLASH}:{k}")) for k in new.clashing]
    for g in new.groups:
        n_present = " + ".join(f"(_t{idx[k]} is not null)::int" for k in g)
        rules.append((f"{n_present} > 1", lit(f"{S.R_NAME_CLASH}:{','.join(g)}")))
    rules += [(f"not {present(f)}", lit(f"{S.R_MISSING}:{f}")) for f in S.COMMON_REQUIRED]
    for f in _FIELDS:
        allowed = ",".join(lit(t) for t in _ALLOWED_JSON_TYPES[S.FIELD_KINDS[f]])
        # a string that is not a timestamp fails the typed transform: null value though present
        rules.append(
            (
                f'{present(f)} and (_t{idx[f]} not in ({allowed}) or _v."{f}" is null)',
                lit(f"{S.R_WRONG_TYPE}:{f}"),
            )
        )
    rules += _plausibility_rules()
    et = '_v."event_type"'
    types = ",".join(lit(t) for t in S.EVENT_TYPES)
    # the rule and the field, never the value: an event_type may hold anything (an e-mail)
    rules.append((f"{et} not in ({types})", lit(f"{S.R_UNKNOWN_TYPE}:event_type")))
    for etype, req in S.REQUIRED.items():
        rules += [(f"{et} = {lit(etype)} and not {present(f)}", lit(f"{S.R_MISSING}:{f}")) for f in req]
    rules.append(
        (
            f"{et} = 'user_signup' and not ({present('anonymous_id')} or {present('device_id')})",
            lit(S.R_MISSING + ":anonymous_id|device_id"),
        )
    )
    return rules


def _plausibility_rules() -> list[tuple[str, str]]:
    """Timestamps that parse but cannot be true (``infinity``, ``epoch``, 1970, year 294000, far
    ahead of arrival) fail ``implausible_timestamp:<field>``: ``received_at`` within an absolute
    range, every other timestamp within a range around it (``settings``). The reason names the
    field, never the value. Checked after the type rules: the values are typed and present."""
    rx = '_v."received_at"'
    before = f"interval '{int(S.TS_MAX_BEFORE_RECEIVED.total_seconds())} seconds'"
    after = f"interval '{int(S.TS_MAX_AFTER_RECEIVED.total_seconds())} seconds'"
    rules = [
        (
            f"not isfinite({rx}) or {rx} < timestamptz {_quote(S.RECEIVED_AT_MIN)} "
            f"or {rx} >= timestamptz {_quote(S.RECEIVED_AT_MAX)}",
            _quote(f"{S.R_IMPLAUSIBLE_TS}:received_at"),
        )
    ]
    for f in S.TIMESTAMP_FIELDS:
        if f == "received_at":
            continue
        v = f'_v."{f}"'
        rules.append(
            (
                f"{v} is not null and (not isfinite({v}) or {v} < {rx} - {before} or {v} > {rx} + {after})",
                _quote(f"{S.R_IMPLAUSIBLE_TS}:{f}"),
            )
        )
    return rules


# The parsing query, innermost first: validity and the UTF-8 marker; the root type (a valid
# document that opens with a brace is an object: no second parse) and blank lines (trim, a copy
# of each line, only on the invalid ones); the type list and typed struct of objects; the type
# list unpacked; the first failing rule; the output columns.
_PARSE_SQL = """
        select _f, _line_no, _reason, case when _reason is not null then line end as _line, {cols}
        from (
            select *, {reason} as _reason
            from (
              select *, {unpack}
              from (
                select *,
                       case when _root = 'OBJECT' then json_type(line, {paths}) end as _t,
                       case when _root = 'OBJECT' then json_transform(line, {struct_sql}) end as _v{one}
                from (
                    select *,
                           -- a valid document that opens with a brace is an object: no second parse
                           case when _ok then
                               case when starts_with(line, '{{') then 'OBJECT' else json_type(line) end
                           end as _root,
                           -- blank text is never valid JSON: trim (a copy of each line) only the invalid ones
                           case when _ok then false
                                else line is null or trim(line, chr(10) || chr(13) || ' ') = '' end as _empty
                    from (
                        select _f, _line_no, line, json_valid(line) as _ok, contains(line, chr(65533)) as _badutf
                        from lines
                    )
                )
              )
            )
        )
    """


# Lines per parsing query: bounds the query's working set (its typed result is ~4x the text),
# so a batch of any size is parsed in steps and only the compact typed frames accumulate.
CHUNK_LINES = 200_000


class LineParser:
    """Parses batches of lines with one in-memory DuckDB connection, kept for the whole load
    (opening one per batch costs a catalog and thread pool each time)."""

    def __init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect()
            self._con.execute("set TimeZone='UTC'")
        return self._con

    def close(self) -> None:
        """Release the DuckDB connection (the parser reopens one if used again)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> LineParser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, tbl: pa.Table, sql: str) -> pa.Table:
        con = self._connection()
        con.register("lines", tbl)
        try:
            return con.sql(sql).to_arrow_table()
        finally:
            con.unregister("lines")

    def parse(self, files: list[FileLines]) -> Parsed:
        """Validate and type every line of a batch of files (vectorised; see module docstring)."""
        tbl, keys = _lines_table(files)
        # json_keys of a valid document that is not an object is empty: no root-type test needed
        found = self._query(
            tbl, "select distinct unnest(json_keys(line)) as k from lines where json_valid(line)"
        ).column("k")
        new = classify_new_fields(found.to_pylist())
        extras = new.columns
        sql = _parse_sql(new)
        frames = []
        for start in range(0, max(tbl.num_rows, 1), CHUNK_LINES):
            res = self._query(tbl.slice(start, CHUNK_LINES), sql)
            df = pl.from_arrow(res)
            del res
            assert isinstance(df, pl.DataFrame)
            frames.append(df)
        del tbl
        df = pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]
        del frames
        key_col = pl.Series("_file_key", keys, dtype=pl.String)
        df = df.with_columns(_file_key=key_col.gather(df["_f"]) if len(keys) else pl.lit(None, pl.String))
        lines_read = pl.DataFrame(
            {"_file_key": keys, "lines_read": [len(f.lines) for f in files]},
            schema={"_file_key": pl.String, "lines_read": pl.UInt32},
        ).filter(pl.col("lines_read") > 0)
        is_bad = pl.col("_reason").is_not_null()
        if df["_reason"].null_count() == df.height:  # no dead letter: no copy of the batch
            bad, valid = df.clear(), df
        else:
            bad, valid = df.filter(is_bad), df.filter(~is_bad)
        dead = bad.select(
            "_file_key",
            "_line_no",
            pl.col("_reason").alias("reason"),
            pl.col("_line").str.strip_chars_end("\r\n").alias("line"),
        )
        valid = valid.drop("_f", "_reason", "_line")
        return Parsed(valid=valid, dead=dead, lines_read=lines_read, extras=extras)


def parse_lines(files: list[FileLines], parser: LineParser | None = None) -> Parsed:
    """Validate and type every line of a batch of files (``parser``: a connection to reuse)."""
    if parser is not None:
        return parser.parse(files)
    with LineParser() as own:
        return own.parse(files)
