"""Run the Soda v4 contracts in ``soda_checks/`` against the warehouse (``roi checks``).

One contract per fact table and the mart: keys (missing, duplicate), nulls, row counts for
the run window, freshness, and the FX completeness rule. The data source comes from
``roi.core.warehouse.get_warehouse().soda_data_source()`` (for DuckDB the process's shared
connection). Freshness is measured against the run's logical time, never the wall clock: the
``end`` passed in, else the window end of the last succeeded run in ``audit.pipeline_runs``
(with neither, a one-line error asks for a window).

A contract that fails a check, or that errors (a missing table, a bad query), fails the whole
result: a check that cannot run is not a passing check.

The contracts take their valid platforms from the connector registry: ``{{ ad_platforms }}`` in a
contract stands for the ad platforms (:func:`flows.dbt_runner.ad_platforms`), written in when the
contract is rendered for a run (:func:`render_contract`), so no contract restates the list.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from roi.core.errors import RoiError, UserInputError
from roi.core.runs import last_succeeded_window_end
from roi.core.warehouse import get_warehouse

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "soda_checks"
# In a contract, the quoted placeholder stands for the ad platforms as YAML flow-list items, so
# `valid_values: ["{{ ad_platforms }}", unattributed]` is valid YAML before and after rendering.
AD_PLATFORMS_SLOT = '"{{ ad_platforms }}"'
# Published relations whose rows are built in a staged twin and checked there before they are
# published (flows/dbt_runner.py stage_mart / publish_mart): with ``staged=True`` the contract of
# the published relation is verified against its twin, so the new rows pass the same contract.
STAGED_TWINS = {"mart_marketing_roi_daily": "mart_marketing_roi_daily__staged"}


class ChecksFailed(RoiError):
    """At least one Soda contract failed or errored."""


@dataclass(frozen=True)
class CheckResult:
    """One check of one contract: outcome is passed | failed | warned | not_evaluated | error."""

    contract: str
    dataset: str
    check: str
    column: str | None
    outcome: str
    diagnostics: str

    @property
    def ok(self) -> bool:
        """True when the check passed (or only warned)."""
        return self.outcome in ("passed", "warned", "excluded")


def _data_source() -> Any:
    """The Soda DataSourceImpl built from the warehouse's data source definition."""
    # Imported at first use, as in run_contract (start-up time of every `roi` command).
    from soda_core.common.data_source_impl import DataSourceImpl

    spec = dict(get_warehouse().soda_data_source())
    conn = dict(spec.get("connection") or {})
    if conn.get("duckdb_connection") is not None:
        # Soda closes its connection after each contract: hand it a cursor (a connection of its
        # own on the shared instance), never the warehouse's connection itself.
        conn["duckdb_connection"] = conn["duckdb_connection"].cursor()
        spec["connection"] = conn
    impl_cls = DataSourceImpl._DataSourceImpl__implementation_classes.get(spec["type"])
    model_cls = DataSourceImpl._DataSourceImpl__model_classes.get(spec["type"])
    if impl_cls is None or model_cls is None:
        # The plugin registers its classes on import.
        importlib.import_module(f"soda_{spec['type']}.common.data_sources.{spec['type']}_data_source")
        impl_cls = DataSourceImpl._DataSourceImpl__implementation_classes[spec["type"]]
        model_cls = DataSourceImpl._DataSourceImpl__model_classes[spec["type"]]
    return impl_cls(data_source_model=model_cls.model_validate(spec))


def _scalar(sql: str) -> Any:
    """One value from the warehouse, or None when the query fails (a missing table)."""
    con = get_warehouse().connection()
    cur = con.cursor()
    try:
        cur.execute(sql)
        row = cur.fetchone()
        return row[0] if row else None
    except Exception:
        return None
    finally:
        cur.close()


def _logical_now(end: datetime | None) -> datetime:
    """The time freshness is measured against (see module docstring), naive UTC.

    The run's end when given, else the window end of the last succeeded run; never the wall
    clock: with neither, the checks cannot know which data should be fresh, and say so.
    """
    if end is not None:
        return end.astimezone(UTC).replace(tzinfo=None) if end.tzinfo else end
    last = last_succeeded_window_end()
    if last is None:
        raise UserInputError(
            "no succeeded run is recorded in audit.pipeline_runs to measure freshness against: "
            "pass --start and --end"
        )
    return last


def check_variables(
    start: date | datetime | None = None, end: date | datetime | None = None
) -> tuple[dict[str, str], datetime]:
    """Soda variables (window, FX cut-off) and the data timestamp for a run window.

    Without a window: the last day present in ``fact_ad_spend`` (or the logical now).
    """
    end_ts = (
        end if isinstance(end, datetime) else (datetime.combine(end, datetime.min.time()) if end else None)
    )
    now = _logical_now(end_ts)
    if start is not None and end is not None:
        s = start.date() if isinstance(start, datetime) else start
        e_dt = end if isinstance(end, datetime) else datetime.combine(end, datetime.min.time())
        e = e_dt.date() if e_dt.time() == datetime.min.time() else e_dt.date() + timedelta(days=1)
        as_of = (e_dt - timedelta(microseconds=1)).date()
    else:
        last = _scalar("select max(spend_date) from analytics.fact_ad_spend")
        as_of = last if isinstance(last, date) else now.date()
        s, e = as_of, as_of + timedelta(days=1)
    if e <= s:
        raise UserInputError(f"empty check window: end {end} is not after start {start}")
    return (
        {
            "window_start": s.isoformat(),
            "window_end": e.isoformat(),
            "fx_required_before": (as_of - timedelta(days=1)).isoformat(),
        },
        now,
    )


def render_contract(path: Path, platforms: Sequence[str], folder: Path, staged: bool = False) -> Path:
    """Write the contract at ``path`` into ``folder`` with the ad platforms in its slots; returns the copy.

    With ``staged`` a contract of a relation in :data:`STAGED_TWINS` is written for its twin
    (the copy is named after the twin, so results name the relation actually checked).
    """
    text = path.read_text().replace(AD_PLATFORMS_SLOT, ", ".join(platforms))
    twin = STAGED_TWINS.get(path.stem) if staged else None
    if twin is not None:
        text = text.replace(f"dataset: roi/analytics/{path.stem}\n", f"dataset: roi/analytics/{twin}\n")
    rendered = folder / f"{twin or path.stem}{path.suffix}"
    rendered.write_text(text)
    return rendered


def run_contract(path: Path, variables: dict[str, str], data_timestamp: datetime) -> list[CheckResult]:
    """Verify one contract file; an execution error becomes one ``error`` result."""
    # Soda is imported by the first check, not with this module: it takes seconds to load, and
    # the CLI imports this module for every `roi` command. By then roi.core (imported above)
    # has turned off Soda's telemetry, which Soda reads once, at import.
    from soda_core.contracts.api.verify_api import verify_contract_locally

    name = path.stem
    try:
        session = verify_contract_locally(
            data_sources=[_data_source()],
            contract_file_path=str(path),
            variables=variables,
            data_timestamp=data_timestamp.replace(tzinfo=UTC).isoformat(),
            publish=False,
        )
    except Exception as exc:  # Soda raises on unparseable contracts and connection failures
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [CheckResult(name, name, "contract", None, "error", first)]
    out: list[CheckResult] = []
    for result in session.contract_verification_results:
        dataset = getattr(result.contract, "dataset_name", name)
        for cr in result.check_results:
            out.append(
                CheckResult(
                    contract=name,
                    dataset=dataset,
                    check=cr.check.name or cr.check.type,
                    column=cr.check.column_name,
                    outcome=cr.outcome.name.lower(),
                    diagnostics=cr.log_table_row_diagnostics(verbose=False).replace("\n", "; "),
                )
            )
        errors = result.get_errors()
        if errors or result.has_errors:
            out.append(
                CheckResult(name, dataset, "execution", None, "error", (errors or ["contract errored"])[0])
            )
        if not result.check_results and not errors:
            out.append(CheckResult(name, dataset, "execution", None, "error", "no check was evaluated"))
    return out


def run_all_checks(
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    raise_on_failure: bool = False,
    contracts_dir: Path = CONTRACTS_DIR,
    platforms: Sequence[str] | None = None,
    staged: bool = False,
) -> list[CheckResult]:
    """Verify every contract in ``soda_checks/``; with ``raise_on_failure`` raise :class:`ChecksFailed`.

    ``platforms`` (default: the registered ad platforms) fill the contracts' platform slots.
    ``staged``: check the staged twins of published relations (:data:`STAGED_TWINS`) instead,
    as the flows do before publishing them.
    """
    contracts = sorted(contracts_dir.glob("*.yaml"))
    if not contracts:
        raise UserInputError(f"no Soda contracts in {contracts_dir}")
    warehouse = get_warehouse()
    # Each contract holds the warehouse for its own run only: a reader never keeps a flow
    # waiting for the whole suite.
    with warehouse.session("checks: window"):
        variables, now = check_variables(start, end)
    if platforms is None:
        # Imported when checks run, not with this module: the registry imports every connector
        # (dlt) and dbt_runner imports dbt, seconds that `roi --help` should not pay.
        from flows.dbt_runner import ad_platforms

        platforms = ad_platforms()
    # Soda logs every check at INFO; our table is the report.
    logging.getLogger("soda").setLevel(logging.WARNING)
    results: list[CheckResult] = []
    with tempfile.TemporaryDirectory(prefix="roi-contracts-") as folder:
        for path in contracts:
            rendered = render_contract(path, platforms, Path(folder), staged)
            with warehouse.session(f"checks: {path.stem}"):
                results.extend(run_contract(rendered, variables, now))
    bad = [r for r in results if not r.ok]
    if bad and raise_on_failure:
        names = ", ".join(f"{r.contract}:{r.check} ({r.outcome})" for r in bad[:5])
        raise ChecksFailed(f"{len(bad)} Soda check(s) failed or errored: {names}")
    return results
