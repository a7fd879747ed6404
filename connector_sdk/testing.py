"""The contract suite every registered connector gets for free (pytest).

Two mix-in classes, applied to a test class parametrized over connector names
(``@pytest.mark.parametrize("connector_name", names, scope="class")``):

- :class:`StructureContract`: declarations are complete and consistent (no simulator needed;
  a freshly scaffolded connector passes it).
- :class:`LiveContract`: runs the connector against its simulator and checks what a user
  relies on: pages to the end over >= 3 pages; with 20% of requests failing (429, 5xx,
  dropped connections) the result equals a fault-free run; after a restatement the current
  table equals the simulator's latest answer for every slice of the window (vanished rows
  and slices included); every slice is complete (the rows received equal the platform's
  total); a rerun changes nothing; keys are unique; every row carries its load id; a fatal
  error (wrong credentials) fails with one line and commits nothing.

The live suite talks to the simulator only over HTTP (its ``/_sim/`` control endpoints) and
needs a ``sim`` fixture returning a :class:`SimulatorHandle`; it never imports simulator code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import dlt
import requests

from connector_sdk.base import Connector, LoadSummary
from connector_sdk.exceptions import ConnectorError
from connector_sdk.http import RetryPolicy
from connector_sdk.registry import get_connector
from connector_sdk.specs import META_COLUMNS, TOMBSTONE

CONTRACT_RETRY = RetryPolicy(max_attempts=12, base_delay=0.005, max_delay=0.02, max_wait=0.05)
"""Test backoff: real retry logic, no real sleeping."""

FAULTS = {"rate_limit": 0.07, "server_error": 0.07, "drop_connection": 0.06}
"""20% of requests fail, split over throttling, server errors and dropped connections."""


@dataclass
class SimulatorHandle:
    """A running simulator as the suite sees it: a URL, credentials, and the world's end."""

    base_url: str
    credentials: dict[str, dict[str, str]]
    world_end: datetime
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        resp = self.session.post(f"{self.base_url}/_sim/{path}", json=body, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def set_as_of(self, ts: datetime) -> None:
        """Make every platform answer as at ``ts``."""
        self._post("as-of", {"as_of": ts.isoformat()})

    def set_faults(self, platform: str, **probabilities: float) -> None:
        """Fail requests of ``platform`` with the given probabilities."""
        self._post("faults", {"platform": platform, **probabilities})

    def set_page_size(self, size: int | None, platform: str = "*") -> None:
        """Override the page size (None restores the platform's own)."""
        self._post("page-size", {"platform": platform, "page_size": size})

    def reset(self) -> None:
        """No faults, no page-size override, counters zeroed."""
        self._post("reset", {})

    def stats(self) -> dict[str, dict[str, int]]:
        """Request counts per platform and outcome."""
        resp = self.session.get(f"{self.base_url}/_sim/stats", timeout=10)
        resp.raise_for_status()
        out: dict[str, dict[str, int]] = resp.json()
        return out


def structure_problems(cls: type[Connector]) -> list[str]:
    """Everything wrong with a connector's declarations (empty list: it passes)."""
    problems: list[str] = []
    name = getattr(cls, "name", "")
    if not (isinstance(name, str) and name.isidentifier() and name == name.lower()):
        problems.append(f"name {name!r} is not a lowercase identifier")
    try:
        if get_connector(name) is not cls:
            problems.append(f"{name} is registered to another class")
    except ConnectorError:
        problems.append(f"{name} is not registered (decorate the class with @register)")
    abstract: frozenset[str] = getattr(cls, "__abstractmethods__", frozenset())
    if abstract:
        problems.append(f"abstract methods not implemented: {', '.join(sorted(abstract))}")
    spec = cls.report
    cols = set(spec.schema.names)
    if len(cols) != len(spec.fields):
        problems.append("the report's fields name a column twice")
    for c in (*spec.grain, *spec.slice_columns, spec.spend_column):
        if c not in cols:
            problems.append(f"column {c!r} of grain/slice/spend is not in the report schema")
    for c in (*META_COLUMNS, TOMBSTONE):
        if c in cols:
            problems.append(f"column {c!r} is added by the SDK and must not be declared")
    if not spec.table.isidentifier() or spec.table != spec.table.lower():
        problems.append(f"report table {spec.table!r} is not a lowercase identifier")
    limits = cls.settings
    if (
        limits.lookback_days < 0
        or limits.max_span_days < 1
        or limits.page_size < 1
        or limits.max_concurrency < 1
    ):
        problems.append(
            "lookback_days >= 0, max_span_days >= 1, page_size >= 1, max_concurrency >= 1 required"
        )
    if limits.max_wait_seconds <= 0:
        problems.append("max_wait_seconds must be > 0")
    for version, sunset in limits.sunsets.items():
        if not isinstance(version, str) or not isinstance(sunset, date):
            problems.append(f"sunsets must map version strings to dates, got {version!r}: {sunset!r}")
    if limits.sunsets and limits.api_version is None:
        problems.append("sunsets are declared but no api_version (declare API_VERSION in settings.py)")
    if not str(cls.default_host).startswith("https://"):
        problems.append("default_host must be an https:// URL")
    for ent in cls.entities:
        missing = [c for c in ("account_id", *ent.key) if c not in ent.columns]
        if missing:
            problems.append(f"entity {ent.table} lacks columns {missing}")
    package = importlib.import_module(cls.__module__.rsplit(".", 1)[0])
    if not callable(getattr(package, f"load_{name}", None)):
        problems.append(f"package {package.__name__} does not export load_{name}(pipeline, ...)")
    return problems


class StructureContract:
    """Structural checks; needs a ``connector_name`` parameter."""

    def test_declarations_complete(self, connector_name: str) -> None:
        """The connector declares everything the SDK needs, consistently."""
        assert structure_problems(get_connector(connector_name)) == []

    def test_unknown_platform_is_one_line(self, connector_name: str) -> None:
        """Asking for a platform that does not exist is a one-line error naming the known ones."""
        try:
            get_connector(connector_name + "_nope")
        except ConnectorError as exc:
            msg = str(exc)
            assert "\n" not in msg and connector_name in msg
        else:  # pragma: no cover - the assertion is the test
            raise AssertionError("unknown platform accepted")


def duckdb_pipeline(base: Path, name: str) -> dlt.Pipeline:
    """A dlt pipeline on a DuckDB file under ``base``, dataset ``raw_ads`` (what the flows use)."""
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(base / f"{name}.duckdb")),
        dataset_name="raw_ads",
        pipelines_dir=str(base / "dlt"),
    )


def _query(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql) or []]


def read_rows(pipeline: dlt.Pipeline, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    """All rows of ``raw_ads.<table>`` (the given columns), sorted."""
    return sorted(_query(pipeline, f"select {', '.join(columns)} from {table}"))


def count_rows(pipeline: dlt.Pipeline, table: str, where: str = "true") -> int:
    """Row count of ``raw_ads.<table>``."""
    return int(_query(pipeline, f"select count(*) from {table} where {where}")[0][0])


@dataclass
class ContractRun:
    """Everything the live scenario measured for one connector."""

    name: str
    business: list[str]
    summaries: dict[str, LoadSummary]
    rows: dict[str, list[tuple[Any, ...]]]
    slices_d: set[tuple[str, Any]]
    sim_pages_a: int
    stats_faulted: dict[str, int]
    key_dupes: int
    missing_load_ids: int
    history_counts: tuple[int, int]
    slice_log_counts: tuple[int, int]
    fatal_error: BaseException | None
    loads_before_fatal: int
    loads_after_fatal: int
    rows_after_fatal: list[tuple[Any, ...]]
    secrets: list[str] = field(default_factory=list)


class LiveContract:
    """Live checks against the simulator; needs ``connector_name`` and a session ``sim`` fixture.

    Class attributes tune the scenario: ``contract_page_size`` (small, so a small world spans
    several pages) and ``contract_lookback_days`` (a short window keeps the runs fast).
    """

    contract_page_size = 40
    contract_page_sizes: ClassVar[
        dict[str, int]
    ] = {}  # per platform, where rows per page differ (Apple: ad groups)
    contract_lookback_days = 3
    contract_lookbacks: ClassVar[
        dict[str, int]
    ] = {}  # per platform, e.g. one request per day needs more days
    restatement_gap = timedelta(days=2)

    def _run(
        self, sim: SimulatorHandle, name: str, pipeline: dlt.Pipeline, mode: str, at: datetime, **options: Any
    ) -> LoadSummary:
        cls = get_connector(name)
        kwargs: dict[str, Any] = {
            "base_url": sim.base_url,
            "credentials": sim.credentials.get(name, {}),
            "retry": CONTRACT_RETRY,
            "lookback_days": self.contract_lookbacks.get(name, self.contract_lookback_days),
            "requests_per_second": 0,
        }
        kwargs.update(options)
        return cls(**kwargs).load(pipeline, mode=mode, logical_time=at)

    def fatal_options(self, sim: SimulatorHandle, name: str) -> dict[str, Any]:
        """Constructor options that must make the run fail fatally (the connector says which)."""
        cls = get_connector(name)
        return {"credentials": cls.contract_fatal_credentials(sim.credentials.get(name, {}))}

    def _small_pages(self, sim: SimulatorHandle, name: str) -> None:
        sim.set_page_size(self.contract_page_sizes.get(name, self.contract_page_size))

    def _faulted_run(
        self, sim: SimulatorHandle, name: str, pipeline: dlt.Pipeline, at: datetime
    ) -> tuple[LoadSummary, dict[str, int]]:
        """A run with 20% of requests failing; the simulator's request counts of that run."""
        sim.set_faults(name, **FAULTS)
        before = sum(sim.stats().get(name, {}).values())
        for _ in range(3):  # a platform with few requests may draw no fault in one run: pull again
            summary = self._run(sim, name, pipeline, "lookback", at)
            stats = sim.stats().get(name, {})
            if sum(stats.values()) - stats.get("ok", 0) > 0 and summary.retries:
                break
        assert sum(stats.values()) > before
        sim.reset()
        return summary, stats

    def _fatal_run(
        self, sim: SimulatorHandle, name: str, pipeline: dlt.Pipeline, at: datetime
    ) -> BaseException | None:
        """The error of a run with credentials that must fail (None if it did not fail)."""
        try:
            self._run(sim, name, pipeline, "lookback", at, **self.fatal_options(sim, name))
        except Exception as exc:
            return exc
        finally:
            sim.reset()
        return None

    def scenario(self, sim: SimulatorHandle, name: str, base: Path) -> ContractRun:
        """Run the whole scenario once; the tests assert its parts.

        A: lookback at t1 in small pages; B: the same with faults; C: lookback at t2 (after
        restatements) into A's tables; D: the same in one-page pulls into fresh tables; E: C again
        (a rerun); then a run with wrong credentials into A's tables.
        """
        cls = get_connector(name)
        business = list(cls.report.schema.names)
        table = cls.report.full_name or f"{name}__{cls.report.table}"
        t2 = sim.world_end
        t1 = t2 - self.restatement_gap
        p_main, p_fault, p_fresh = (duckdb_pipeline(base, f"{name}_{r}") for r in ("main", "fault", "fresh"))
        summaries: dict[str, LoadSummary] = {}
        rows: dict[str, list[tuple[Any, ...]]] = {}

        sim.reset()
        self._small_pages(sim, name)
        sim.set_as_of(t1)
        summaries["a"] = self._run(sim, name, p_main, "lookback", t1)
        sim_pages_a = sim.stats().get(name, {}).get("ok", 0)
        rows["a"] = read_rows(p_main, table, business)

        summaries["b"], stats_faulted = self._faulted_run(sim, name, p_fault, t1)
        rows["b"] = read_rows(p_fault, table, business)

        self._small_pages(sim, name)
        sim.set_as_of(t2)
        summaries["c"] = self._run(sim, name, p_main, "lookback", t2)
        rows["c"] = read_rows(p_main, table, business)
        counts_c = (count_rows(p_main, f"{table}_history"), count_rows(p_main, f"{name}__slices"))

        sim.set_page_size(None)
        summaries["d"] = self._run(sim, name, p_fresh, "lookback", t2)
        rows["d"] = read_rows(p_fresh, table, business)
        slices_d = {(a, d) for a, d in read_rows(p_fresh, f"{name}__slices", ["account_id", "report_date"])}

        self._small_pages(sim, name)
        summaries["e"] = self._run(sim, name, p_main, "lookback", t2)
        rows["e"] = read_rows(p_main, table, business)
        counts_e = (count_rows(p_main, f"{table}_history"), count_rows(p_main, f"{name}__slices"))
        dupes, missing, loads_before = _integrity(p_main, table)

        fatal = self._fatal_run(sim, name, p_main, t2)
        return ContractRun(
            name=name,
            business=business,
            summaries=summaries,
            rows=rows,
            slices_d=slices_d,
            sim_pages_a=sim_pages_a,
            stats_faulted=stats_faulted,
            key_dupes=dupes,
            missing_load_ids=missing,
            history_counts=(counts_c[0], counts_e[0]),
            slice_log_counts=(counts_c[1], counts_e[1]),
            fatal_error=fatal,
            loads_before_fatal=loads_before,
            loads_after_fatal=count_rows(p_main, "_dlt_loads"),
            rows_after_fatal=read_rows(p_main, table, business),
            secrets=[
                v for k, v in sim.credentials.get(name, {}).items() if not k.endswith("ids") and len(v) >= 8
            ],
        )

    # -- the checks ------------------------------------------------------------------------
    def test_pages_to_the_end(self, contract_run: ContractRun) -> None:
        """A small page size spans >= 3 pages, and the paged result equals a one-page pull."""
        assert contract_run.summaries["a"].pages >= 3
        run = contract_run
        assert run.rows["a"], "the window returned no rows: the scenario tests nothing"
        # C (small pages) and D (platform page size) pulled the same window at the same as-of
        window_c = [r for r in run.rows["c"] if _slice_of(run, r) in run.slices_d]
        assert window_c == run.rows["d"]

    def test_faults_give_the_fault_free_result(self, contract_run: ContractRun) -> None:
        """With 20% of requests failing (429, 5xx, dropped connections) the table equals a clean run's."""
        run = contract_run
        failed = sum(v for k, v in run.stats_faulted.items() if k != "ok")
        assert failed > 0, f"no faults were injected: {run.stats_faulted}"
        assert run.summaries["b"].retries > 0
        assert run.rows["b"] == run.rows["a"]

    def test_restatement_replaces_the_window(self, contract_run: ContractRun) -> None:
        """After a restatement the table holds the simulator's latest answer for every pulled slice."""
        run = contract_run
        window_c = [r for r in run.rows["c"] if _slice_of(run, r) in run.slices_d]
        assert window_c == run.rows["d"]
        # slices the simulator answered empty have no rows left
        present = {_slice_of(run, r) for r in run.rows["c"]}
        empty = run.slices_d - {_slice_of(run, r) for r in run.rows["d"]}
        assert not (present & empty)

    def test_rerun_changes_nothing(self, contract_run: ContractRun) -> None:
        """Pulling the same window again leaves the current table unchanged; history and slice log grow."""
        run = contract_run
        assert run.rows["e"] == run.rows["c"]
        assert run.history_counts[1] > run.history_counts[0]
        assert run.slice_log_counts[1] > run.slice_log_counts[0]

    def test_every_slice_complete(self, contract_run: ContractRun) -> None:
        """Against a well-behaved simulator (faults included) every slice is complete and applied:
        the items received equal the platform's own total (a paginator's ``expected_total``)."""
        for run, summary in contract_run.summaries.items():
            bad = [(s.account_id, s.report_date, s.status, s.detail) for s in summary.slices if not s.applied]
            assert bad == [], f"run {run}: {bad[:3]}"
            assert summary.slices and summary.resume_after is None and summary.load_id is not None
            assert {s.load_id for s in summary.slices} == {summary.load_id}

    def test_keys_unique_and_load_ids_present(self, contract_run: ContractRun) -> None:
        """``_row_key`` is unique and every row carries its load id and extraction time."""
        assert contract_run.key_dupes == 0
        assert contract_run.missing_load_ids == 0

    def test_fatal_error_is_clear_and_commits_nothing(self, contract_run: ContractRun) -> None:
        """Wrong credentials fail with a one-line ConnectorError; no load, no row changes."""
        run = contract_run
        assert isinstance(run.fatal_error, ConnectorError), repr(run.fatal_error)
        msg = str(run.fatal_error)
        assert "\n" not in msg and run.name in msg
        for secret in run.secrets:
            assert secret not in msg
        assert run.loads_after_fatal == run.loads_before_fatal
        assert run.rows_after_fatal == run.rows["e"]


def _integrity(pipeline: dlt.Pipeline, table: str) -> tuple[int, int, int]:
    """Duplicate keys and rows without load id in ``table``, and the loads so far."""
    dupes = int(_query(pipeline, f"select count(*) - count(distinct _row_key) from {table}")[0][0])
    missing = count_rows(
        pipeline, table, "_load_id is null or _extracted_at is null or _load_id <> _dlt_load_id"
    )
    return dupes, missing, count_rows(pipeline, "_dlt_loads")


def _slice_of(run: ContractRun, row: tuple[Any, ...]) -> tuple[str, Any]:
    cls = get_connector(run.name)
    acc, day = cls.report.slice_columns
    return (row[run.business.index(acc)], row[run.business.index(day)])


__all__ = [
    "CONTRACT_RETRY",
    "FAULTS",
    "ContractRun",
    "LiveContract",
    "SimulatorHandle",
    "StructureContract",
    "duckdb_pipeline",
    "structure_problems",
]
