"""Prefect tasks: each calls one library of the pipeline, as one step holding the warehouse.

Every task retries transient failures with exponential backoff and jitter (never a user
error: bad input or missing credentials fail at once) and has a timeout. The flows in
``flows/pipeline.py`` compose them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from attribution.store import run_attribution
from connectors import connector_names, run_connector
from connectors.product_events import load_events as load_product_events
from flows import dbt_runner, pull_slices
from flows.checks import ChecksFailed, run_all_checks
from flows.common import TASK_RETRY
from flows.locks import holds_warehouse, warehouse_step
from flows.report import roi_rows
from roi.core.settings import RestatementWindow, get_settings
from roi.core.warehouse import get_warehouse

# Sign-ups re-attributed by every run: SKAN postbacks arrive up to 72 h late and touches
# in late files; four days covers both.
ATTRIBUTION_TRAILING_DAYS = 4


def ad_sources() -> list[str]:
    """Every API connector (``connectors`` registers them all on import), FX first.

    FX first: the spend of the window converts at the rates it brings.
    """
    return sorted(connector_names(), key=lambda name: (name != "fx_rates", name))


def _plain(obj: Any) -> Any:
    """A JSON-friendly copy of a summary object (Prefect persists task results)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    return obj


def _summary(obj: Any) -> dict[str, Any]:
    """A summary object as a plain dict."""
    out = _plain(obj)
    return out if isinstance(out, dict) else {"result": out}


@task(**TASK_RETRY, timeout_seconds=1800, task_run_name="ads-{platform}-{mode}")
def load_ads(
    platform: str,
    mode: str,
    logical_time: datetime,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """Pull one platform (``mode`` hourly | lookback | backfill) into ``raw_ads``.

    Re-pulls the slices an earlier run left partial or deferred (``audit.pull_slices``), waits
    out a deferral whose resume time is still ahead (the platform is skipped, saying until when),
    uses the platform's restatement window in lookback mode, and records every slice's outcome.

    It holds the warehouse only to read and record the slices and to land the pull, not while
    the API answers (most of a pull): an ops refresh or another run's step takes its turn then.
    """
    settings = get_settings()
    warehouse = get_warehouse()
    with warehouse_step(f"ads {platform}: open slices"):
        owed = pull_slices.open_slices(warehouse, platform)
    wait = pull_slices.deferred_until(owed, logical_time)
    if wait is not None and mode != "backfill":
        return {
            "platform": platform,
            "mode": mode,
            "rows": 0,
            "skipped": f"deferred until {wait.isoformat()}",
        }
    summary = run_connector(
        platform,
        # made inside the landing's turn: the DuckDB destination shares that turn's connection
        lambda: warehouse.dlt_pipeline(f"roi_ads_{platform}", "raw_ads"),
        access=lambda: warehouse_step(f"ads {platform}: land"),
        mode=mode,
        logical_time=logical_time,
        start=start,
        end=end,
        base_url=settings.api_base_url,
        reopen=pull_slices.due(owed),
        **_window_options(platform, mode, settings.restatement_days),
    )
    outcomes = _plain(summary.slices)
    with warehouse_step(f"ads {platform}: record slices"):
        pull_slices.record(warehouse, platform, outcomes, logical_time, summary.resume_after)
    result = _summary(summary)
    result["slices"] = {status: summary.count(status) for status in ("complete", "partial", "deferred")}
    dates = [o.report_date for o in summary.slices if o.status != "deferred"]
    result["first_report_date"] = min(dates).isoformat() if dates else None
    if summary.warnings:
        get_run_logger().warning("%s: %s", platform, "; ".join(summary.warnings))
    return result


def _window_options(platform: str, mode: str, windows: Mapping[str, RestatementWindow]) -> dict[str, Any]:
    """The connector options of a platform's restatement window (lookback runs only)."""
    window = windows.get(platform)
    if mode != "lookback" or window is None:
        return {}
    if window == "locking":
        return {"until_locking": True}
    return {"lookback_days": window}


@task(**TASK_RETRY, timeout_seconds=3600)
@holds_warehouse
def load_events() -> dict[str, Any]:
    """Load the landing files not seen before into ``raw_events`` (bounded batches)."""
    settings = get_settings()
    pepper = settings.require_pepper()
    pipeline = get_warehouse().dlt_pipeline("roi_product_events", "raw_events")
    max_file = settings.landing_max_file_mb * 2**20
    summary = load_product_events(pipeline, settings.landing_url, pepper, max_file_bytes=max_file)
    return _summary(summary)


@task(**TASK_RETRY, timeout_seconds=3600)
@holds_warehouse
def build_facts(start: date, end: date, event_load_ids: list[str] | None = None) -> int:
    """dbt: staging, intermediate, facts and dim_campaign for [start, end), with their tests.

    ``event_load_ids``: the event loads whose touches to re-derive (None: every touch of the window).
    """
    run = dbt_runner.build_facts(start, end, event_load_ids=event_load_ids)
    return len(run.nodes)


@task(**TASK_RETRY, timeout_seconds=3600)
@holds_warehouse
def attribute(start: date, end: date) -> dict[str, Any]:
    """Re-attribute the sign-ups of [start, end) under the published attribution config.

    The config is ``ROI_DEFAULT_ATTRIBUTION_CONFIG`` and the sign-ups those of the published
    sign-up definition (flows.published): what the report and the artifact read. Other configs
    run by hand (``roi attribution run --config ...``) sit beside it and change no published number.
    """
    settings = get_settings()
    summary = run_attribution(
        get_warehouse().connection(),
        start,
        end - timedelta(days=1),
        settings.default_attribution_config,
        signup_definition=settings.published_signup_definition,
    )
    return _summary(summary)


@task(**TASK_RETRY, timeout_seconds=3600)
@holds_warehouse
def build_mart(start: date, end: date) -> int:
    """dbt: the candidate mart (``mart_marketing_roi_daily__staged``) for [start, end), with its identity tests.

    Readers see none of it until :func:`publish_mart`, after the checks.
    """
    run = dbt_runner.stage_mart(start, end)
    return len(run.nodes)


@task(**TASK_RETRY, timeout_seconds=1800)
@holds_warehouse
def publish_mart(start: date, end: date) -> int:
    """dbt: the candidate's rows of [start, end) replace the published mart's, in one transaction.

    Called only after :func:`run_checks` passed on the same window (flows/pipeline.py).
    """
    run = dbt_runner.publish_mart(start, end)
    return len(run.nodes)


@task(retries=0, timeout_seconds=1800)
def run_checks(window_start: datetime, window_end: datetime) -> int:
    """Every Soda contract for the run's window (freshness against its logical time).

    The mart's contract is verified on the candidate (``staged``): its new rows are checked
    before they are published. Raises, failing the flow, when a check fails or errors: the mart
    readers see is then left as it was, and a failing contract blocks the close. Each contract
    holds the warehouse for its own run (``run_all_checks``), not the whole step.
    """
    try:
        return len(run_all_checks(window_start, window_end, raise_on_failure=True, staged=True))
    except ChecksFailed as exc:
        raise ChecksFailed(f"{exc}; the mart was not published (readers see it as before)") from None


def roi_by_platform(report_date: date) -> list[dict[str, Any]]:
    """The day's ROI by platform, summed from the campaign rows of the ROI report."""
    totals: dict[str, dict[str, float]] = {}
    for r in roi_rows(report_date):
        t = totals.setdefault(
            r["platform"], {"spend_usd": 0.0, "signups": 0.0, "modeled_signups": 0.0, "revenue_usd": 0.0}
        )
        for key in t:
            t[key] += float(r[key] or 0)
    out = []
    for platform, t in sorted(totals.items()):
        conversions = t["signups"] + t["modeled_signups"]
        out.append(
            {
                "platform": platform,
                **{k: round(v, 2) for k, v in t.items()},
                "cac_usd": round(t["spend_usd"] / conversions, 2) if conversions else None,
                "roas": round(t["revenue_usd"] / t["spend_usd"], 3) if t["spend_usd"] else None,
                "roi": round((t["revenue_usd"] - t["spend_usd"]) / t["spend_usd"], 3)
                if t["spend_usd"]
                else None,
            }
        )
    return out


@task(retries=1, timeout_seconds=120)
def publish_roi_artifact(report_date: date) -> int:
    """A Prefect table artifact with the day's ROI by platform (the warehouse is held only to read it)."""
    rows = roi_by_platform(report_date)
    create_table_artifact(
        key="roi-by-platform",
        table=[{k: (v if v is not None else "") for k, v in r.items()} for r in rows],
        description=f"Marketing ROI by platform for {report_date.isoformat()} (UTC)",
    )
    return len(rows)
