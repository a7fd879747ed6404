"""Landing: one run's pull into the warehouse through dlt, as one load.

The raw tables of a connector:

- ``<platform>__<report>``: the latest pull of each (account, report_date) slice. dlt's
  delete-insert merge with the slice as ``merge_key`` replaces whole slices; because a
  merge-key delete only touches slices present in the data, every pulled slice also sends
  one *tombstone* row (``_tombstone`` is dlt's ``hard_delete`` column), so a slice that came
  back empty is emptied too.
- ``<platform>__<report>_history``: every row of every pull, append-only (the "history
  beside the merge table" option), so a replaced value stays queryable with its load id.
- ``<platform>__slices``: every slice pulled, with its row count, even when empty.
- a connector's further reports (``extra_reports``, e.g. Meta's daily conversions) land like
  the first in their own current and ``_history`` tables, replaced by the same slices.
- ``<platform>__campaigns`` / ``__ad_groups`` / ``__ads``: metadata kept as dlt ``scd2``
  with the run's logical time as the validity boundary.

With no key pulled twice (the usual case) the current table's rows are exactly the load's
history rows: dlt gets only the tombstones for the current table and :func:`fill_current`
copies the rows inside the warehouse, so they are written once, not staged and then copied.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.pipeline import LoadInfo
from dlt.common.schema.typing import TDeleteInsertStrategyDict, TScd2StrategyDict, TTableSchemaColumns
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase
from dlt.sources import DltResource, DltSource

from connector_sdk.completeness import (
    COMPLETE,
    DEFERRED,
    PARTIAL,
    PriorSlice,
    SliceKey,
    SliceOutcome,
    answer_digest,
    judge,
)
from connector_sdk.exceptions import ConnectorError
from connector_sdk.extract import EntityRows, SliceResult
from connector_sdk.keys import key_of
from connector_sdk.specs import EXTRACTED_AT_TYPE, TOMBSTONE, EntitySpec, ReportSpec

# Arrow items get dlt's own ``_dlt_load_id`` only with this normalizer option (dlt 1.31 adds
# it to JSON items by default, to Parquet/Arrow items only when asked).
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

_LOAD_ID = re.compile(r"[0-9]+(\.[0-9]+)?")  # dlt's load ids: epoch seconds

# The slice (merge_key) alone drives the delete: an OR with a primary key would turn dlt's
# delete into a nested-loop join, and its primary-key dedup window costs a sort of every
# pulled row. Keys are made unique in Arrow instead (:func:`unique_rows`).
_MERGE_SLICES: TDeleteInsertStrategyDict = {"disposition": "merge", "strategy": "delete-insert"}
_CURRENT_COLUMNS: TTableSchemaColumns = {
    TOMBSTONE: {"data_type": "bool", "hard_delete": True, "nullable": True},
    "_row_key": {"data_type": "text", "nullable": False, "unique": True},
}


class LandCounts(TypedDict):
    """What one load carried (``derive_current``: 1 when the current table is filled from history;
    ``outcomes``: every slice of the run with its status, in slice order)."""

    derive_current: int
    slices: int
    empty_slices: int
    rows: int
    pages: int
    entity_rows: int
    outcomes: list[SliceOutcome]


def table_names(platform: str, report: ReportSpec, entities: Sequence[EntitySpec]) -> dict[str, str]:
    """Every raw table a connector lands, by role (``current``, ``history``, ``slices``, entity tables)."""
    current = report.full_name or f"{platform}__{report.table}"
    names = {"current": current, "history": f"{current}_history", "slices": f"{platform}__slices"}
    for ent in entities:
        names[ent.table] = f"{platform}__{ent.table}"
    return names


@dataclass(frozen=True)
class Pull:
    """One run's report pull as the landing needs it.

    ``rows``: the pages of the slices applied, in pull order (None when none); ``unique``: the
    same with one row per ``_row_key``; ``outcomes``: every slice of the run (requested dates,
    dates the platform answered with, deferred ones) with its status; ``answers``: the row-key
    digest of each slice not applied (what a second pull must repeat to confirm it);
    ``pages``: how many non-empty pages were pulled.
    """

    platform: str
    report: ReportSpec
    rows: pa.Table | None
    unique: pa.Table | None
    outcomes: dict[SliceKey, SliceOutcome]
    answers: dict[SliceKey, str]
    pages: int
    pulled_at: datetime
    mode: str
    logical_time: datetime

    @classmethod
    def of(
        cls,
        platform: str,
        report: ReportSpec,
        results: Sequence[SliceResult],
        mode: str,
        logical_time: datetime,
        prior: Callable[[Sequence[SliceKey]], Mapping[SliceKey, PriorSlice]] | None = None,
    ) -> Pull:
        """The pull of ``results`` judged against the log (``prior`` reads it for the run's slices).

        Only the applied slices' rows are kept (every slice when nothing was held back).
        """
        parts = _parts(report, results)
        known = prior(sorted(parts)) if prior is not None else {}
        outcomes, answers = slice_outcomes(platform, report, parts, logical_time, known)
        applied = {k for k, o in outcomes.items() if o.applied}
        if len(applied) == len(outcomes):  # the usual case: every slice applied, no filtering
            pages = [p for r in results for p in r.pages]
        else:
            pages = [p for r in results for p in _applied_pages(report, r, applied)]
        rows = pa.concat_tables(pages) if pages else None
        unique = unique_rows(rows) if rows is not None else None
        n_pages = sum(len(r.pages) for r in results)
        return cls(
            platform, report, rows, unique, outcomes, answers, n_pages, datetime.now(UTC), mode, logical_time
        )

    @property
    def derive_current(self) -> bool:
        """True when no key was pulled twice: the current table is then filled from the history."""
        return self.rows is not None and self.unique is self.rows

    @property
    def applied(self) -> list[SliceKey]:
        """The slices this load replaces (tombstoned), sorted."""
        return sorted(k for k, o in self.outcomes.items() if o.applied)


@dataclass
class _Parts:
    """What the results of a run say about one slice."""

    rows: int = 0
    results: list[SliceResult] = dataclass_field(default_factory=list)


def _parts(report: ReportSpec, results: Sequence[SliceResult]) -> dict[SliceKey, _Parts]:
    """Rows per (account, date) and the windows that cover it: every requested date, plus any the platform answered with."""
    acc_col, date_col = report.slice_columns
    parts: dict[SliceKey, _Parts] = {}

    def part(key: SliceKey, r: SliceResult) -> _Parts:
        got = parts.setdefault(key, _Parts())
        if not any(x is r for x in got.results):
            got.results.append(r)
        return got

    for r in results:
        for d in r.window.dates():
            part((r.account.account_id, d), r)
        for p in r.pages:
            for g in p.group_by([acc_col, date_col]).aggregate([([], "count_all")]).to_pylist():
                part((str(g[acc_col]), g[date_col]), r).rows += int(g["count_all"])
    return parts


def slice_counts(report: ReportSpec, results: Sequence[SliceResult]) -> dict[SliceKey, int]:
    """Rows per (account, date): every requested date, plus any date the platform answered with."""
    return {k: v.rows for k, v in _parts(report, results).items()}


def slice_outcomes(
    platform: str,
    report: ReportSpec,
    parts: Mapping[SliceKey, _Parts],
    logical_time: datetime,
    prior: Mapping[SliceKey, PriorSlice],
) -> tuple[dict[SliceKey, SliceOutcome], dict[SliceKey, str]]:
    """Each slice's outcome (see :func:`connector_sdk.completeness.judge`), and the answers of those not applied."""
    date_col = report.slice_columns[1]
    outcomes: dict[SliceKey, SliceOutcome] = {}
    answers: dict[SliceKey, str] = {}
    for key, part in sorted(parts.items()):
        statuses = {r.status for r in part.results}
        detail = "; ".join(r.detail for r in part.results if r.detail)
        base = SliceOutcome(platform, key[0], key[1], COMPLETE, _expected(key, part), part.rows)
        if DEFERRED in statuses:
            wait = max(r.deferred_for or 0.0 for r in part.results)
            after = logical_time + timedelta(seconds=wait)
            outcomes[key] = replace(base, status=DEFERRED, resume_after=after, detail=detail)
            continue
        window_status = PARTIAL if PARTIAL in statuses else COMPLETE
        pages = [p for r in part.results for p in r.pages]
        answer = functools.cache(lambda pages=pages, day=key[1]: answer_digest(pages, date_col, day))
        judged = judge(window_status, detail, part.rows, answer, prior.get(key))
        outcomes[key] = replace(base, status=judged.status, applied=judged.applied, detail=judged.detail)
        if not judged.applied:
            answers[key] = answer()
    return outcomes, answers


def _expected(key: SliceKey, part: _Parts) -> int | None:
    """The platform's total for one slice, where it states one (see :class:`SliceOutcome`)."""
    if len(part.results) != 1:
        return None
    r = part.results[0]
    if r.expected_total is None or r.status == DEFERRED:
        return None
    if r.window.first == r.window.last == key[1]:
        return r.expected_total
    return part.rows if r.status == COMPLETE else None


def _applied_pages(report: ReportSpec, result: SliceResult, applied: set[SliceKey]) -> list[pa.Table]:
    """The pages of ``result`` restricted to the slices applied."""
    acc_col, date_col = report.slice_columns
    out = []
    for page in result.pages:
        pairs = page.select([acc_col, date_col]).group_by([acc_col, date_col]).aggregate([]).to_pylist()
        keys = {(str(x[acc_col]), x[date_col]) for x in pairs}
        if keys <= applied:
            out.append(page)
        elif keys & applied:
            out.append(page.filter(_slice_mask(page, acc_col, date_col, keys & applied)))
    return out


def _slice_mask(page: pa.Table, acc_col: str, date_col: str, keep: set[SliceKey]) -> pa.ChunkedArray:
    """True on the rows of ``page`` that belong to the slices ``keep``."""
    mask = None
    accounts = pc.cast(page.column(acc_col), pa.string())
    for acc in sorted({a for a, _ in keep}):
        days = pa.array(sorted(d for a, d in keep if a == acc), page.schema.field(date_col).type)
        m = pc.and_(pc.equal(accounts, acc), pc.is_in(page.column(date_col), value_set=days))
        mask = m if mask is None else pc.or_(mask, m)
    return mask


def build_source(
    pull: Pull, entities: Sequence[EntitySpec], entity_rows: EntityRows, extra: Sequence[Pull] = ()
) -> tuple[DltSource, LandCounts]:
    """The dlt source of one run (current, history, slice log, metadata) and what it carries.

    ``extra``: the pulls of the connector's further reports (same slices): each lands its own
    current and history tables; the slice log is the main report's.
    """
    tables = table_names(pull.platform, pull.report, entities)
    resources = [
        *_report_resources(pull, tables),
        dlt.resource(_slice_log(pull), name=tables["slices"], write_disposition="append"),
    ]
    for more in extra:
        resources.extend(_report_resources(more, table_names(more.platform, more.report, ())))
    n_entity_rows = 0
    for ent in entities:
        rows = entity_rows.get(ent.table)
        if rows is not None:
            n_entity_rows += len(rows)
            resources.append(_entity_resource(pull, ent, rows, tables[ent.table]))

    @dlt.source(name=pull.platform, max_table_nesting=0)
    def raw_tables() -> list[DltResource]:
        return resources

    pulled = [o for o in pull.outcomes.values() if o.status != DEFERRED]
    counts = LandCounts(
        derive_current=int(pull.derive_current),
        slices=len(pull.outcomes),
        empty_slices=sum(1 for o in pulled if o.rows_received == 0),
        rows=pull.rows.num_rows if pull.rows is not None else 0,
        pages=pull.pages,
        entity_rows=n_entity_rows,
        outcomes=[pull.outcomes[k] for k in sorted(pull.outcomes)],
    )
    return raw_tables(), counts


def _report_resources(pull: Pull, tables: dict[str, str]) -> list[DltResource]:
    """A report's current table (slice merge with tombstones) and its append-only history."""
    return [
        dlt.resource(
            _current_items(pull),
            name=tables["current"],
            write_disposition=_MERGE_SLICES,
            merge_key=list(pull.report.slice_columns),
            columns=_CURRENT_COLUMNS,
        ),
        dlt.resource(_history_items(pull), name=tables["history"], write_disposition="append"),
    ]


def _load_id() -> str:
    return str(dlt.current.load_package_state()["load_id"])


def _with_load_id(table: pa.Table, load_id: str) -> pa.Table:
    return table.append_column("_load_id", pa.repeat(pa.scalar(load_id, pa.string()), table.num_rows))


def _current_items(pull: Pull) -> Iterator[pa.Table]:
    """Pulled rows only when a key came twice (else :func:`fill_current` copies them), then the tombstones."""
    load_id = _load_id()
    keys = (*pull.report.slice_columns, "_row_key")
    target: pa.Schema | None = None
    if pull.rows is not None and pull.unique is not None:
        extra = [pa.field("_load_id", pa.string()), pa.field(TOMBSTONE, pa.bool_())]
        target = _keys_not_null(pa.schema([*pull.rows.schema, *extra]), keys)
        if not pull.derive_current:
            t = _with_load_id(pull.unique, load_id)
            yield t.append_column(TOMBSTONE, pa.nulls(t.num_rows, pa.bool_())).cast(target)
    if pull.applied:
        t = _tombstones(pull, load_id)  # same column order as the pages
        yield t.cast(target if target is not None else _keys_not_null(t.schema, keys))


def _tombstones(pull: Pull, load_id: str) -> pa.Table:
    """One row per applied slice, only the slice columns set, marked for dlt's hard delete."""
    acc_col, date_col = pull.report.slice_columns
    keys = pull.applied
    n = len(keys)
    cols: dict[str, pa.Array] = {}
    for fld in pull.report.schema:
        if fld.name == acc_col:
            cols[fld.name] = pa.array([k[0] for k in keys], fld.type)
        elif fld.name == date_col:
            cols[fld.name] = pa.array([k[1] for k in keys], fld.type)
        else:
            cols[fld.name] = pa.nulls(n, fld.type)
    cols["_row_key"] = pa.array([key_of(pull.platform, "__slice__", a, d) for a, d in keys], pa.string())
    cols["_extracted_at"] = pa.array([pull.pulled_at] * n, EXTRACTED_AT_TYPE)
    cols["_load_id"] = pa.array([load_id] * n, pa.string())
    cols[TOMBSTONE] = pa.array([True] * n, pa.bool_())
    return pa.table(cols)


def _history_items(pull: Pull) -> Iterator[pa.Table]:
    if pull.rows is not None:
        yield _with_load_id(pull.rows, _load_id())


def _slice_log(pull: Pull) -> Iterator[pa.Table]:
    """Every slice of the run with its row count and outcome; a run other than a backfill also moves the incremental state.

    ``status``/``applied``/``answer`` are what the next run's :func:`prior_slices` reads to
    confirm a slice that was not applied.
    """
    keys = sorted(pull.outcomes)
    out = [pull.outcomes[k] for k in keys]
    n = len(keys)
    yield pa.table(
        {
            "account_id": pa.array([k[0] for k in keys], pa.string()),
            "report_date": pa.array([k[1] for k in keys], pa.date32()),
            "_load_id": pa.array([_load_id()] * n, pa.string()),
            "row_count": pa.array([o.rows_received for o in out], pa.int64()),
            "pulled_at": pa.array([pull.pulled_at] * n, EXTRACTED_AT_TYPE),
            "mode": pa.array([pull.mode] * n, pa.string()),
            "logical_time": pa.array([pull.logical_time] * n, EXTRACTED_AT_TYPE),
            "status": pa.array([o.status for o in out], pa.string()),
            "applied": pa.array([o.applied for o in out], pa.bool_()),
            "rows_expected": pa.array([o.rows_expected for o in out], pa.int64()),
            "resume_after": pa.array([o.resume_after for o in out], EXTRACTED_AT_TYPE),
            "answer": pa.array([pull.answers.get(k) for k in keys], pa.string()),
            "detail": pa.array([o.detail or None for o in out], pa.string()),
        }
    )
    if pull.mode != "backfill":  # backfills never move incremental state
        dlt.current.source_state()["last_logical_time"] = pull.logical_time.isoformat()


def _entity_resource(pull: Pull, ent: EntitySpec, rows: list[dict[str, Any]], table: str) -> DltResource:
    """Metadata as dlt ``scd2``: valid from the run's logical time, versioned by a hash of its columns."""
    scd2: TScd2StrategyDict = {
        "disposition": "merge",
        "strategy": "scd2",
        "boundary_timestamp": pull.logical_time,
        "row_version_column_name": "_version_hash",
    }
    return dlt.resource(
        _entity_items(ent, rows, pull.pulled_at),
        name=table,
        write_disposition=scd2,
        merge_key="account_id",
        columns={c: {"data_type": "text", "nullable": True} for c in ent.columns},
    )


def _entity_items(
    ent: EntitySpec, rows: list[dict[str, Any]], pulled_at: datetime
) -> Iterator[list[dict[str, Any]]]:
    load_id = _load_id()
    out = []
    for r in rows:
        rec = {c: r.get(c) for c in ent.columns}
        # the version hash covers business columns only, so a re-pull of unchanged metadata is
        # not a new version
        text = "|".join("" if rec[c] is None else str(rec[c]) for c in ent.columns)
        rec["_version_hash"] = hashlib.md5(text.encode()).hexdigest()
        rec["_load_id"] = load_id
        rec["_extracted_at"] = pulled_at
        out.append(rec)
    yield out


def run_source(pipeline: dlt.Pipeline, source: DltSource, platform: str) -> LoadInfo:
    """One dlt run of ``source``; on failure the half-made package is dropped, so no later run loads it."""
    try:
        return pipeline.run(source)
    except Exception as exc:
        with contextlib.suppress(Exception):
            pipeline.drop_pending_packages()
        raise ConnectorError(
            f"loading into the warehouse failed: {first_line(exc)}", platform=platform
        ) from exc


def last_load_id(info: LoadInfo) -> str | None:
    """The id of the last package a dlt run loaded (None when it loaded nothing)."""
    ids = getattr(info, "loads_ids", None)
    return str(ids[-1]) if ids else None


def fill_current(pipeline: dlt.Pipeline, tables: dict[str, str], load_id: str, platform: str) -> None:
    """Copy the history rows of load ``load_id`` into the current table (one INSERT, atomic).

    dlt's merge of that load has already emptied every slice it pulled (the tombstones), so
    after this statement the current table holds exactly the latest pull of each slice.
    Plain ``INSERT ... SELECT`` with quoted, case-folded names from dlt's SQL client: the
    same statement runs on DuckDB and Snowflake.
    """
    if not _LOAD_ID.fullmatch(load_id):
        raise ConnectorError(f"unexpected load id {load_id!r}", platform=platform)
    with pipeline.sql_client() as client:
        current = client.make_qualified_table_name(tables["current"])
        history = client.make_qualified_table_name(tables["history"])
        # every column the two tables share, as the warehouse names them (``_dlt_load_id`` only
        # where dlt's normalizer added it; ``_tombstone`` stays NULL)
        in_history = set(_columns(client, history))
        shared = [c for c in _columns(client, current) if c in in_history]
        cols = ", ".join(client.escape_column_name(c, casefold=False) for c in shared)
        client.execute_sql(
            f"INSERT INTO {current} ({cols}) SELECT {cols} FROM {history} "
            f"WHERE {client.escape_column_name('_load_id')} = '{load_id}'"
        )


def unfilled_load(pipeline: dlt.Pipeline, tables: dict[str, str], platform: str) -> str | None:
    """The latest completed load when its rows never reached the current table (a run killed in between).

    Only the latest completed load can be unfilled (every run restores before it loads): when
    it has history rows but the current table has none of it, its merge already emptied its
    slices and the copy never ran. Loads dlt never completed (not in ``_dlt_loads``) are left alone.
    """
    with pipeline.sql_client() as client:
        q = client.escape_column_name
        try:
            latest = client.execute_sql(
                f"SELECT {q('load_id')} FROM {client.make_qualified_table_name('_dlt_loads')} "
                f"WHERE {q('schema_name')} = '{platform}' AND {q('status')} = 0 "
                f"ORDER BY {q('inserted_at')} DESC LIMIT 1"
            )
            if not latest or not _LOAD_ID.fullmatch(load_id := str(latest[0][0])):
                return None
            if not _has_rows(client, tables["history"], load_id) or _has_rows(
                client, tables["current"], load_id
            ):
                return None
        except DatabaseUndefinedRelation:
            return None  # nothing loaded yet
    return load_id


_LOG_EXTRA = ("status", "applied", "answer", "rows_expected", "resume_after", "detail")
"""Slice-log columns a log written before slice outcomes lacks (read as NULL: applied, complete)."""


def _log_select(client: SqlClientBase[Any], table: str) -> tuple[str, str]:
    """The slice log's columns as ``a, d, n, st, ap, ans, exp, res, det, pa, lid`` and its qualified name."""
    q = client.escape_column_name
    name = client.make_qualified_table_name(table)
    have = {c.lower() for c in _columns(client, name)}
    extra = [q(c) if c in have else "NULL" for c in _LOG_EXTRA]
    cols = [q("account_id"), q("report_date"), q("row_count"), *extra, q("pulled_at"), q("_load_id")]
    aliases = ("a", "d", "n", "st", "ap", "ans", "exp", "res", "det", "pa", "lid")
    return ", ".join(f"{c} AS {a}" for c, a in zip(cols, aliases, strict=True)), name


def prior_slices(
    pipeline: dlt.Pipeline, tables: Mapping[str, str], keys: Sequence[SliceKey]
) -> dict[SliceKey, PriorSlice]:
    """What the slice log says of ``keys``: rows loaded now and the latest pull (see :class:`PriorSlice`).

    One query: the latest entry per slice and kind (applied, not applied, deferred) over the
    dates of ``keys``; a log written before slice outcomes counts every pull as applied.
    """
    wanted = set(keys)
    if not wanted:
        return {}
    first, last = min(d for _, d in wanted), max(d for _, d in wanted)
    try:
        with pipeline.sql_client() as client:
            select, name = _log_select(client, tables["slices"])
            rows = client.execute_sql(
                f"SELECT a, d, n, st, ap, ans, pa FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY a, d, "
                f"COALESCE(ap, TRUE), COALESCE(st, '{COMPLETE}') = '{DEFERRED}' ORDER BY pa DESC, lid DESC) AS rn "
                f"FROM (SELECT {select} FROM {name} WHERE {client.escape_column_name('report_date')} "
                f"BETWEEN DATE '{first.isoformat()}' AND DATE '{last.isoformat()}') s) t WHERE rn = 1"
            )
    except DatabaseUndefinedRelation:
        return {}  # nothing logged yet
    latest: dict[SliceKey, dict[str, Any]] = {}
    for a, d, n, st, ap, ans, pulled in rows or []:
        key = (str(a), _as_date(d))
        if key not in wanted or st == DEFERRED:
            continue
        entry = latest.setdefault(key, {"loaded": None, "last": None})
        applied = ap is None or bool(ap)
        if applied:
            entry["loaded"] = int(n)
        if entry["last"] is None or pulled > entry["last"][0]:
            entry["last"] = (pulled, applied, int(n), ans)
    return {k: PriorSlice(e["loaded"], e["last"][1], e["last"][2], e["last"][3]) for k, e in latest.items()}


def open_slices(pipeline: dlt.Pipeline, tables: Mapping[str, str], platform: str) -> list[SliceOutcome]:
    """Slices whose latest entry in the log is partial or deferred (not applied), oldest date first."""
    try:
        with pipeline.sql_client() as client:
            select, name = _log_select(client, tables["slices"])
            rows = client.execute_sql(
                f"SELECT a, d, n, st, exp, res, lid, det FROM (SELECT *, ROW_NUMBER() OVER "
                f"(PARTITION BY a, d ORDER BY pa DESC, lid DESC) AS rn FROM (SELECT {select} FROM {name}) s) t "
                f"WHERE rn = 1 AND st IN ('{PARTIAL}', '{DEFERRED}') AND NOT COALESCE(ap, FALSE) ORDER BY d, a"
            )
    except DatabaseUndefinedRelation:
        return []
    return [
        SliceOutcome(
            platform,
            str(a),
            _as_date(d),
            str(st),
            None if exp is None else int(exp),
            int(n),
            resume_after=_as_utc_or_none(res),
            load_id=str(lid),
            detail=str(det or ""),
        )
        for a, d, n, st, exp, res, lid, det in rows or []
    ]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _as_utc_or_none(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


def _columns(client: SqlClientBase[Any], table: str) -> list[str]:
    with client.execute_query(f"SELECT * FROM {table} WHERE 1 = 0") as cursor:
        return [str(d[0]) for d in cursor.description]


def _has_rows(client: SqlClientBase[Any], table: str, load_id: str) -> bool:
    found = client.execute_sql(
        f"SELECT 1 FROM {client.make_qualified_table_name(table)} "
        f"WHERE {client.escape_column_name('_load_id')} = '{load_id}' LIMIT 1"
    )
    return bool(found)


def finish_pending_loads(pipeline: dlt.Pipeline) -> list[str]:
    """Load the packages a killed run left behind, before any new data is extracted.

    A run killed between dlt's normalize and load leaves a complete package on disk. Given
    new data, dlt 1.31's ``run()`` loads the old package and drops the new data (with a
    warning), so a rerun would land the stale pull. Finishing the old package first, then
    pulling, keeps slice replacement in time order: the fresh pull replaces the stale one.
    """
    if not pipeline.has_pending_data:
        return []
    pipeline.normalize()
    info = pipeline.load()
    return [str(i) for i in (info.loads_ids or [])]


def unique_rows(table: pa.Table) -> pa.Table:
    """``table`` with one row per ``_row_key``, the last one pulled (pages that overlapped)."""
    keys = table.column("_row_key")
    if pc.count_distinct(keys).as_py() == table.num_rows:
        return table
    indexed = table.append_column("_i", pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by("_row_key").aggregate([("_i", "max")]).column("_i_max")
    # the rows at those positions, in pull order (not the positions of the sorted positions)
    return table.take(pc.take(last, pc.sort_indices(last)))


def _keys_not_null(schema: pa.Schema, keys: Sequence[str]) -> pa.Schema:
    """``schema`` with key columns marked not-null, as dlt's merge hints declare them."""
    return pa.schema([f.with_nullable(False) if f.name in keys else f for f in schema])


def first_line(exc: BaseException) -> str:
    """The innermost cause's first line (dlt wraps exceptions several levels deep)."""
    inner: BaseException = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__
