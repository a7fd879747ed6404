"""The connector contract: a platform declares its particulars, the SDK runs the load.

A subclass declares *what* is particular to its platform: ``name``, ``default_host``, the
``report`` (:class:`~connector_sdk.specs.ReportSpec` with its field map), ``settings``
(:class:`~connector_sdk.specs.ConnectorSettings`: lookback, span, page size, rate, workers),
``errors`` (an :class:`~connector_sdk.responses.ErrorMapping` of the platform's error
signals), ``credential_keys`` and ``entities``; and it implements :meth:`Connector.list_accounts`
and :meth:`Connector.fetch_report` (the request shape and paginator), plus the auth hooks,
:meth:`Connector.fetch_entities` and :meth:`Connector.fetch_extra_report` (``extra_reports``)
where the platform has them.

The SDK owns *how*, one concern per module: HTTP, retries and rate limits
(:mod:`connector_sdk.http`, :mod:`connector_sdk.responses`), credentials
(:mod:`connector_sdk.credentials`), date windows (:mod:`connector_sdk.windows`), extraction
with bounded concurrency (:mod:`connector_sdk.extract`) and landing into the raw tables
(:mod:`connector_sdk.land`). A run fetches everything first and hands it to dlt only when
every request succeeded, so a fatal error (or exhausted retries) commits nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import dlt
import pyarrow as pa
from dlt.common.jsonpath import TJsonPath
from dlt.common.pipeline import LoadInfo
from dlt.sources.helpers.rest_client.client import PageData, RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from dlt.sources.helpers.rest_client.typing import HTTPMethodBasic

from connector_sdk import completeness, extract, land, versions
from connector_sdk.completeness import DEFERRED, PARTIAL, SliceOutcome
from connector_sdk.credentials import Credentials, config_value
from connector_sdk.exceptions import (
    APIError,
    AuthenticationError,
    ConnectorError,
    FatalAPIError,
    InvalidRunError,
    PullDeferred,
    UntrustedHostError,
)
from connector_sdk.extract import EntityRows, SliceResult
from connector_sdk.http import ApiSession, RetryPolicy, SessionStats, limiter_for
from connector_sdk.responses import HTTP_ONLY, Decoder, ErrorMapping, cached_json
from connector_sdk.specs import Account, ConnectorSettings, EntitySpec, Field, ReportSpec
from connector_sdk.windows import MODES, DateWindow, as_utc

DestinationAccess = Callable[[], contextlib.AbstractContextManager[Any]]
"""A context the connector holds while it uses its destination (see :meth:`Connector.load`)."""
PipelineOrFactory = dlt.Pipeline | Callable[[], dlt.Pipeline]
"""A dlt pipeline, or a function making one (inside the destination access)."""


def resolve_pipeline(pipeline: PipelineOrFactory) -> dlt.Pipeline:
    """The pipeline itself, or the one its factory makes now."""
    return pipeline if isinstance(pipeline, dlt.Pipeline) else pipeline()


@dataclass
class LoadSummary:
    """The outcome of one connector run, for logs, the audit table and tests.

    ``slices``: every (account, report date) slice of the run with its status (the rows of
    ``audit.pull_slices``, which the flows write). ``resume_after``: set when the platform
    asked for a wait longer than the run may wait; the slices not pulled are ``deferred``
    until then, and ``deferral`` says what the platform asked. ``warnings``: what an operator
    should act on (an API version near its sunset, slices not applied).
    """

    platform: str
    mode: str
    logical_time: datetime
    load_id: str | None
    accounts: int
    slices: list[SliceOutcome]
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
    warnings: list[str] = field(default_factory=list)
    resume_after: datetime | None = None
    deferral: str | None = None

    def count(self, status: str) -> int:
        """How many slices of the run have ``status`` (complete, partial, deferred)."""
        return sum(1 for s in self.slices if s.status == status)

    def one_line(self) -> str:
        """A one-line human summary."""
        text = (
            f"{self.platform} {self.mode}: {self.rows} rows in {len(self.slices)} slices "
            f"({self.empty_slices} empty) from {self.accounts} accounts, {self.pages} pages, "
            f"{self.requests} requests ({self.retries} retried), load {self.load_id}, {self.seconds:.1f}s"
        )
        if self.resume_after is not None:
            text += (
                f"; deferred, resume after {self.resume_after.isoformat()} "
                f"({self.count(DEFERRED)} slices deferred)"
            )
        if self.count(PARTIAL):
            text += f"; {self.count(PARTIAL)} slices partial (loaded rows kept)"
        return text + "".join(f"; warning: {w}" for w in self.warnings)


class Connector(ABC):
    """Base class of every API connector. Subclasses declare; the base runs.

    Required declarations (checked when the class is created, so a connector that forgets
    one fails at import, not at 3 am): ``name``, ``default_host``, ``report``, and the methods
    :meth:`list_accounts` and :meth:`fetch_report`. The others have defaults: ``settings``,
    ``errors`` (HTTP statuses only), ``credential_keys``, ``entities``.
    """

    name: ClassVar[str]
    default_host: ClassVar[str]
    report: ClassVar[ReportSpec]
    settings: ConnectorSettings = ConnectorSettings()
    errors: ClassVar[ErrorMapping] = HTTP_ONLY
    credential_keys: ClassVar[tuple[str, ...]] = ()
    optional_credential_keys: ClassVar[tuple[str, ...]] = ()
    entities: ClassVar[tuple[EntitySpec, ...]] = ()
    extra_reports: ClassVar[tuple[ReportSpec, ...]] = ()
    """Further reports of the same slices, each in its own raw table (see :meth:`fetch_extra_report`)."""
    auth_urls: ClassVar[tuple[str, ...]] = ()
    """The platform's own endpoints on hosts other than ``default_host`` (an OAuth token URL)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("name", "default_host", "report")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
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
        api_version: str | None = None,
    ) -> None:
        self.base_url = f"{base_url.rstrip('/')}/{self.name}" if base_url else self.default_host
        self.retry = retry or RetryPolicy()
        self.settings = self.settings.overridden(
            lookback_days=lookback_days,
            page_size=page_size,
            requests_per_second=requests_per_second,
            max_concurrency=max_concurrency,
            api_version=api_version or config_value(self.name, "api_version"),
        )
        self.credentials = Credentials(
            self.name, self.credential_keys, self.optional_credential_keys, credentials
        )
        self.stats = SessionStats()
        self._auth_lock = threading.Lock()
        self._stop = threading.Event()  # set when a request of the run is deferred: the others stop
        self.deferral: PullDeferred | None = None  # the last extract's deferral

    # -- what a platform implements ---------------------------------------------------------
    @abstractmethod
    def list_accounts(self) -> list[Account]:
        """The accounts to pull, with their time zone and currency (may call the API)."""

    @abstractmethod
    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Yield the report of one account and date window, one Arrow table per page.

        Build each page with :meth:`report_page` from the page's wire rows; the SDK adds
        ``_row_key``, ``_extracted_at`` and ``_load_id``.
        """

    def fetch_extra_report(
        self, report: ReportSpec, account: Account, window: DateWindow
    ) -> Iterator[pa.Table]:
        """Yield one of ``extra_reports`` for one account and window (override when declaring them).

        Pulled with the main report of the slice and replaced with it: a slice landed again
        empties that slice of every report table first.
        """
        raise NotImplementedError(f"{self.name} declares {report.table} but does not fetch it")

    def fetch_entities(self, accounts: Sequence[Account]) -> EntityRows:
        """Metadata rows per entity table name (override when ``entities`` is declared).

        The base calls it once per account, concurrently with the reports, and concatenates the
        answers in account order: rows of one account must not depend on the other accounts.
        """
        return {}

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate every request (may fetch a token)."""
        return {}

    def refresh_auth(self) -> dict[str, str] | None:
        """Fresh auth headers after a 401, or None when the platform cannot refresh."""
        return None

    def fetch_token(
        self, url: str, form: Mapping[str, str], *, refused: str, refusals: type[APIError] = FatalAPIError
    ) -> str:
        """An OAuth access token from a form grant at ``url``; ``refusals`` become ``refused`` (one line).

        Sent without token refresh (a 401 from the token endpoint is final), with the platform's
        error mapping and retries like any request.
        """
        try:
            resp = self.session(refreshable=False).post(url, data=dict(form))
        except UntrustedHostError:
            raise
        except refusals:
            raise AuthenticationError(refused, platform=self.name) from None
        token = cached_json(resp).get("access_token")
        if not token:
            raise AuthenticationError("OAuth token response had no access_token", platform=self.name)
        return str(token)

    @property
    def trusted_urls(self) -> tuple[str, ...]:
        """The URLs whose hosts may get this connector's requests (and credentials).

        The configured base URL, the platform's ``default_host`` and its ``auth_urls``: a
        next-page link, redirect or token URL anywhere else is refused before it is sent.
        """
        return (self.base_url, self.default_host, *self.auth_urls)

    @classmethod
    def contract_fatal_credentials(cls, credentials: Mapping[str, str]) -> dict[str, str]:
        """Credentials that must make a run fail fatally (the contract suite's check).

        Default: every secret altered (ids kept, so the failure is about credentials).
        """
        return {k: v if _is_id(k) else v + "x" for k, v in credentials.items()}

    # -- pages --------------------------------------------------------------------------------
    def report_page(
        self, rows: Sequence[Mapping[str, Any]] | pa.StructArray, account: Account, **values: Any
    ) -> pa.Table:
        """One report page from wire rows through ``report.fields``; ``values`` fill path-less fields."""
        return extract.report_page(self.report, rows, extract.page_values(account, **values))

    def entity_rows(
        self, fields: Sequence[Field], records: Iterable[Mapping[str, Any]], account: Account, **values: Any
    ) -> list[dict[str, Any]]:
        """Metadata rows of one account from wire records through ``fields``."""
        return extract.entity_rows(fields, records, extract.page_values(account, **values))

    # -- HTTP ---------------------------------------------------------------------------------
    def session(
        self, account_id: str | None = None, *, refreshable: bool = True, decoder: Decoder | None = None
    ) -> ApiSession:
        """An :class:`ApiSession` throttled per (platform, account); ``decoder`` parses accepted bodies."""
        rate = self.settings.requests_per_second
        limiter = limiter_for(self.name, account_id or "*", rate, self.settings.burst) if rate > 0 else None
        return ApiSession(
            self.name,
            self.errors.resolve,
            self.retry,
            limiter=limiter,
            refresh_auth=self._refresh_headers if refreshable else None,
            stats=self.stats,
            decoder=decoder,
            sleep=self._stop.wait,
            max_wait_seconds=self.settings.max_wait_seconds,
            cancelled=self._stop,
            trusted=self.trusted_urls,
        )

    def _refresh_headers(self) -> dict[str, str]:
        with self._auth_lock:
            headers = self.refresh_auth()
        if headers is None:
            raise AuthenticationError("credentials refused (HTTP 401); check credentials", platform=self.name)
        return headers

    def client(
        self,
        account_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        decoder: Decoder | None = None,
    ) -> RESTClient:
        """A dlt ``RESTClient`` on this platform's base URL, sending through :meth:`session`.

        ``decoder`` (bytes -> JSON-like) replaces the JSON parse of accepted responses, so a
        report can be decoded straight into Arrow; dlt's paginator and data selector read it.
        """
        with self._auth_lock:
            auth = self.auth_headers()
        return RESTClient(
            base_url=self.base_url,
            headers={**auth, **(headers or {})},
            session=self.session(account_id, decoder=decoder),
        )

    def paginate(
        self,
        account_id: str | None,
        path: str,
        *,
        paginator: BasePaginator,
        data_selector: TJsonPath,
        method: HTTPMethodBasic = "GET",
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        decoder: Decoder | None = None,
        counted: bool = True,
    ) -> Iterator[PageData[Any]]:
        """Pages of items from ``path``, to the last page (dlt paginator + our retrying session).

        With a ``decoder`` whose result holds an Arrow array under ``data_selector``, each page is
        a one-element list holding that array (dlt wraps non-list selections).

        Inside :meth:`fetch_report` the pages count toward the slice's completeness: items per
        page and the paginator's ``expected_total`` (the platform's own total, None when it
        gives none; see :mod:`connector_sdk.completeness`). Pass ``counted=False`` for a lookup
        that is not report rows (a list of campaigns to pull the report by).
        """
        tally = completeness.current_tally() if counted else None
        paging = tally.start() if tally is not None else None
        client = self.client(account_id, headers=headers, decoder=decoder)
        try:
            for page in client.paginate(
                path,
                method=method,
                params=params,
                json=json,
                paginator=paginator,
                data_selector=data_selector,
            ):
                if paging is not None:
                    paging.add(completeness.items_in(page), paginator)
                yield page
        except ConnectorError:
            # A refused request the connector answers by asking again differently (Impact halves
            # a range it refuses as too large) is not part of the slice: the requests asked
            # instead count. Left unanswered, the error fails the slice's pull anyway.
            if tally is not None and paging is not None:
                tally.discard(paging)
            raise
        if paging is not None:
            paging.finished = True

    def get_json(
        self,
        account_id: str | None,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        method: HTTPMethodBasic = "GET",
        data: Any = None,
    ) -> Any:
        """One non-paged call through the retrying session; the parsed JSON body."""
        client = self.client(account_id, headers=headers)
        resp = client.request(path, method=method, params=params, data=data)
        return cached_json(resp)

    # -- the run ------------------------------------------------------------------------------
    @property
    def table_names(self) -> dict[str, str]:
        """Every raw table this connector lands, by role (further reports by their table name)."""
        extra = {spec.table: land.table_names(self.name, spec, ())["current"] for spec in self.extra_reports}
        return {**land.table_names(self.name, self.report, self.entities), **extra}

    @property
    def report_table(self) -> str:
        """Name of the current report table."""
        return self.table_names["current"]

    def plan(
        self,
        accounts: Sequence[Account],
        mode: str,
        logical_time: datetime,
        start: date | None,
        end: date | None,
        reopen: Sequence[tuple[str, date]] = (),
    ) -> list[tuple[Account, DateWindow]]:
        """The (account, window) requests of a run: dates in each account's zone (plus ``reopen``), cut by max span."""
        return extract.plan(
            accounts,
            mode,
            logical_time,
            start,
            end,
            lookback_days=self.settings.lookback_days,
            max_span_days=self.settings.max_span_days,
            reopen=reopen,
        )

    def check_api_version(self, logical_time: datetime) -> list[str]:
        """Warnings for the API version at ``logical_time``; raises :class:`ApiVersionSunsetError` past its sunset."""
        return versions.check_sunset(self.name, self.settings, logical_time)

    def extract(
        self,
        mode: str,
        logical_time: datetime,
        start: date | None = None,
        end: date | None = None,
        reopen: Sequence[tuple[str, date]] = (),
    ) -> tuple[list[Account], list[SliceResult], EntityRows]:
        """Fetch everything a run needs, with bounded concurrency; raises before anything is loaded.

        A deferral (the platform asked for a wait beyond ``max_wait_seconds``) does not raise:
        the windows not fetched come back as deferred results (all of ``reopen`` when even the
        account list was deferred), and ``self.deferral`` holds it (None when nothing was deferred).
        """
        if mode not in MODES:
            raise InvalidRunError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}", platform=self.name)
        self.check_api_version(logical_time)
        self._stop.clear()
        self.deferral = None
        try:
            accounts = self.list_accounts()
        except PullDeferred as deferral:
            self.deferral = deferral
            missed = [(Account(a), DateWindow(d, d)) for a, d in sorted(set(reopen))]
            return [], [SliceResult.deferred(acc, w, deferral) for acc, w in missed], {}
        slices = self.plan(accounts, mode, logical_time, start, end, reopen)
        # Metadata is the platform's current state: a backfill cannot pull it as of the past.
        with_entities = bool(self.entities) and mode != "backfill"
        workers = max(1, self.settings.max_concurrency)
        fetch_entities = self.fetch_entities if with_entities else None
        results, entities, self.deferral = extract.pull_all(
            self.name, workers, slices, self._fetch_slice, accounts, fetch_entities, self._stop
        )
        return accounts, results, entities

    def _fetch_slice(self, account: Account, window: DateWindow) -> SliceResult:
        with completeness.tallying() as tally:
            pages = extract.keyed_pages(self.name, self.report.grain, self.fetch_report(account, window))
        status, detail = tally.verdict()
        # Further reports of the slice are paged outside the tally: the slice's completeness is
        # judged on the main report, and a further report is applied only where that one is.
        extra = {
            spec.table: extract.keyed_pages(
                self.name, spec.grain, self.fetch_extra_report(spec, account, window)
            )
            for spec in self.extra_reports
        }
        return SliceResult(
            account, window, pages, status, detail, tally.expected, tally.received, extra=extra
        )

    def load(
        self,
        pipeline: PipelineOrFactory,
        *,
        mode: str,
        logical_time: datetime,
        start: date | None = None,
        end: date | None = None,
        reopen: Sequence[tuple[str, date]] = (),
        access: DestinationAccess = contextlib.nullcontext,
    ) -> LoadSummary:
        """Run the connector into ``pipeline`` (a dlt pipeline on dataset ``raw_ads``).

        ``reopen``: (account_id, report_date) slices an earlier run left partial or deferred,
        pulled again beside the mode's dates. A deferral does not raise: the summary carries
        ``resume_after`` and the deferred slices. A version past its sunset raises before any request.
        ``access``: a context held around the use of the destination (finishing a killed run's
        load, then landing the pull) and not while the API is pulled, so a destination one process
        may open at a time (an embedded DuckDB file) is free for others during the network part
        of the run, which is most of it. ``pipeline`` may then be a factory, called inside
        ``access``, for a destination whose connection lasts only as long as the access.
        """
        t0 = time.perf_counter()
        logical_time = as_utc(logical_time)
        warnings = self.check_api_version(logical_time)
        accounts, results, entities = self.extract(mode, logical_time, start, end, reopen)
        with access():
            target = resolve_pipeline(pipeline)
            # a killed run's package and unfilled load go first: loads stay in the order pulled
            land.finish_pending_loads(target)
            self.restore_current(target)
            info, counts = self.land(target, results, entities, mode, logical_time)
        load_id = land.last_load_id(info)
        outcomes = [replace(o, load_id=load_id) for o in counts["outcomes"]]
        partial = [o for o in outcomes if o.status == PARTIAL]
        if partial:
            warnings.append(_partial_warning(self.name, partial))
        return LoadSummary(
            platform=self.name,
            mode=mode,
            logical_time=logical_time,
            load_id=load_id,
            accounts=len(accounts),
            slices=outcomes,
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
            warnings=warnings,
            resume_after=_resume_after(logical_time, self.deferral),
            deferral=str(self.deferral) if self.deferral is not None else None,
        )

    def open_slices(self, pipeline: dlt.Pipeline) -> list[SliceOutcome]:
        """Slices this connector's log holds as partial or deferred (their latest pull not applied).

        What a later run passes as ``reopen`` (``[(s.account_id, s.report_date) for s in ...]``),
        when the flows do not keep their own record of open slices.
        """
        return land.open_slices(pipeline, self.table_names, self.name)

    def land(
        self,
        pipeline: dlt.Pipeline,
        results: list[SliceResult],
        entities: EntityRows,
        mode: str,
        logical_time: datetime,
    ) -> tuple[LoadInfo, land.LandCounts]:
        """Load what :meth:`extract` pulled: one dlt load, then the current table's rows (dlt's load info, counts).

        Only the slices applied are replaced (see :mod:`connector_sdk.completeness`); every slice
        goes to the slice log with its outcome (``counts["outcomes"]``).
        """
        tables = self.table_names
        pull = land.Pull.of(
            self.name,
            self.report,
            results,
            mode,
            logical_time,
            prior=lambda keys: land.prior_slices(pipeline, tables, keys),
        )
        extra = [
            land.Pull.of(self.name, spec, _extra_results(results, spec), mode, logical_time)
            for spec in self.extra_reports
        ]
        source, counts = land.build_source(pull, self.entities, entities, extra)
        info = land.run_source(pipeline, source, self.name)
        load_id = land.last_load_id(info)
        derived = [p.report for p in extra if p.derive_current]
        if (counts["derive_current"] or derived) and load_id is not None:
            try:
                if counts["derive_current"]:
                    self.fill_current(pipeline, load_id)
                for spec in derived:
                    land.fill_current(pipeline, land.table_names(self.name, spec, ()), load_id, self.name)
            except Exception as exc:
                # the load is complete; the next run's restore_current copies the rows
                raise ConnectorError(
                    f"filling {self.report_table} failed: {land.first_line(exc)}; the next run completes it",
                    platform=self.name,
                ) from exc
        return info, counts

    def fill_current(self, pipeline: dlt.Pipeline, load_id: str) -> None:
        """Copy the history rows of load ``load_id`` into the current table (see :func:`land.fill_current`)."""
        land.fill_current(pipeline, self.table_names, load_id, self.name)

    def restore_current(self, pipeline: dlt.Pipeline) -> str | None:
        """Finish a run killed between its dlt load and :meth:`fill_current`; the load id filled, if any."""
        load_id = land.unfilled_load(pipeline, self.table_names, self.name)
        if load_id is not None:
            self.fill_current(pipeline, load_id)
        for spec in self.extra_reports:
            tables = land.table_names(self.name, spec, ())
            unfilled = land.unfilled_load(pipeline, tables, self.name)
            if unfilled is not None:
                land.fill_current(pipeline, tables, unfilled, self.name)
        return load_id


def _resume_after(logical_time: datetime, deferral: PullDeferred | None) -> datetime | None:
    """Logical time plus the longest wait a deferred request asked for (None: nothing deferred)."""
    return None if deferral is None else logical_time + timedelta(seconds=deferral.delay_seconds)


def _partial_warning(platform: str, partial: Sequence[SliceOutcome]) -> str:
    """One line naming the partial slices (the first few) and why."""
    names = ", ".join(f"{o.account_id} {o.report_date.isoformat()}" for o in partial[:5])
    more = f" and {len(partial) - 5} more" if len(partial) > 5 else ""
    return f"{platform}: {len(partial)} slices partial, loaded rows kept ({names}{more}): {partial[0].detail}"


def _extra_results(results: Sequence[SliceResult], spec: ReportSpec) -> list[SliceResult]:
    """The slices of ``results`` with the pages of the further report ``spec`` (every slice, even empty).

    Each keeps its main report's verdict: a further report is not applied where the main one is not.
    """
    return [
        SliceResult(
            r.account, r.window, r.extra.get(spec.table, []), r.status, r.detail, deferred_for=r.deferred_for
        )
        for r in results
    ]


def _is_id(key: str) -> bool:
    """Credential keys that name accounts rather than secrets (``*_ids``, ``*_id`` except client ids)."""
    return key.endswith("_ids") or (key.endswith("_id") and "client" not in key)


def loader(cls: type[Connector]) -> Callable[..., LoadSummary]:
    """The plain entry point ``load_<platform>(pipeline, *, mode, logical_time, ...)`` of a connector."""

    def load(
        pipeline: PipelineOrFactory,
        *,
        mode: str,
        logical_time: datetime,
        start: date | None = None,
        end: date | None = None,
        base_url: str | None = None,
        lookback_days: int | None = None,
        reopen: Sequence[tuple[str, date]] = (),
        access: DestinationAccess = contextlib.nullcontext,
        **options: Any,
    ) -> LoadSummary:
        connector = cls(base_url=base_url, lookback_days=lookback_days, **options)
        return connector.load(
            pipeline, mode=mode, logical_time=logical_time, start=start, end=end, reopen=reopen, access=access
        )

    load.__name__ = load.__qualname__ = f"load_{cls.name}"
    load.__doc__ = (
        f"Load {cls.name} into ``pipeline`` (dataset raw_ads). ``mode``: hourly | lookback | backfill; "
        "``logical_time`` is the run's now; ``start``/``end`` bound a backfill; ``reopen`` lists "
        "(account_id, report_date) slices to pull again; ``access`` is held around destination use; ``options`` go to the connector (credentials, "
        "retry, page_size, max_concurrency, requests_per_second, api_version)."
    )
    return load
