"""Prefect tasks: each calls one library of the pipeline and holds the warehouse write slot.

Every task retries transient failures with exponential backoff and jitter (never a user
error: bad input or missing credentials fail at once) and has a timeout. The flows in
``flows/pipeline.py`` compose them.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact

from flows.common import TASK_RETRY
from flows.locks import warehouse_write
from roi.settings import get_settings
from roi.warehouse import get_warehouse

AD_PLATFORMS: tuple[str, ...] = ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads", "impact")
# FX first: spend of the window converts at the rates it brings.
AD_SOURCES: tuple[str, ...] = ("fx_rates", *AD_PLATFORMS)

# Sign-ups re-attributed by every run: SKAN postbacks arrive up to 72 h late and touches
# in late files; four days covers both.
ATTRIBUTION_TRAILING_DAYS = 4


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


@task(**TASK_RETRY, timeout_seconds=1800, task_run_name="ads-{platform}-{mode}")
def load_ads(
    platform: str,
    mode: str,
    logical_time: datetime,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """Pull one platform (``mode`` hourly | lookback | backfill) into ``raw_ads``."""
    import connectors  # noqa: F401  (fills the connector registry)
    from connector_sdk.registry import run_connector

    settings = get_settings()
    with warehouse_write():
        pipeline = get_warehouse().dlt_pipeline(f"roi_ads_{platform}", "raw_ads")
        summary = run_connector(
            platform,
            pipeline,
            mode=mode,
            logical_time=logical_time,
            start=start,
            end=end,
            base_url=settings.api_base_url,
        )
    return _plain(summary)


@task(**TASK_RETRY, timeout_seconds=3600)
def load_events() -> dict[str, Any]:
    """Load the landing files not seen before into ``raw_events`` (bounded batches)."""
    from connectors.product_events import load_events as _load_events

    settings = get_settings()
    pepper = settings.require_pepper()
    with warehouse_write():
        pipeline = get_warehouse().dlt_pipeline("roi_product_events", "raw_events")
        summary = _load_events(pipeline, settings.landing_url, pepper)
    return _plain(summary)


@task(**TASK_RETRY, timeout_seconds=3600)
def build_facts(start: date, end: date) -> int:
    """dbt: staging, intermediate, facts and dim_campaign for [start, end), with their tests."""
    from flows import dbt_runner

    with warehouse_write():
        run = dbt_runner.build_facts(start, end)
    return len(run.nodes)


@task(**TASK_RETRY, timeout_seconds=3600)
def attribute(start: date, end: date) -> dict[str, Any]:
    """Re-attribute the sign-ups of [start, end) under the default attribution config."""
    from attribution.store import run_attribution

    with warehouse_write():
        summary = run_attribution(get_warehouse().connection(), start, end - timedelta(days=1))
    return _plain(summary)


@task(**TASK_RETRY, timeout_seconds=3600)
def build_mart(start: date, end: date) -> int:
    """dbt: ``mart_marketing_roi_daily`` for [start, end), with its identity tests."""
    from flows import dbt_runner

    with warehouse_write():
        run = dbt_runner.build_mart(start, end)
    return len(run.nodes)


@task(retries=0, timeout_seconds=1800)
def run_checks() -> dict[str, Any]:
    """Every Soda contract; raises (failing the flow) when one fails or errors."""
    from flows.checks import run_all_checks

    results = run_all_checks(raise_on_failure=True)
    return _plain(results)


def roi_by_platform(report_date: date) -> list[dict[str, Any]]:
    """The day's ROI by platform (current attribution version rows of the mart)."""
    cur = get_warehouse().connection().cursor()
    try:
        rows = cur.execute(
            """
            select platform,
                   round(sum(spend_usd), 2) as spend_usd,
                   round(sum(signups), 2) as signups,
                   round(sum(modeled_signups), 2) as modeled_signups,
                   round(sum(revenue_usd), 2) as revenue_usd,
                   round(sum(spend_usd) / nullif(sum(signups) + sum(modeled_signups), 0), 2) as cac_usd,
                   round(sum(revenue_usd) / nullif(sum(spend_usd), 0), 3) as roas,
                   round((sum(revenue_usd) - sum(spend_usd)) / nullif(sum(spend_usd), 0), 3) as roi
            from analytics.mart_marketing_roi_daily
            where report_date = ?
            group by platform
            order by platform
            """,
            [report_date],
        ).fetchall()
        names = [d[0] for d in cur.description]
    finally:
        cur.close()
    return [dict(zip(names, (float(v) if isinstance(v, int | float) else v for v in row), strict=True)) for row in rows]


@task(retries=1, timeout_seconds=120)
def publish_roi_artifact(report_date: date) -> int:
    """A Prefect table artifact with the day's ROI by platform."""
    rows = roi_by_platform(report_date)
    create_table_artifact(
        key="roi-by-platform",
        table=[{k: (v if v is not None else "") for k, v in r.items()} for r in rows],
        description=f"Marketing ROI by platform for {report_date.isoformat()} (UTC)",
    )
    return len(rows)
