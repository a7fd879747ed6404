"""The daily ROI table people look at: by platform and campaign, from the published mart.

Rows are the published slice only (:mod:`flows.published`: the attribution version of
``ROI_DEFAULT_ATTRIBUTION_CONFIG`` and the published definition versions), never "the largest
version": a manual run of another attribution config, or a v2 definition built beside v1,
changes nothing here. The Prefect artifact (``flows.tasks.publish_roi_artifact``) sums these rows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rich.table import Table

from flows.published import Published, published
from roi.core.warehouse import get_warehouse, table_exists

ROI_SQL = f"""
select platform,
       campaign_id,
       max(campaign_name) as campaign_name,
       sum(spend_usd) as spend_usd,
       sum(signups) as signups,
       sum(modeled_signups) as modeled_signups,
       sum(revenue_usd) as revenue_usd,
       sum(spend_usd) / nullif(sum(signups) + sum(modeled_signups), 0) as cac_usd,
       sum(revenue_usd) / nullif(sum(spend_usd), 0) as roas,
       (sum(revenue_usd) - sum(spend_usd)) / nullif(sum(spend_usd), 0) as roi
from analytics.mart_marketing_roi_daily
where report_date = ? and {Published.MART_FILTER}
group by platform, campaign_id
order by platform, spend_usd desc nulls last, campaign_id
"""


def roi_rows(report_date: date) -> list[dict[str, Any]]:
    """Published mart rows of one UTC day, summed by platform and campaign."""
    pub = published()
    with get_warehouse().session("ROI report") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            if not table_exists(cur, "analytics", "mart_marketing_roi_daily"):
                return []
            res = cur.execute(ROI_SQL, [report_date, *pub.params()])
            names = [d[0] for d in res.description]
            return [dict(zip(names, row, strict=True)) for row in res.fetchall()]
        finally:
            cur.close()


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{float(value):,.{digits}f}"


def roi_table(report_date: date, max_campaigns_per_platform: int = 5) -> Table:
    """A rich table: per platform its top campaigns by spend and a platform total."""
    rows = roi_rows(report_date)
    table = Table(title=f"Marketing ROI, {report_date.isoformat()} (UTC)", show_lines=False)
    for col, justify in (
        ("platform", "left"),
        ("campaign", "left"),
        ("spend USD", "right"),
        ("sign-ups", "right"),
        ("SKAN modeled", "right"),
        ("revenue USD", "right"),
        ("CAC", "right"),
        ("ROAS", "right"),
        ("ROI", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    if not rows:
        table.caption = "no mart rows for this day yet"
        return table
    platforms: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        platforms.setdefault(r["platform"], []).append(r)
    for platform, items in platforms.items():
        for r in items[:max_campaigns_per_platform]:
            table.add_row(
                platform,
                str(r["campaign_name"] or r["campaign_id"]),
                _fmt(r["spend_usd"]),
                _fmt(r["signups"], 1),
                _fmt(r["modeled_signups"], 1),
                _fmt(r["revenue_usd"]),
                _fmt(r["cac_usd"]),
                _fmt(r["roas"], 3),
                _fmt(r["roi"], 3),
            )
        spend = sum(float(r["spend_usd"] or 0) for r in items)
        signups = sum(float(r["signups"] or 0) for r in items)
        modeled = sum(float(r["modeled_signups"] or 0) for r in items)
        revenue = sum(float(r["revenue_usd"] or 0) for r in items)
        table.add_row(
            f"[bold]{platform}[/bold]",
            f"[bold]all {len(items)} campaigns[/bold]",
            _fmt(spend),
            _fmt(signups, 1),
            _fmt(modeled, 1),
            _fmt(revenue),
            _fmt(spend / (signups + modeled)) if signups + modeled else "–",
            _fmt(revenue / spend, 3) if spend else "–",
            _fmt((revenue - spend) / spend, 3) if spend else "–",
            end_section=True,
        )
    return table
