"""Extraction: the slices a run pulls, pulling them side by side, and pages as Arrow tables.

A run pulls (account, date window) slices; a connector's ``fetch_report`` pages one slice and
hands each page's wire rows to :func:`report_page`, which applies the report's field map
(:class:`~connector_sdk.specs.Field`). :func:`keyed_pages` then adds the SDK's own columns
(``_row_key``, ``_extracted_at``). Nothing here touches the warehouse: a run fetches
everything first, so a failed request commits nothing.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from connector_sdk.completeness import COMPLETE, DEFERRED
from connector_sdk.exceptions import PullDeferred
from connector_sdk.keys import row_keys
from connector_sdk.specs import EXTRACTED_AT_TYPE, PAGE, REQUIRED, Account, Field, ReportSpec
from connector_sdk.windows import DateWindow, report_dates, split_windows

_R = TypeVar("_R")

EntityRows = dict[str, list[dict[str, Any]]]
"""Metadata rows per entity table name."""


@dataclass
class SliceResult:
    """What one (account, window) fetch produced: its non-empty pages, keyed, and its verdict.

    ``status``: ``complete``, ``partial`` (``detail`` says why) or ``deferred`` (not pulled:
    the platform asked to wait ``deferred_for`` seconds). ``expected_total`` and
    ``items_received``: the platform's total over the window's paged requests and the items
    they held (see :mod:`connector_sdk.completeness`).

    ``extra``: the pages of the connector's further reports of the same slice, by report table.
    """

    account: Account
    window: DateWindow
    pages: list[pa.Table]
    status: str = COMPLETE
    detail: str = ""
    expected_total: int | None = None
    items_received: int = 0
    deferred_for: float | None = None
    extra: dict[str, list[pa.Table]] = dataclasses.field(default_factory=dict)

    @classmethod
    def deferred(cls, account: Account, window: DateWindow, deferral: PullDeferred) -> SliceResult:
        """A window not pulled because the pull was deferred."""
        return cls(account, window, [], DEFERRED, str(deferral), deferred_for=deferral.delay_seconds)


def plan(
    accounts: Sequence[Account],
    mode: str,
    logical_time: datetime,
    start: date | None,
    end: date | None,
    *,
    lookback_days: int,
    max_span_days: int,
    reopen: Sequence[tuple[str, date]] = (),
) -> list[tuple[Account, DateWindow]]:
    """The (account, window) requests of a run: dates in each account's zone, cut by max span.

    ``reopen``: (account_id, report_date) slices an earlier run left open (deferred, partial),
    pulled again with the mode's dates; those of accounts no longer listed are left out.
    """
    extra: dict[str, set[date]] = {}
    for account_id, day in reopen:
        extra.setdefault(str(account_id), set()).add(day)
    tasks: list[tuple[Account, DateWindow]] = []
    for acc in accounts:
        dates = report_dates(
            mode, logical_time, acc.time_zone, lookback_days=lookback_days, start=start, end=end
        )
        dates = [*dates, *extra.get(acc.account_id, ())]
        tasks.extend((acc, w) for w in split_windows(dates, max_span_days))
    return tasks


def keyed_pages(platform: str, grain: Sequence[str], pages: Iterable[pa.Table]) -> list[pa.Table]:
    """The non-empty pages with ``_row_key`` (md5 of the grain) and ``_extracted_at`` appended."""
    out: list[pa.Table] = []
    for page in pages:
        extracted = datetime.now(UTC)
        if page.num_rows == 0:
            continue
        page = page.append_column("_row_key", row_keys(platform, page, grain))
        stamp = pa.repeat(pa.scalar(extracted, EXTRACTED_AT_TYPE), page.num_rows)
        out.append(page.append_column("_extracted_at", stamp))
    return out


def pull_all(
    name: str,
    workers: int,
    slices: Sequence[tuple[Account, DateWindow]],
    fetch_slice: Callable[[Account, DateWindow], SliceResult],
    accounts: Sequence[Account],
    fetch_entities: Callable[[Sequence[Account]], EntityRows] | None,
    stop: threading.Event | None = None,
) -> tuple[list[SliceResult], EntityRows, PullDeferred | None]:
    """Every slice, and the metadata of every account, on ``workers`` threads (and the deferral, if any).

    One metadata task per account is queued behind the reports: an account's lists start as
    soon as a worker is free instead of after every report of every account, and the accounts'
    lists run side by side (each account has its own rate limiter).

    A failure raises (the first one; the others are cancelled). A
    :class:`~connector_sdk.exceptions.PullDeferred` does not: it sets ``stop`` (the sessions'
    cancel event, so requests in flight end at their next attempt), cancels what has not
    started, and every window not fetched comes back as a deferred :class:`SliceResult`
    (the longest wait asked for); the windows fetched before stay. Metadata of an account
    whose lists were deferred is left out (its rows are kept as they are).
    """
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        futures = [pool.submit(_stopping(fetch_slice, stop), acc, w) for acc, w in slices]
        ent_futures = (
            [pool.submit(_stopping(fetch_entities, stop), [acc]) for acc in accounts]
            if fetch_entities
            else []
        )
        deferral = _wait_all([*futures, *ent_futures], stop)
    results = [
        f.result() if deferral is None or _succeeded(f) else SliceResult.deferred(acc, w, deferral)
        for f, (acc, w) in zip(futures, slices, strict=True)
    ]
    parts = [f.result() for f in ent_futures if _succeeded(f)]
    entities: EntityRows = {}
    if fetch_entities is not None and not accounts:
        entities = fetch_entities(accounts)
    for part in parts:
        for table, rows in part.items():
            entities.setdefault(table, []).extend(rows)  # account order, as one call would give
    return results, entities, deferral


def _wait_all(futures: Sequence[Future[Any]], stop: threading.Event | None) -> PullDeferred | None:
    """Wait for every future; the first failure raises, deferrals are gathered (the longest returned)."""
    deferral: PullDeferred | None = None
    for f in as_completed(futures):
        exc = None if f.cancelled() else f.exception()
        if exc is None:
            continue
        if stop is not None:
            stop.set()
        _cancel(futures)
        if not isinstance(exc, PullDeferred):
            raise exc
        if deferral is None or exc.delay_seconds > deferral.delay_seconds:
            deferral = exc
    return deferral


def _stopping(fn: Callable[..., _R], stop: threading.Event | None) -> Callable[..., _R]:
    """``fn`` that sets ``stop`` when it fails, so a worker does not start the next task's request first."""

    def call(*args: Any) -> _R:
        try:
            return fn(*args)
        except BaseException:
            if stop is not None:
                stop.set()
            raise

    return call


def _succeeded(f: Future[Any]) -> bool:
    return f.done() and not f.cancelled() and f.exception() is None


def _cancel(futures: Iterable[Future[Any]]) -> None:
    for f in futures:
        f.cancel()


def page_values(account: Account, **values: Any) -> dict[str, Any]:
    """The values of path-less fields on a page: the account's id, currency and time zone, then ``values``."""
    return {
        "account_id": account.account_id,
        "currency": account.currency,
        "time_zone": account.time_zone,
        **values,
    }


def report_page(
    report: ReportSpec, rows: Sequence[Mapping[str, Any]] | pa.StructArray, page: Mapping[str, Any]
) -> pa.Table:
    """One page of the report from its wire rows, through the report's field map.

    ``rows`` are parsed JSON objects, or an Arrow ``StructArray`` from a decoder (read
    column-wise: no Python object per row; a missing path is null). ``page`` holds the values
    of path-less fields (see :func:`page_values`).
    """
    n = len(rows)
    arrays = []
    for field in report.fields:
        if field.path is None:
            arrays.append(pa.repeat(pa.scalar(_page_value(field, page), field.type), n))
        elif isinstance(rows, pa.StructArray):
            arrays.append(_struct_column(rows, field, n))
        else:
            arrays.append(_column([field_value(field, row, page) for row in rows], field.type))
    return pa.Table.from_arrays(arrays, schema=report.schema)


def entity_rows(
    fields: Sequence[Field], records: Iterable[Mapping[str, Any]], page: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Metadata rows from wire records: the page's values, then the fields' (the landing keeps its columns)."""
    return [{**page, **{f.column: field_value(f, record, page) for f in fields}} for record in records]


def field_value(field: Field, row: Mapping[str, Any], page: Mapping[str, Any]) -> Any:
    """One field of one wire row: looked up, defaulted when empty, converted."""
    if field.path is None:
        return _page_value(field, page)
    value = _lookup(row, field.path, required=field.default is REQUIRED)
    if value is None or value == "":
        if field.default is REQUIRED or field.default is None:
            return None
        if field.default is PAGE:
            return page.get(field.column)
        value = field.default
    return field.convert(value) if field.convert is not None else value


def _page_value(field: Field, page: Mapping[str, Any]) -> Any:
    if field.column in page:
        return page[field.column]
    if field.default is REQUIRED or field.default is PAGE:
        raise ValueError(f"field {field.column!r} has no path, no page value and no default")
    return field.default


@lru_cache(maxsize=256)
def _keys(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _lookup(row: Mapping[str, Any], path: str | tuple[str, ...], *, required: bool) -> Any:
    """The value at a dotted ``path`` (the first non-empty of several); a required path must exist."""
    if isinstance(path, tuple):
        for alternative in path:
            value = _lookup(row, alternative, required=False)
            if value is not None and value != "":
                return value
        return None
    node: Any = row
    for key in _keys(path):
        if required:
            node = node[key]  # a KeyError names the missing key, as a platform change deserves
        else:
            node = node.get(key) if isinstance(node, Mapping) else None
            if node is None:
                return None
    return node


def _column(values: list[Any], type_: pa.DataType) -> pa.Array:
    # money arrives as decimal strings; Arrow converts them exactly, Python floats would not
    if pa.types.is_decimal(type_):
        return pc.cast(pa.array(values, pa.string()), type_)
    return pa.array(values, type_)


def _struct_column(rows: pa.StructArray, field: Field, n: int) -> pa.Array:
    """A field read column-wise from Arrow rows: cast to its type, empty values defaulted."""
    paths = field.path if isinstance(field.path, tuple) else (field.path or "",)
    found = [_cast(leaf, field.type) for p in paths if (leaf := _leaf(rows, _keys(p))) is not None]
    arr = pc.coalesce(*found) if len(found) > 1 else found[0] if found else pa.nulls(n, field.type)
    if field.default is not REQUIRED and field.default is not PAGE and field.default is not None:
        arr = pc.fill_null(arr, pa.scalar(field.default, field.type))
    return arr


def _cast(arr: pa.Array, type_: pa.DataType) -> pa.Array:
    if pa.types.is_floating(arr.type) and pa.types.is_string(type_):
        # an id that arrived as a JSON number (types inferred from a page that broke the wire schema)
        return pc.cast(pc.cast(arr, pa.int64()), type_)
    return pc.cast(arr, type_)


def _leaf(rows: pa.StructArray, keys: tuple[str, ...]) -> pa.Array | None:
    arr: pa.Array = rows
    for name in keys:
        if not isinstance(arr.type, pa.StructType) or arr.type.get_field_index(name) < 0:
            return None
        arr = pc.struct_field(arr, name)
    return arr
