"""The connector base class: a platform declares its particulars, the base runs the load.

A subclass declares *what* is particular to its platform (host, report columns and grain,
paginator and request shape in :meth:`Connector.fetch_report`, error signals in
:meth:`Connector.classify`, lookback days, maximum span per request, credentials, entity
tables). The base owns *how*: HTTP through dlt's ``RESTClient`` and an :class:`ApiSession`
(retries, backoff, token refresh, per-account rate limit), bounded concurrency, date
windows in the account's time zone, restatement lookback, ``_row_key``, ``_load_id`` and
``_extracted_at``, and landing into the raw tables:

- ``<platform>__<report>``: the latest pull of each (account, report_date) slice. dlt's
  delete-insert merge with the slice as ``merge_key`` replaces whole slices; because a
  merge-key delete only touches slices present in the data, every pulled slice also sends
  one *tombstone* row (``_tombstone`` is dlt's ``hard_delete`` column), so a slice that came
  back empty is emptied too.
- ``<platform>__<report>_history``: every row of every pull, append-only (the "history
  beside the merge table" option), so a replaced value stays queryable with its load id.
- ``<platform>__slices``: every slice pulled, with its row count, even when empty.
- ``<platform>__campaigns`` / ``__ad_groups`` / ``__ads``: metadata kept as dlt ``scd2``
  with the run's logical time as the validity boundary.

A run fetches everything first and hands it to dlt only when every request succeeded, so
a fatal error (or exhausted retries) commits nothing for that run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import requests

from connector_sdk.exceptions import ConnectorConfigError, ConnectorError, InvalidRunError
from connector_sdk.http import (
    ApiSession,
    Decoder,
    RetryPolicy,
    SessionStats,
    Verdict,
    cached_json,
    default_classifier,
    limiter_for,
)
from connector_sdk.keys import key_of, row_keys
from connector_sdk.windows import MODES, DateWindow, as_utc, report_dates, split_windows

# Arrow items get dlt's own ``_dlt_load_id`` only with this normalizer option (FIELD_NOTES).
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

META_COLUMNS: tuple[str, ...] = ("_row_key", "_load_id", "_extracted_at")
_LOAD_ID = re.compile(r"[0-9]+(\.[0-9]+)?")  # dlt's load ids: epoch seconds
TOMBSTONE = "_tombstone"
EXTRACTED_AT_TYPE = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Account:
    """One ad account as the platform describes it (ids without prefixes)."""

    account_id: str
    time_zone: str = "UTC"
    currency: str | None = None


@dataclass(frozen=True)
class ReportSpec:
    """The performance report of a platform: raw table, columns, natural grain, spend column.

    ``schema`` lists the platform columns in order (the base appends ``_row_key``,
    ``_load_id``, ``_extracted_at``). ``slice_columns`` name the (account, date) slice a
    pull replaces. ``spend_column`` / ``spend_divisor`` turn the raw money column into
    account currency (Google reports micros).
    """

    table: str
    schema: pa.Schema
    grain: tuple[str, ...]
    slice_columns: tuple[str, str] = ("account_id", "report_date")
    spend_column: str = "spend"
    spend_divisor: float = 1.0
    full_name: str | None = None  # a table named other than <platform>__<table> (fx_rates)


@dataclass(frozen=True)
class EntitySpec:
    """A metadata table (campaigns, ad groups, ads) kept with history (scd2)."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]


# The metadata tables every ad platform maps onto, in one shape (dim_campaign reads these
# columns): a connector lists the ones its platform has.
CAMPAIGNS = EntitySpec(
    "campaigns",
    ("account_id", "campaign_id"),
    ("account_id", "campaign_id", "name", "status", "objective", "currency", "time_zone"),
)
AD_GROUPS = EntitySpec(
    "ad_groups",
    ("account_id", "ad_group_id"),
    ("account_id", "campaign_id", "ad_group_id", "name", "status", "currency", "time_zone"),
)
ADS = EntitySpec(
    "ads",
    ("account_id", "ad_id"),
    ("account_id", "campaign_id", "ad_group_id", "ad_id", "name", "status", "currency", "time_zone"),
)


@dataclass
class SliceResult:
    """What one (account, window) fetch produced."""

    account: Account
    window: DateWindow
    pages: list[pa.Table]


@dataclass
class LoadSummary:
    """The outcome of one connector run, for logs, the audit table and tests."""

    platform: str
    mode: str
    logical_time: datetime
    load_id: str | None
    accounts: int
    slices: int
    empty_slices: int
    rows: int
    entity_rows: int
    pages: int
    requests: int
    retries: int
    rate_limited: int
    refreshes: int
    seconds: float
    tables: dict[str, str] = field(default_factory=dict)

    def one_line(self) -> str:
        """A one-line human summary."""
        return (
            f"{self.platform} {self.mode}: {self.rows} rows in {self.slices} slices "
            f"({self.empty_slices} empty) from {self.accounts} accounts, {self.pages} pages, "
            f"{self.requests} requests ({self.retries} retried), load {self.load_id}, {self.seconds:.1f}s"
        )


class Connector(ABC):
    """Base class of every API connector. Subclasses declare; the base runs.

    Required declarations (checked when the class is created, so a connector that forgets
    one fails at import, not at 3 am): ``name``, ``default_host``, ``report``,
    ``credential_keys``, and the methods :meth:`list_accounts` and :meth:`fetch_report`.
    Optional: ``entities`` + :meth:`fetch_entities`, :meth:`classify` (platform error
    signals), :meth:`auth_headers` / :meth:`refresh_auth` (tokens), ``lookback_days``,
    ``max_span_days``, ``page_size``, ``requests_per_second``, ``max_concurrency``.
    """

    name: ClassVar[str]
    default_host: ClassVar[str]
    report: ClassVar[ReportSpec]
    credential_keys: ClassVar[tuple[str, ...]] = ()
    optional_credential_keys: ClassVar[tuple[str, ...]] = ()
    entities: ClassVar[tuple[EntitySpec, ...]] = ()
    lookback_days: ClassVar[int] = 7
    max_span_days: ClassVar[int] = 30
    page_size: ClassVar[int] = 1000
    requests_per_second: ClassVar[float] = 20.0
    burst: ClassVar[int] = 10
    max_concurrency: ClassVar[int] = 4

    REQUIRED: ClassVar[tuple[str, ...]] = ("name", "default_host", "report")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return  # an intermediate base class (e.g. an SDK helper), not a platform
        missing = [a for a in Connector.REQUIRED if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"connector {cls.__name__} must declare {', '.join(missing)}")
        if not cls.name.isidentifier() or cls.name != cls.name.lower():
            raise TypeError(f"connector name {cls.name!r} must be a lowercase Python identifier")

    def __init__(
        self,
        *,
        base_url: str | None = None,
        credentials: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        page_size: int | None = None,
        max_concurrency: int | None = None,
        requests_per_second: float | None = None,
        lookback_days: int | None = None,
    ) -> None:
        self.base_url = f"{base_url.rstrip('/')}/{self.name}" if base_url else self.default_host
        self.retry = retry or RetryPolicy()
        self.page_size_used = page_size or self.page_size
        self.concurrency = max(1, max_concurrency or self.max_concurrency)
        self.rps = requests_per_second if requests_per_second is not None else self.requests_per_second
        self.lookback = self.lookback_days if lookback_days is None else lookback_days
        self.stats = SessionStats()
        self._credentials = dict(credentials) if credentials is not None else None
        self._creds_cache: dict[str, str] | None = None
        self._auth_lock = threading.Lock()

    # -- declarations subclasses implement ------------------------------------------------
    @abstractmethod
    def list_accounts(self) -> list[Account]:
        """The accounts to pull, with their time zone and currency (may call the API)."""

    @abstractmethod
    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Yield the report of one account and date window, one Arrow table per page.

        Tables carry the columns of ``report.schema`` (use :meth:`page_table`); the base adds
        ``_row_key``, ``_extracted_at`` and ``_load_id``.
        """

    def fetch_entities(self, accounts: Sequence[Account]) -> dict[str, list[dict[str, Any]]]:
        """Metadata rows per entity table name (override when ``entities`` is declared).

        The base calls it once per account, concurrently with the reports, and concatenates the
        answers in account order: rows of one account must not depend on the other accounts.
        """
        return {}

    def classify(self, response: requests.Response) -> Verdict:
        """Map a response to ok/retry/refresh/fatal. Override to add in-body error codes."""
        return default_classifier(response)

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate every request (may fetch a token)."""
        return {}

    def refresh_auth(self) -> dict[str, str] | None:
        """Fresh auth headers after a 401, or None when the platform cannot refresh."""
        return None

    # -- helpers for subclasses -------------------------------------------------------------
    def credential(self, key: str) -> str:
        """One credential, from the ``credentials`` argument or dlt's config (``SOURCES__<NAME>__<KEY>``)."""
        creds = self._resolved_credentials()
        value = creds.get(key)
        if value is None:
            raise ConnectorConfigError(f"missing credential: set {self.env_var(key)}", platform=self.name)
        return value

    def optional_credential(self, key: str) -> str | None:
        """A credential that may be absent."""
        return self._resolved_credentials().get(key)

    def env_var(self, key: str) -> str:
        """The environment variable dlt reads ``key`` from."""
        return f"SOURCES__{self.name.upper()}__{key.upper()}"

    def id_list(self, key: str) -> list[str]:
        """A comma-separated id list credential, as a list of ids."""
        ids = [x.strip() for x in self.credential(key).split(",") if x.strip()]
        if not ids:
            raise ConnectorConfigError(f"{self.env_var(key)} is empty: list at least one id", platform=self.name)
        return ids

    def _resolved_credentials(self) -> dict[str, str]:
        if self._creds_cache is None:
            if self._credentials is not None:
                creds = {k.lower(): str(v) for k, v in self._credentials.items()}
            else:
                creds = {}
                import dlt

                for key in self.credential_keys + self.optional_credential_keys:
                    value: Any = dlt.secrets.get(f"sources.{self.name}.{key}")
                    if value is None:
                        value = os.environ.get(self.env_var(key))
                    if value is not None:
                        creds[key] = str(value)
            missing = [k for k in self.credential_keys if not creds.get(k)]
            if missing:
                names = ", ".join(self.env_var(k) for k in missing)
                raise ConnectorConfigError(f"missing credentials: set {names}", platform=self.name)
            self._creds_cache = creds
        return self._creds_cache

    def session(
        self, account_id: str | None = None, *, refreshable: bool = True, decoder: Decoder | None = None
    ) -> ApiSession:
        """An :class:`ApiSession` throttled per (platform, account); ``decoder`` parses accepted bodies."""
        limiter = limiter_for(self.name, account_id or "*", self.rps, self.burst) if self.rps > 0 else None
        return ApiSession(
            self.name,
            self.classify,
            self.retry,
            limiter=limiter,
            refresh_auth=self._refresh_headers if refreshable else None,
            stats=self.stats,
            decoder=decoder,
        )

    def _refresh_headers(self) -> dict[str, str]:
        with self._auth_lock:
            headers = self.refresh_auth()
        if headers is None:
            from connector_sdk.exceptions import AuthenticationError

            raise AuthenticationError("credentials refused (HTTP 401); check credentials", platform=self.name)
        return headers

    def client(
        self,
        account_id: str | None = None,
        paginator: Any = None,
        data_selector: Any = None,
        headers: Mapping[str, str] | None = None,
        decoder: Decoder | None = None,
    ) -> Any:
        """A dlt ``RESTClient`` on this platform's base URL, sending through :meth:`session`.

        ``decoder`` (bytes -> JSON-like) replaces the JSON parse of accepted responses, so a
        report can be decoded straight into Arrow; dlt's paginator and data selector read it.
        """
        from dlt.sources.helpers.rest_client.client import RESTClient

        with self._auth_lock:
            auth = self.auth_headers()
        return RESTClient(
            base_url=self.base_url,
            headers={**auth, **(headers or {})},
            paginator=paginator,
            data_selector=data_selector,
            session=self.session(account_id, decoder=decoder),
        )

    def paginate(
        self,
        account_id: str | None,
        path: str,
        *,
        paginator: Any,
        data_selector: Any,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        decoder: Decoder | None = None,
    ) -> Iterator[list[Any]]:
        """Pages of items from ``path``, to the last page (dlt paginator + our retrying session).

        With a ``decoder`` whose result holds an Arrow array under ``data_selector``, each page is
        a one-element list holding that array (dlt wraps non-list selections).
        """
        client = self.client(account_id, headers=headers, decoder=decoder)
        yield from client.paginate(
            path, method=method, params=params, json=json, paginator=paginator, data_selector=data_selector
        )

    def get_json(
        self, account_id: str | None, path: str, *, params: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None, method: str = "GET", data: Any = None,
    ) -> Any:  # fmt: skip
        """One non-paged call through the retrying session; the parsed JSON body."""
        client = self.client(account_id, headers=headers)
        resp = client.request(path, method=method, params=params, data=data)
        return cached_json(resp)

    @classmethod
    def contract_fatal_credentials(cls, credentials: Mapping[str, str]) -> dict[str, str]:
        """Credentials that must make a run fail fatally (the contract suite's check).

        Default: every secret altered (ids kept, so the failure is about credentials).
        """
        return {k: (v if k.endswith("_ids") or (k.endswith("_id") and "client" not in k) else v + "x")
                for k, v in credentials.items()}  # fmt: skip

    def page_table(self, columns: Mapping[str, Sequence[Any] | pa.Array]) -> pa.Table:
        """An Arrow table in ``report.schema`` from column lists or Arrow arrays (missing become null)."""
        schema = self.report.schema
        n = len(next(iter(columns.values()))) if columns else 0
        arrays = []
        for fld in schema:
            values = columns.get(fld.name)
            if values is None:
                arrays.append(pa.nulls(n, fld.type))
            elif isinstance(values, pa.Array):
                arrays.append(values if values.type == fld.type else pc.cast(values, fld.type))
            else:
                arrays.append(pa.array(values, fld.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    # -- the run ----------------------------------------------------------------------------
    @property
    def report_table(self) -> str:
        """Name of the current report table."""
        return self.report.full_name or f"{self.name}__{self.report.table}"

    @property
    def table_names(self) -> dict[str, str]:
        """Every raw table this connector lands, by role."""
        names = {
            "current": self.report_table,
            "history": f"{self.report_table}_history",
            "slices": f"{self.name}__slices",
        }
        for ent in self.entities:
            names[ent.table] = f"{self.name}__{ent.table}"
        return names

    def plan(
        self,
        accounts: Sequence[Account],
        mode: str,
        logical_time: datetime,
        start: date | None,
        end: date | None,
    ) -> list[tuple[Account, DateWindow]]:
        """The (account, window) requests of a run: dates in each account's zone, cut by max span."""
        tasks: list[tuple[Account, DateWindow]] = []
        for acc in accounts:
            dates = report_dates(
                mode, logical_time, acc.time_zone, lookback_days=self.lookback, start=start, end=end
            )
            tasks.extend((acc, w) for w in split_windows(dates, self.max_span_days))
        return tasks

    def _fetch_one(self, account: Account, window: DateWindow) -> SliceResult:
        pages: list[pa.Table] = []
        for page in self.fetch_report(account, window):
            extracted = datetime.now(UTC)
            if page.num_rows == 0:
                continue
            page = page.append_column("_row_key", row_keys(self.name, page, self.report.grain))
            page = page.append_column(
                "_extracted_at", pa.repeat(pa.scalar(extracted, EXTRACTED_AT_TYPE), page.num_rows)
            )
            pages.append(page)
        return SliceResult(account, window, pages)

    def extract(
        self,
        mode: str,
        logical_time: datetime,
        start: date | None = None,
        end: date | None = None,
    ) -> tuple[list[Account], list[SliceResult], dict[str, list[dict[str, Any]]]]:
        """Fetch everything a run needs, with bounded concurrency; raises before anything is loaded."""
        if mode not in MODES:
            raise InvalidRunError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}", platform=self.name)
        accounts = self.list_accounts()
        tasks = self.plan(accounts, mode, logical_time, start, end)
        # Metadata is the platform's current state: a backfill cannot pull it as of the past.
        with_entities = bool(self.entities) and mode != "backfill"
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=self.name) as pool:
            futures = [pool.submit(self._fetch_one, acc, w) for acc, w in tasks]
            # One metadata task per account, queued behind the reports: an account's lists start
            # as soon as a worker is free instead of after every report of every account, and the
            # accounts' lists run side by side (each account has its own rate limiter).
            ent_futures = [pool.submit(self.fetch_entities, [acc]) for acc in accounts] if with_entities else []
            try:
                results = [f.result() for f in futures]
                parts = [f.result() for f in ent_futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                for e in ent_futures:
                    e.cancel()
                raise
        entities: dict[str, list[dict[str, Any]]] = {}
        if with_entities and not accounts:
            entities = self.fetch_entities(accounts)
        for part in parts:
            for table, rows in part.items():
                entities.setdefault(table, []).extend(rows)  # account order, as one call would give
        return accounts, results, entities

    def load(
        self,
        pipeline: Any,
        *,
        mode: str,
        logical_time: datetime,
        start: date | None = None,
        end: date | None = None,
    ) -> LoadSummary:
        """Run the connector into ``pipeline`` (a dlt pipeline on dataset ``raw_ads``)."""
        t0 = time.perf_counter()
        logical_time = as_utc(logical_time)
        finish_pending_loads(pipeline)
        self.restore_current(pipeline)
        accounts, results, entities = self.extract(mode, logical_time, start, end)
        info, counts = self.land(pipeline, results, entities, mode, logical_time)
        load_id = info.loads_ids[-1] if getattr(info, "loads_ids", None) else None
        return LoadSummary(
            platform=self.name,
            mode=mode,
            logical_time=logical_time,
            load_id=load_id,
            accounts=len(accounts),
            slices=counts["slices"],
            empty_slices=counts["empty_slices"],
            rows=counts["rows"],
            entity_rows=counts["entity_rows"],
            pages=counts["pages"],
            requests=self.stats.requests,
            retries=self.stats.retries,
            rate_limited=self.stats.rate_limited,
            refreshes=self.stats.refreshes,
            seconds=time.perf_counter() - t0,
            tables=self.table_names,
        )

    def land(
        self,
        pipeline: Any,
        results: list[SliceResult],
        entities: dict[str, list[dict[str, Any]]],
        mode: str,
        logical_time: datetime,
    ) -> tuple[Any, dict[str, int]]:
        """Load what :meth:`extract` pulled: one dlt load, then the current table's rows (dlt's load info, counts)."""
        source, counts = self._source(results, entities, mode, logical_time)
        try:
            info = pipeline.run(source)
        except Exception as exc:
            # nothing half-extracted may be loaded by the next run
            with contextlib.suppress(Exception):
                pipeline.drop_pending_packages()
            raise ConnectorError(f"loading into the warehouse failed: {_first_line(exc)}", platform=self.name) from exc
        load_id = info.loads_ids[-1] if getattr(info, "loads_ids", None) else None
        if counts["derive_current"] and load_id is not None:
            try:
                self.fill_current(pipeline, str(load_id))
            except Exception as exc:
                # the load is complete; the next run's restore_current copies the rows
                raise ConnectorError(
                    f"filling {self.report_table} failed: {_first_line(exc)}; the next run completes it",
                    platform=self.name,
                ) from exc
        return info, counts

    def fill_current(self, pipeline: Any, load_id: str) -> None:
        """Copy the history rows of load ``load_id`` into the current table (one INSERT, atomic).

        dlt's merge of that load has already emptied every slice it pulled (the tombstones), so
        after this statement the current table holds exactly the latest pull of each slice.
        Plain ``INSERT ... SELECT`` with quoted, case-folded names from dlt's SQL client: the
        same statement runs on DuckDB and Snowflake.
        """
        if not _LOAD_ID.fullmatch(load_id):
            raise ConnectorError(f"unexpected load id {load_id!r}", platform=self.name)
        names = self.table_names
        with pipeline.sql_client() as client:
            current = client.make_qualified_table_name(names["current"])
            history = client.make_qualified_table_name(names["history"])

            def columns(table: str) -> list[str]:
                with client.execute_query(f"SELECT * FROM {table} WHERE 1 = 0") as cursor:
                    return [str(d[0]) for d in cursor.description]

            # every column the two tables share, as the warehouse names them (``_dlt_load_id``
            # only where dlt's normalizer added it; ``_tombstone`` stays NULL)
            in_history = set(columns(history))
            cols = ", ".join(
                client.escape_column_name(c, casefold=False) for c in columns(current) if c in in_history
            )
            client.execute_sql(
                f"INSERT INTO {current} ({cols}) SELECT {cols} FROM {history} "
                f"WHERE {client.escape_column_name('_load_id')} = '{load_id}'"
            )

    def restore_current(self, pipeline: Any) -> str | None:
        """Finish a run killed between its dlt load and :meth:`fill_current`; the load id filled, if any.

        Only the latest completed load can be unfilled (every run restores before it loads):
        when it has history rows but the current table has none of it, its merge already
        emptied its slices and the copy never ran, so it runs now. Loads dlt never completed
        (not in ``_dlt_loads``) are left alone, as before.
        """
        from dlt.destinations.exceptions import DatabaseUndefinedRelation

        names = self.table_names
        with pipeline.sql_client() as client:
            q = client.escape_column_name
            lid_col = q("_load_id")
            try:
                latest = client.execute_sql(
                    f"SELECT {q('load_id')} FROM {client.make_qualified_table_name('_dlt_loads')} "
                    f"WHERE {q('schema_name')} = '{self.name}' AND {q('status')} = 0 "
                    f"ORDER BY {q('inserted_at')} DESC LIMIT 1"
                )
                if not latest:
                    return None
                load_id = str(latest[0][0])
                if not _LOAD_ID.fullmatch(load_id):
                    return None

                def has_rows(table: str) -> bool:
                    found = client.execute_sql(
                        f"SELECT 1 FROM {client.make_qualified_table_name(table)} WHERE {lid_col} = '{load_id}' LIMIT 1"
                    )
                    return bool(found)

                if not has_rows(names["history"]) or has_rows(names["current"]):
                    return None
            except DatabaseUndefinedRelation:
                return None  # nothing loaded yet
        self.fill_current(pipeline, load_id)
        return load_id

    def _source(
        self,
        results: list[SliceResult],
        entities: dict[str, list[dict[str, Any]]],
        mode: str,
        logical_time: datetime,
    ) -> tuple[Any, dict[str, int]]:
        import dlt

        spec = self.report
        acc_col, date_col = spec.slice_columns
        pages = [p for r in results for p in r.pages]
        # slice log: every requested (account, date) plus any date the platform answered with
        slice_counts: dict[tuple[str, date], int] = {}
        for r in results:
            for d in r.window.dates():
                slice_counts.setdefault((r.account.account_id, d), 0)
            for p in r.pages:
                grouped = p.group_by([acc_col, date_col]).aggregate([([], "count_all")]).to_pylist()
                for g in grouped:
                    k = (str(g[acc_col]), g[date_col])
                    slice_counts[k] = slice_counts.get(k, 0) + int(g["count_all"])
        pulled_at = datetime.now(UTC)
        names = self.table_names
        platform = self.name

        def load_id() -> str:
            return str(dlt.current.load_package_state()["load_id"])

        def with_meta(table: pa.Table, lid: str) -> pa.Table:
            return table.append_column("_load_id", pa.repeat(pa.scalar(lid, pa.string()), table.num_rows))

        def tombstones(lid: str) -> pa.Table:
            keys = sorted(slice_counts)
            n = len(keys)
            cols: dict[str, pa.Array] = {}
            for fld in spec.schema:
                if fld.name == acc_col:
                    cols[fld.name] = pa.array([k[0] for k in keys], fld.type)
                elif fld.name == date_col:
                    cols[fld.name] = pa.array([k[1] for k in keys], fld.type)
                else:
                    cols[fld.name] = pa.nulls(n, fld.type)
            cols["_row_key"] = pa.array([key_of(platform, "__slice__", a, d) for a, d in keys], pa.string())
            cols["_extracted_at"] = pa.array([pulled_at] * n, EXTRACTED_AT_TYPE)
            cols["_load_id"] = pa.array([lid] * n, pa.string())
            cols[TOMBSTONE] = pa.array([True] * n, pa.bool_())
            return pa.table(cols)

        merge_hints: Any = {"disposition": "merge", "strategy": "delete-insert"}
        # one table, not one per page: fewer files for dlt to write, normalize and copy
        pulled = pa.concat_tables(pages) if pages else None
        unique = _unique_rows(pulled) if pulled is not None else None
        # With no key pulled twice (the usual case) the current table's rows are exactly this
        # load's history rows: dlt gets only the tombstones for the current table (its merge
        # empties every pulled slice) and :meth:`fill_current` copies the rows inside the
        # warehouse, so they are written once, not staged and then copied (half the load's
        # cost). Keys pulled twice (pages that overlapped) go through dlt's merge as before.
        derive_current = pulled is not None and unique is pulled

        # The slice (merge_key) alone drives the delete: an OR with a primary key would turn
        # dlt's delete into a nested-loop join, and its primary-key dedup window costs a sort
        # of every pulled row. Keys are made unique in Arrow instead (:func:`_unique_rows`).
        @dlt.resource(
            name=names["current"],
            write_disposition=merge_hints,
            merge_key=list(spec.slice_columns),
            columns={
                TOMBSTONE: {"data_type": "bool", "hard_delete": True, "nullable": True},
                "_row_key": {"data_type": "text", "nullable": False, "unique": True},
            },
        )
        def current() -> Iterator[pa.Table]:
            lid = load_id()
            target: pa.Schema | None = None
            if pulled is not None:
                target = _keys_not_null(
                    pa.schema([*pulled.schema, pa.field("_load_id", pa.string()), pa.field(TOMBSTONE, pa.bool_())]),
                    (*spec.slice_columns, "_row_key"),
                )
                if not derive_current:
                    t = with_meta(unique, lid)
                    yield t.append_column(TOMBSTONE, pa.nulls(t.num_rows, pa.bool_())).cast(target)
            if slice_counts:
                t = tombstones(lid)  # same column order as the pages
                if target is None:
                    target = _keys_not_null(t.schema, (*spec.slice_columns, "_row_key"))
                yield t.cast(target)

        @dlt.resource(name=names["history"], write_disposition="append")
        def history() -> Iterator[pa.Table]:
            if pulled is not None:
                yield with_meta(pulled, load_id())

        @dlt.resource(name=names["slices"], write_disposition="append")
        def slices() -> Iterator[pa.Table]:
            lid = load_id()
            keys = sorted(slice_counts)
            yield pa.table(
                {
                    "account_id": pa.array([k[0] for k in keys], pa.string()),
                    "report_date": pa.array([k[1] for k in keys], pa.date32()),
                    "_load_id": pa.array([lid] * len(keys), pa.string()),
                    "row_count": pa.array([slice_counts[k] for k in keys], pa.int64()),
                    "pulled_at": pa.array([pulled_at] * len(keys), EXTRACTED_AT_TYPE),
                    "mode": pa.array([mode] * len(keys), pa.string()),
                    "logical_time": pa.array([logical_time] * len(keys), EXTRACTED_AT_TYPE),
                }
            )
            if mode != "backfill":
                # backfills never move incremental state
                dlt.current.source_state()["last_logical_time"] = logical_time.isoformat()

        resources: list[Any] = [current(), history(), slices()]
        entity_rows = 0
        for ent in self.entities:
            rows = entities.get(ent.table)
            if rows is None:
                continue
            entity_rows += len(rows)
            resources.append(self._entity_resource(ent, rows, logical_time, pulled_at))

        @dlt.source(name=self.name, max_table_nesting=0)
        def source() -> list[Any]:
            return resources

        counts = {
            "derive_current": int(derive_current),
            "slices": len(slice_counts),
            "empty_slices": sum(1 for v in slice_counts.values() if v == 0),
            "rows": sum(p.num_rows for p in pages),
            "pages": len(pages),
            "entity_rows": entity_rows,
        }
        return source(), counts

    def _entity_resource(
        self, ent: EntitySpec, rows: list[dict[str, Any]], logical_time: datetime, pulled_at: datetime
    ) -> Any:
        import dlt

        cols = ent.columns

        def gen() -> Iterator[list[dict[str, Any]]]:
            lid = str(dlt.current.load_package_state()["load_id"])
            out = []
            for r in rows:
                rec = {c: r.get(c) for c in cols}
                # the version hash covers business columns only, so a re-pull of unchanged
                # metadata is not a new version
                rec["_version_hash"] = hashlib.md5(
                    "|".join("" if rec[c] is None else str(rec[c]) for c in cols).encode()
                ).hexdigest()
                rec["_load_id"] = lid
                rec["_extracted_at"] = pulled_at
                out.append(rec)
            yield out

        return dlt.resource(
            gen,
            name=f"{self.name}__{ent.table}",
            write_disposition={
                "disposition": "merge",
                "strategy": "scd2",
                "boundary_timestamp": logical_time,
                "row_version_column_name": "_version_hash",
            },
            merge_key="account_id",
            columns={c: {"data_type": "text", "nullable": True} for c in cols},
        )()


def finish_pending_loads(pipeline: Any) -> list[str]:
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


def loader(cls: type[Connector]) -> Callable[..., LoadSummary]:
    """The plain entry point ``load_<platform>(pipeline, *, mode, logical_time, ...)`` of a connector."""

    def load(
        pipeline: Any,
        *,
        mode: str,
        logical_time: datetime,
        start: date | None = None,
        end: date | None = None,
        base_url: str | None = None,
        lookback_days: int | None = None,
        **options: Any,
    ) -> LoadSummary:
        connector = cls(base_url=base_url, lookback_days=lookback_days, **options)
        return connector.load(pipeline, mode=mode, logical_time=logical_time, start=start, end=end)

    load.__name__ = load.__qualname__ = f"load_{cls.name}"
    load.__doc__ = (
        f"Load {cls.name} into ``pipeline`` (dataset raw_ads). ``mode``: hourly | lookback | backfill; "
        "``logical_time`` is the run's now; ``start``/``end`` bound a backfill; ``options`` go to the "
        "connector (credentials, retry, page_size, max_concurrency, requests_per_second)."
    )
    return load


def _unique_rows(table: pa.Table) -> pa.Table:
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


def _first_line(exc: BaseException) -> str:
    """The innermost cause's first line (dlt wraps exceptions several levels deep)."""
    inner: BaseException = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__


def spend_in_currency(table: pa.Table, spec: ReportSpec) -> float:
    """Total spend of a report table in account currency (tests and reports)."""
    col = pc.cast(table.column(spec.spend_column), pa.float64())
    total = pc.sum(col).as_py() or 0.0
    return float(total) / spec.spend_divisor
