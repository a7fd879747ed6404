"""``roi explain``: why a published mart number is what it is, as a tree that sums at every level.

From one number of ``analytics.mart_marketing_roi_daily`` (the published slice, read through
:mod:`flows.published`) down to what it is made of:

* spend: the mart row -> its ``fact_ad_spend`` rows (USD, with the FX rate used) -> the raw
  current rows each was built from (``raw_ads.<platform>__<report>``, in the platform's
  currency, with their load id and pull time);
* sign-ups: the mart row -> ``signups`` (deterministic and unattributed credit) and
  ``modeled_signups`` (SKAN) -> the ``fact_attribution`` rows (credit, method, run, config),
  each with its sign-up (``fact_signups``, the landing file of its event), the touch that won
  and why;
* revenue: the mart row -> its credited sign-ups (credit x ``first_revenue_usd``) with the
  first ride / order event and its landing file;
* cac and roas: a ratio node over the numerator and denominator trees.

Every node carries its value; :func:`check_sums` proves each level adds up to the one above
(or, for ratio nodes, divides) and the builders call it before returning, so a tree that does
not add up is never shown. Personal data appears only as the ids and hashes the warehouse
already stores: nothing here reads e-mail or phone columns or the landing files themselves.

The queries are read-only; the caller holds the warehouse turn and passes a cursor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from attribution.config import PLATFORMS, AttributionConfig, load_config
from flows.published import Published
from roi.core.errors import RoiError, UserInputError
from roi.core.warehouse import table_exists

METRICS: tuple[str, ...] = ("spend", "signups", "revenue", "cac", "roas")
# The mart also carries the sign-ups no touch explains, under platform and campaign ``unattributed``.
EXPLAIN_PLATFORMS: tuple[str, ...] = (*PLATFORMS, "unattributed")
MART = "analytics.mart_marketing_roi_daily"
CLOSED = "analytics.mart_marketing_roi_closed"
ADJUSTMENTS = "analytics.mart_marketing_roi_adjustments"
MONEY_TOLERANCE = 1e-6  # decimal(38, 6): one micro-unit of rounding where a double is cast back
FLOAT_REL_TOLERANCE = 1e-9  # credits are doubles; their sums drift in the last bits only


class ExplainInconsistent(RoiError):
    """A tree whose levels do not add up: a bug or a warehouse that changed under the read."""

    exit_code = 1


@dataclass
class Node:
    """One number of the tree.

    ``combine`` says how the children make the value: ``sum`` (their values add up to
    ``value``, or to ``children_total`` when they are in another unit, e.g. the platform's
    currency under a USD fact row) or ``ratio`` (numerator / denominator). ``details`` are
    facts that explain the node without adding up (the sign-up, the winning touch, the rule).
    """

    kind: str
    label: str
    value: Decimal | float | None
    unit: str
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    combine: str = "sum"
    children_total: Decimal | float | None = None
    children_unit: str | None = None
    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values: numbers as numbers (six decimals survive a float), times as ISO text."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "label": self.label,
            "value": _number(self.value),
            "unit": self.unit,
            "combine": self.combine,
            "attrs": {k: _plain(v) for k, v in self.attrs.items()},
        }
        if self.children_total is not None:
            out["children_total"] = _number(self.children_total)
            out["children_unit"] = self.children_unit
        if self.details:
            out["details"] = {k: {a: _plain(b) for a, b in v.items()} for k, v in self.details.items()}
        out["children"] = [c.to_json() for c in self.children]
        return out


def _number(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# -- sums --------------------------------------------------------------------------------------
def _close(a: Decimal | float | None, b: Decimal | float | None, money: bool) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b  # exact decimal sums (spend): no tolerance at all
    return math.isclose(
        float(a), float(b), rel_tol=FLOAT_REL_TOLERANCE, abs_tol=MONEY_TOLERANCE if money else 1e-9
    )


def _total(values: Iterable[Decimal | float | None]) -> Decimal | float:
    vals = [v for v in values if v is not None]
    if all(isinstance(v, Decimal) for v in vals):
        return sum((v for v in vals if isinstance(v, Decimal)), Decimal(0))
    return math.fsum(float(v) for v in vals)


def check_sums(node: Node, path: str = "") -> None:
    """Raise :class:`ExplainInconsistent` unless every level adds up to (or divides into) its parent."""
    where = f"{path}/{node.label}"
    if node.children and node.combine == "sum":
        expected = node.children_total if node.children_total is not None else node.value
        got = _total(c.value for c in node.children)
        if not _close(got, expected, node.unit != "sign-ups"):
            raise ExplainInconsistent(f"explain: {where} is {expected} but its children sum to {got}")
    if node.combine == "ratio":
        num, den = node.children[0].value, node.children[1].value
        ratio = None if num is None or den is None or float(den) == 0 else float(num) / float(den)
        if not _close(ratio, node.value, True):
            raise ExplainInconsistent(f"explain: {where} is {node.value} but {num} / {den} = {ratio}")
    for child in node.children:
        check_sums(child, where)


def limit_tree(node: Node, limit: int) -> Node:
    """The tree with at most ``limit`` children per node (the largest by value), the rest folded into
    one ``others (k rows)`` node whose value is their sum, so every level still adds up."""
    children = [limit_tree(c, limit) for c in node.children]
    if node.combine == "sum" and limit > 0 and len(children) > limit + 1:
        ranked = sorted(children, key=lambda c: abs(float(c.value or 0)), reverse=True)
        kept, rest = ranked[:limit], ranked[limit:]
        others = Node(
            "others",
            f"others ({len(rest)} rows)",
            _total(c.value for c in rest),
            rest[0].unit,
            {"rows": len(rest)},
        )
        children = [*kept, others]
    return replace(node, children=children)


# -- reading -----------------------------------------------------------------------------------
def _rows(cur: Any, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    res = cur.execute(sql, list(params))
    names = [d[0] for d in res.description]
    return [dict(zip(names, row, strict=True)) for row in res.fetchall()]


def _campaign_filter(column: str, campaign: str | None) -> tuple[str, list[str]]:
    return (f" and {column} = ?", [campaign]) if campaign is not None else ("", [])


@dataclass(frozen=True)
class Cell:
    """What is explained: a UTC day, a platform, optionally one campaign, under the published versions."""

    day: date
    platform: str
    campaign: str | None
    published: Published

    def describe(self) -> str:
        camp = f" campaign {self.campaign}" if self.campaign is not None else ""
        return f"{self.day} {self.platform}{camp}"


def mart_rows(cur: Any, cell: Cell) -> list[dict[str, Any]]:
    """The published mart rows of the cell (one per campaign); a one-line error when there are none."""
    if cell.platform not in EXPLAIN_PLATFORMS:
        raise UserInputError(f"unknown platform {cell.platform!r}: use one of {', '.join(EXPLAIN_PLATFORMS)}")
    if not table_exists(cur, "analytics", "mart_marketing_roi_daily"):
        raise UserInputError(
            "no mart yet (analytics.mart_marketing_roi_daily): run `roi run` or `roi backfill` first"
        )
    extra, params = _campaign_filter("campaign_id", cell.campaign)
    rows = _rows(
        cur,
        f"select campaign_id, campaign_name, spend_usd, signups, modeled_signups, revenue_usd, cac_usd, roas "
        f"from {MART} where report_date = ? and platform = ? and {Published.MART_FILTER}{extra} order by campaign_id",
        [cell.day, cell.platform, *cell.published.params(), *params],
    )
    if not rows:
        raise UserInputError(
            f"no mart row for {cell.describe()} under {cell.published.attribution_version} "
            f"({cell.published.spend_definition}, {cell.published.signup_definition}): check the date, platform and campaign"
        )
    return rows


# -- spend -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawSpec:
    """Where a platform's spend rows land raw, and how a raw row maps onto the fact grain."""

    table: str
    ad_group: str
    ad: str | None
    spend_local: str
    time: str  # local_hour: account-local date + hour; utc_day: a UTC day; event_hour: UTC hour of event_ts


RAW_SPEND: dict[str, RawSpec] = {
    "google_ads": RawSpec(
        "google_ads__ad_performance",
        "ad_group_id",
        "ad_id",
        "cast(cost_micros as decimal(38, 6)) * 0.000001",
        "local_hour",
    ),
    "meta_ads": RawSpec(
        "meta_ads__ad_performance", "adset_id", "ad_id", "cast(spend as decimal(38, 6))", "local_hour"
    ),
    "tiktok_ads": RawSpec(
        "tiktok_ads__ad_performance", "adgroup_id", "ad_id", "cast(spend as decimal(38, 6))", "local_hour"
    ),
    "apple_search_ads": RawSpec(
        "apple_search_ads__ad_group_performance",
        "ad_group_id",
        None,
        "cast(local_spend as decimal(38, 6))",
        "utc_day",
    ),
    "impact": RawSpec(
        "impact__actions", "media_partner_id", None, "cast(payout as decimal(38, 6))", "event_hour"
    ),
}
# The staging models' mapping to UTC (sql_models/macros/dialect.sql, local_hour_to_utc, DuckDB form):
# an hour that a fall-back change repeats takes the earlier instant.
_LOCAL_HOUR_UTC = (
    "least(timezone('UTC', timezone(time_zone, cast(report_date as timestamp) + report_hour * interval 1 hour)),"
    " timezone('UTC', timezone(time_zone, cast(report_date as timestamp) + (report_hour - 1) * interval 1 hour))"
    " + interval 1 hour)"
)
_SPEND_TS = {
    "local_hour": _LOCAL_HOUR_UTC,
    "utc_day": "cast(cast(report_date as date) as timestamp)",
    "event_hour": "date_trunc('hour', cast(cast(event_ts as timestamptz) as timestamp))",
}
_GRAIN = ("account_id", "campaign_id", "ad_group_id", "ad_id", "spend_hour")


def _grain(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(None if row[k] is None else str(row[k]) for k in _GRAIN)


def _raw_spend_sql(
    cur: Any, spec: RawSpec, platform: str, campaign: str | None
) -> tuple[str, list[Any]] | None:
    """The raw current rows of a platform mapped to the fact grain (UTC date and hour), or None."""
    if not table_exists(cur, "raw_ads", spec.table):
        return None
    cols = {
        str(r[0]).lower()
        for r in cur.execute(
            "select column_name from information_schema.columns "
            "where lower(table_schema) = 'raw_ads' and lower(table_name) = ?",
            [spec.table],
        ).fetchall()
    }
    live = ["coalesce(_tombstone, false) = false"] if "_tombstone" in cols else []
    if spec.time == "event_hour":
        live.append("upper(state) <> 'REVERSED'")  # reversed actions are no spend (staging drops them)
    extra, params = _campaign_filter("cast(campaign_id as varchar)", campaign)
    hour = "report_hour" if "report_hour" in cols else "cast(null as integer)"
    join, pulled = _slice_joins(cur, platform)
    sql = f"""
        with raw as (
            select cast(account_id as varchar) as account_id, cast(campaign_id as varchar) as campaign_id,
                   cast({spec.ad_group} as varchar) as ad_group_id,
                   {f"cast({spec.ad} as varchar)" if spec.ad else "cast(null as varchar)"} as ad_id,
                   report_date, {hour} as report_hour, upper(currency) as currency,
                   {spec.spend_local} as spend_local, _row_key, _load_id, _extracted_at,
                   {_SPEND_TS[spec.time]} as spend_ts
            from raw_ads.{spec.table}
            where report_date between ? and ?{" and " + " and ".join(live) if live else ""}{extra}
        )
        select r.*, cast(r.spend_ts as date) as spend_date,
               {"cast(null as integer)" if spec.time == "utc_day" else "cast(extract(hour from r.spend_ts) as integer)"}
                   as spend_hour,
               {pulled}
        from raw as r {join}
        where cast(r.spend_ts as date) = ?
        order by r.account_id, r.ad_group_id, r.ad_id, r.report_date, r.report_hour
    """
    return sql, params


def _slice_joins(cur: Any, platform: str) -> tuple[str, str]:
    """Joins and columns for each raw row's pull: its slice's ``pulled_at`` (``<platform>__slices``)
    and the slice's outcome in ``audit.pull_slices`` when that load is the one recorded there."""
    joins, columns = [], []
    if table_exists(cur, "raw_ads", f"{platform}__slices"):
        joins.append(
            f"left join raw_ads.{platform}__slices as s on s.account_id = r.account_id"
            " and s.report_date = r.report_date and s._load_id = r._load_id"
        )
        columns.append("s.pulled_at")
    else:
        columns.append("cast(null as timestamp) as pulled_at")
    if table_exists(cur, "audit", "pull_slices"):
        joins.append(
            f"left join audit.pull_slices as ps on ps.platform = '{platform}' and ps.account_id = r.account_id"
            " and ps.report_date = r.report_date and ps.load_id = r._load_id"
        )
        columns.append("ps.status as slice_status")
    else:
        columns.append("cast(null as varchar) as slice_status")
    return " ".join(joins), ", ".join(columns)


def _raw_rows(cur: Any, cell: Cell) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Raw current rows of the cell by fact grain."""
    spec = RAW_SPEND.get(cell.platform)
    built = _raw_spend_sql(cur, spec, cell.platform, cell.campaign) if spec else None
    if built is None:
        return {}
    sql, extra = built
    # account-local report dates straddle the UTC date: one day either side
    params = [cell.day - timedelta(days=1), cell.day + timedelta(days=1), *extra, cell.day]
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in _rows(cur, sql, params):
        out.setdefault(_grain(row), []).append(row)
    return out


def _fx_rates(cur: Any, day: date, currencies: set[str]) -> dict[str, dict[str, Any]]:
    """The rate each currency's spend of ``day`` was converted at (the fx_day_rates macro's choice)."""
    out: dict[str, dict[str, Any]] = {"USD": {"rate": Decimal(1), "fx_rate_date": day, "fx_load_id": None}}
    if not currencies - {"USD"} or not table_exists(cur, "analytics", "stg_fx_rates__rates"):
        return out
    for cur_code in sorted(currencies - {"USD"}):
        found = _rows(
            cur,
            "select rate, fx_rate_date, _load_id as fx_load_id from analytics.stg_fx_rates__rates "
            "where currency = ? and rate_date <= ? order by rate_date desc limit 1",
            [cur_code, day],
        )
        if found:
            out[cur_code] = found[0]
    return out


def _raw_node(row: dict[str, Any]) -> Node:
    hour = f" {row['report_hour']:02d}h" if row["report_hour"] is not None else ""
    return Node(
        "raw_row",
        f"raw {row['report_date']}{hour} local",
        row["spend_local"],
        row["currency"],
        {
            "row_key": row["_row_key"],
            "load_id": row["_load_id"],
            "pulled_at": row["pulled_at"] or row["_extracted_at"],
            "slice_status": row["slice_status"],
            "report_date": row["report_date"],
            "report_hour": row["report_hour"],
        },
    )


def _fact_node(fact: dict[str, Any], raws: list[dict[str, Any]], fx: dict[str, dict[str, Any]]) -> Node:
    """A fact_ad_spend row (USD) over its raw rows (platform currency); a raw slice pulled after the
    last build shows as an ``unbuilt`` difference so the sums stay true and the gap is visible."""
    rate = fx.get(fact["currency"], {})
    hour = f" {fact['spend_hour']:02d}h UTC" if fact["spend_hour"] is not None else " (UTC day)"
    parts = [fact["ad_group_id"], fact["ad_id"]]
    node = Node(
        "fact_ad_spend",
        f"{fact['spend_date']}{hour} ad group {parts[0]}" + (f" ad {parts[1]}" if parts[1] else ""),
        fact["spend_usd"],
        "USD",
        {
            "spend_key": fact["spend_key"],
            "account_id": fact["account_id"],
            "spend_local": fact["spend_local"],
            "currency": fact["currency"],
            "fx_rate": rate.get("rate"),
            "fx_rate_date": fact["fx_rate_date"],
            "fx_load_id": rate.get("fx_load_id"),
            "load_id": fact["_load_id"],
        },
        [_raw_node(r) for r in raws],
        children_total=fact["spend_local"],
        children_unit=fact["currency"],
    )
    gap = fact["spend_local"] - _total(r["spend_local"] for r in raws)
    if gap != 0:
        node.children.append(
            Node(
                "unbuilt",
                "raw current rows differ from the last build (a pull not yet built, or rows gone)",
                gap,
                fact["currency"],
                {"hint": "the next run rebuilds this day"},
            )
        )
    _check_fx(node, fact, rate.get("rate"))
    return node


def _check_fx(node: Node, fact: dict[str, Any], rate: Any) -> None:
    """The USD value is the local value at the rate shown (to the micro-dollar the fact rounds to)."""
    if rate is None or fact["spend_usd"] is None:
        return
    usd = float(fact["spend_local"]) / float(rate)
    if not math.isclose(usd, float(fact["spend_usd"]), rel_tol=1e-12, abs_tol=MONEY_TOLERANCE):
        raise ExplainInconsistent(
            f"explain: {node.label}: {fact['spend_local']} / {rate} = {usd}, fact says {fact['spend_usd']}"
        )


def spend_children(cur: Any, cell: Cell) -> dict[str, list[Node]]:
    """Per campaign, its fact_ad_spend rows with their raw rows beneath."""
    extra, params = _campaign_filter("campaign_id", cell.campaign)
    facts = _rows(
        cur,
        "select spend_key, campaign_id, account_id, ad_group_id, ad_id, spend_date, spend_hour, spend_local, "
        "currency, fx_rate_date, spend_usd, _load_id from analytics.fact_ad_spend "
        f"where spend_date = ? and platform = ? and spend_definition_version = ?{extra} "
        "order by campaign_id, account_id, ad_group_id, ad_id, spend_hour",
        [cell.day, cell.platform, cell.published.spend_definition, *params],
    )
    raws = _raw_rows(cur, cell) if facts else {}
    fx = _fx_rates(cur, cell.day, {f["currency"] for f in facts})
    out: dict[str, list[Node]] = {}
    for fact in facts:
        out.setdefault(str(fact["campaign_id"]), []).append(_fact_node(fact, raws.get(_grain(fact), []), fx))
    return out


# -- sign-ups and revenue ----------------------------------------------------------------------
def _pick(cell: Cell, skan_pool: bool = False) -> tuple[str, list[Any]]:
    """The filter (on ``a`` = fact_attribution, ``s`` = fact_signups) of the cell's published
    attribution rows, or with ``skan_pool`` of every SKAN-modeled row of the day (whose revenue
    the mart may book on the ``unattributed`` row, see :func:`skan_revenue_on_unattributed`)."""
    pub = cell.published
    where = "s.signup_date = ? and s.signup_definition_version = ? and a.attribution_version = ?"
    params: list[Any] = [cell.day, pub.signup_definition, pub.attribution_version]
    if skan_pool:
        return f"{where} and a.method = 'skan_modeled'", params
    extra, camp = _campaign_filter("a.campaign_id", cell.campaign)
    return f"{where} and a.platform = ?{extra}", [*params, cell.platform, *camp]


def _attribution_sql(cur: Any, cell: Cell, skan_pool: bool = False) -> tuple[str, list[Any]]:
    """The published attribution rows of the cell's sign-ups with their sign-up, winning touch,
    run and the landing files of the events (ids only: no e-mail or phone column is read)."""
    where, params = _pick(cell, skan_pool)
    mmp = (
        " union all select event_id, _file_key, _line_no from raw_events.mmp_touches"
        if table_exists(cur, "raw_events", "mmp_touches")
        else ""
    )
    runs = table_exists(cur, "audit", "attribution_runs")
    sql = f"""
        with picked as (
            select a.attribution_run_id, a.attribution_version, a.model, a.signup_id, a.touch_id,
                   a.campaign_id, a.credit, a.method
            from analytics.fact_attribution as a
            inner join analytics.fact_signups as s on a.signup_id = s.signup_id
            where {where}
        ),
        files as (
            select event_id, _file_key, _line_no from raw_events.events{mmp}
        )
        select p.*, s.user_id, s.event_id as signup_event_id, s.signup_ts, s.device_platform,
               s.first_revenue_usd, s.first_revenue_local, s.first_revenue_currency, s._load_id as signup_load_id,
               sf._file_key as signup_file_key, sf._line_no as signup_line_no,
               t.touch_ts, t.touch_type, t.platform as touch_platform, t.campaign_id as touch_campaign_id,
               t.ad_group_id as touch_ad_group_id, t.ad_id as touch_ad_id, t.source as touch_source,
               t.is_spam as touch_is_spam, t.event_id as touch_event_id, tf._file_key as touch_file_key,
               {"r.config_name, r.finished_at as run_finished_at" if runs else "null as config_name, null as run_finished_at"}
        from picked as p
        inner join analytics.fact_signups as s on p.signup_id = s.signup_id and s.signup_definition_version = ?
        left join analytics.fact_touchpoints as t on p.touch_id = t.touch_id
        left join files as sf on sf.event_id = s.event_id
        left join files as tf on tf.event_id = t.event_id
        {"left join audit.attribution_runs as r on r.attribution_run_id = p.attribution_run_id" if runs else ""}
        order by p.campaign_id, p.method, s.signup_ts, p.signup_id, p.touch_id
    """
    return sql, [*params, cell.published.signup_definition]


def _window_ms(config: AttributionConfig, touch_type: str) -> str:
    """SQL for the window of a touch in milliseconds, by its platform (the config's overrides)."""
    pick = "click" if touch_type == "click" else "view"
    default = int(getattr(config.windows, pick).total_seconds() * 1000)
    whens = " ".join(
        f"when '{p}' then {int(getattr(w, pick).total_seconds() * 1000)}"
        for p, w in sorted(config.platform_windows.items())
    )
    return f"(case t.platform {whens} else {default} end)" if whens else str(default)


def _touch_stats(
    cur: Any, cell: Cell, config: AttributionConfig
) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Per (sign-up, credited touch): the user's touches around the sign-up by what the rules made of them
    (eligible clicks and views, spam excluded, outside the window, same-instant rivals)."""
    where, params = _pick(cell)
    window = f"(case when t.touch_type = 'click' then {_window_ms(config, 'click')} else {_window_ms(config, 'view')} end)"
    reach = int(config.max_window.total_seconds()) + 86400
    sql = f"""
        with picked as (
            select a.signup_id, a.touch_id, s.user_id, s.signup_ts, w.touch_ts as won_ts
            from analytics.fact_attribution as a
            inner join analytics.fact_signups as s on a.signup_id = s.signup_id
            left join analytics.fact_touchpoints as w on a.touch_id = w.touch_id
            where {where}
        ),
        aged as (
            select p.signup_id, p.touch_id, p.won_ts, t.touch_ts, t.touch_type, coalesce(t.is_spam, false) as spam,
                   datediff('millisecond', t.touch_ts, p.signup_ts) as age_ms, {window} as window_ms
            from picked as p
            inner join analytics.fact_touchpoints as t
                on t.user_id = p.user_id and t.touch_ts <= p.signup_ts
                and t.touch_ts >= p.signup_ts - interval '{reach} seconds'
        )
        select signup_id, touch_id,
               count(*) as touches,
               sum(case when age_ms between 0 and window_ms and spam then 1 else 0 end) as spam_excluded,
               sum(case when age_ms > window_ms then 1 else 0 end) as outside_window,
               sum(case when age_ms between 0 and window_ms and not spam and touch_type = 'click' then 1 else 0 end)
                   as eligible_clicks,
               sum(case when age_ms between 0 and window_ms and not spam and touch_type = 'view' then 1 else 0 end)
                   as eligible_views,
               sum(case when age_ms between 0 and window_ms and not spam and touch_ts = won_ts then 1 else 0 end)
                   as same_instant
        from aged
        group by signup_id, touch_id
    """
    rows = _rows(cur, sql, params)
    return {(r["signup_id"], r["touch_id"]): r for r in rows}


def _age(signup_ts: datetime, touch_ts: datetime) -> str:
    seconds = int((signup_ts - touch_ts).total_seconds())
    days, rest = divmod(seconds, 86400)
    return (f"{days}d " if days else "") + f"{rest // 3600}h {rest % 3600 // 60:02d}m"


# What the touch statistics count per sign-up (see _touch_stats).
TOUCH_COUNTS = ("touches", "spam_excluded", "outside_window", "eligible_clicks", "eligible_views")


def _why(row: dict[str, Any], stats: dict[str, Any] | None, config: AttributionConfig) -> dict[str, Any]:
    """The rule that gave this row its credit, with the counts that back it."""
    counts = {k: int((stats or {}).get(k) or 0) for k in TOUCH_COUNTS}
    if row["method"] == "skan_modeled":
        rule = (
            "SKAN-modeled: an iOS sign-up without a user-level touch, dealt from the day's pool to this campaign "
            "by its net SKAN sign-up postbacks (docs/attribution.md); which pool sign-up carries it means nothing"
        )
        return {"rule": rule}
    if row["method"] == "unattributed":
        rule = (
            f"no eligible touch: {counts['touches']} touch(es) in the look-back, {counts['spam_excluded']} spam excluded, "
            f"{counts['outside_window']} outside the click/view windows"
        )
        return {"rule": rule, **counts}
    ttype = row["touch_type"]
    win = config.window_for(row["touch_platform"])
    window = win.click if ttype == "click" else win.view
    eligible = counts["eligible_clicks"] + (
        0
        if counts["eligible_clicks"] and config.precedence == "click_over_view"
        else counts["eligible_views"]
    )
    precedence = (
        "; clicks beat views (click_over_view)"
        if config.precedence == "click_over_view" and counts["eligible_clicks"]
        else ""
    )
    rivals = int((stats or {}).get("same_instant") or 1) - 1
    tie = (
        f"; {rivals} other touch(es) at the same instant, broken by {', '.join(config.tie_break[1:])}"
        if rivals > 0
        else ""
    )
    rule = (
        f"{config.model}: {ttype} {_age(row['signup_ts'], row['touch_ts'])} before the sign-up, within the "
        f"{_duration(window)} {ttype} window of {row['touch_platform']}; {eligible} eligible touch(es){precedence}; "
        f"{counts['spam_excluded']} spam excluded, {counts['outside_window']} outside the window{tie}"
    )
    return {"rule": rule, "window": _duration(window), "same_instant_rivals": rivals, **counts}


def _duration(td: timedelta) -> str:
    seconds = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _revenue_events(cur: Any, cell: Cell, skan_pool: bool = False) -> dict[str, dict[str, Any]]:
    """Per sign-up, the first ride or order that made ``first_revenue_usd`` (the facts' choice:
    the canonical user's earliest such event by time, then event id) and its landing file."""
    where, params = _pick(cell, skan_pool)
    sql = f"""
        with picked as (
            select distinct a.signup_id
            from analytics.fact_attribution as a
            inner join analytics.fact_signups as s on a.signup_id = s.signup_id
            where {where} and s.first_revenue_usd is not null
        ),
        ranked as (
            select u.canonical_user_id as signup_id, e.event_id, e.event_type, e.event_ts, e.revenue, e.currency,
                   e._file_key, e._line_no,
                   row_number() over (partition by u.canonical_user_id order by e.event_ts, e.event_id) as rank_no
            from raw_events.events as e
            inner join analytics.int_users__canonical as u on e.user_id = u.user_id
            inner join picked as p on u.canonical_user_id = p.signup_id
            where e.event_type in ('first_ride', 'first_order')
        )
        select * from ranked where rank_no = 1
    """
    rows = _rows(cur, sql, params)
    return {r["signup_id"]: r for r in rows}


def _signup_details(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    details: dict[str, dict[str, Any]] = {
        "attribution": {
            "run_id": row["attribution_run_id"],
            "version": row["attribution_version"],
            "config": row["config_name"],
            "run_finished_at": row["run_finished_at"],
            "method": row["method"],
            "credit": row["credit"],
        },
        "signup": {
            "signup_id": row["signup_id"],
            "event_id": row["signup_event_id"],
            "signup_ts": row["signup_ts"],
            "device_platform": row["device_platform"],
            "landing_file": row["signup_file_key"],
            "line": row["signup_line_no"],
            "load_id": row["signup_load_id"],
            "first_revenue_usd": row["first_revenue_usd"],
        },
    }
    if row["touch_id"] is not None:
        details["touch"] = {
            "touch_id": row["touch_id"],
            "touch_type": row["touch_type"],
            "touch_ts": row["touch_ts"],
            "platform": row["touch_platform"],
            "campaign_id": row["touch_campaign_id"],
            "ad_group_id": row["touch_ad_group_id"],
            "ad_id": row["touch_ad_id"],
            "source": row["touch_source"],
            "event_id": row["touch_event_id"],
            "landing_file": row["touch_file_key"],
        }
    return details


@dataclass
class SignupRows:
    """The cell's attribution rows, read once and shared by the sign-up and revenue trees."""

    rows: list[dict[str, Any]]
    stats: dict[tuple[str, str | None], dict[str, Any]]
    revenue: dict[str, dict[str, Any]]
    config: AttributionConfig
    # where the mart books SKAN-modeled sign-ups' revenue, and (on the unattributed row) those rows
    skan_revenue_on_unattributed: bool = False
    skan_pool: list[dict[str, Any]] = field(default_factory=list)


def skan_revenue_on_unattributed(cur: Any, cell: Cell) -> bool:
    """Whether the mart books the revenue of SKAN-modeled sign-ups on the day's ``unattributed`` row
    (issue 15 item 9: their campaign is a hash pick, docs/attribution.md) rather than on their
    campaign (the first marts). Read from the mart that was built, so the tree always explains the
    mart readers see; the two agree when the day's SKAN-modeled sign-ups have no revenue."""
    pub = cell.published
    by_method = {
        r["method"]: float(r["revenue"] or 0)
        for r in _rows(
            cur,
            "select a.method, sum(a.credit * coalesce(s.first_revenue_usd, 0)) as revenue "
            "from analytics.fact_attribution as a inner join analytics.fact_signups as s on a.signup_id = s.signup_id "
            "where s.signup_date = ? and s.signup_definition_version = ? and a.attribution_version = ? "
            "and a.method in ('unattributed', 'skan_modeled') group by a.method",
            [cell.day, pub.signup_definition, pub.attribution_version],
        )
    }
    if not by_method.get("skan_modeled"):
        return False
    booked = _rows(
        cur,
        f"select sum(revenue_usd) as revenue from {MART} where report_date = ? and platform = 'unattributed' "
        f"and {Published.MART_FILTER}",
        [cell.day, *pub.params()],
    )[0]["revenue"]
    expected = by_method.get("unattributed", 0.0) + by_method["skan_modeled"]
    return math.isclose(float(booked or 0), expected, rel_tol=FLOAT_REL_TOLERANCE, abs_tol=MONEY_TOLERANCE)


def read_signups(cur: Any, cell: Cell, with_revenue: bool) -> SignupRows:
    """Attribution rows of the cell, the touch statistics behind each and (if asked) the revenue events."""
    config = load_config(cell.published.attribution_config)
    if not table_exists(cur, "analytics", "fact_attribution"):
        return SignupRows([], {}, {}, config)
    sql, params = _attribution_sql(cur, cell)
    rows = _rows(cur, sql, params)
    stats = _touch_stats(cur, cell, config) if rows else {}
    data = SignupRows(rows, stats, _revenue_events(cur, cell) if with_revenue and rows else {}, config)
    if with_revenue and skan_revenue_on_unattributed(cur, cell):
        data.skan_revenue_on_unattributed = True
        if cell.platform == "unattributed" and cell.campaign in (None, "unattributed"):
            sql, params = _attribution_sql(cur, cell, skan_pool=True)
            data.skan_pool = _rows(cur, sql, params)
            data.revenue.update(_revenue_events(cur, cell, skan_pool=True))
    return data


def _credit_node(row: dict[str, Any], data: SignupRows, revenue: bool) -> Node:
    details = _signup_details(row)
    details["why"] = _why(row, data.stats.get((row["signup_id"], row["touch_id"])), data.config)
    if revenue:
        event = data.revenue.get(row["signup_id"])
        if event is not None:
            details["revenue_event"] = {
                "event_id": event["event_id"],
                "event_type": event["event_type"],
                "event_ts": event["event_ts"],
                "revenue": event["revenue"],
                "currency": event["currency"],
                "landing_file": event["_file_key"],
                "line": event["_line_no"],
            }
        value: float = float(row["credit"]) * float(row["first_revenue_usd"])
        return Node(
            "credited_revenue",
            f"sign-up {row['signup_id']} ({row['method']})",
            value,
            "USD",
            {"credit": row["credit"], "first_revenue_usd": row["first_revenue_usd"]},
            details=details,
        )
    return Node(
        "attribution",
        f"sign-up {row['signup_id']} ({row['method']})",
        float(row["credit"]),
        "sign-ups",
        {"credit": row["credit"], "method": row["method"], "run_id": row["attribution_run_id"]},
        details=details,
    )


def signup_children(data: SignupRows, mart: dict[str, dict[str, Any]]) -> dict[str, list[Node]]:
    """Per campaign: ``signups`` (deterministic and unattributed credit) and ``modeled_signups``
    (SKAN credit), each equal to its mart column, over the attribution rows."""
    groups: dict[str, dict[str, list[Node]]] = {}
    for row in data.rows:
        kind = "modeled_signups" if row["method"] == "skan_modeled" else "signups"
        groups.setdefault(str(row["campaign_id"]), {}).setdefault(kind, []).append(
            _credit_node(row, data, False)
        )
    out: dict[str, list[Node]] = {}
    for campaign, m in mart.items():
        by_kind = groups.get(campaign, {})
        out[campaign] = [
            Node(
                "mart_column",
                f"{column} ({'SKAN-modeled credit' if column == 'modeled_signups' else 'deterministic + unattributed credit'})",
                float(m[column] or 0),
                "sign-ups",
                {"rows": len(by_kind.get(column, []))},
                by_kind.get(column, []),
            )
            for column in ("signups", "modeled_signups")
        ]
    return out


def revenue_children(data: SignupRows) -> dict[str, list[Node]]:
    """Per campaign: its credited sign-ups that have a first revenue (the others add 0). Where the
    mart books SKAN-modeled revenue on the unattributed row, those sign-ups move there."""
    out: dict[str, list[Node]] = {}
    for row in data.rows:
        if row["first_revenue_usd"] is None:
            continue
        if data.skan_revenue_on_unattributed and row["method"] == "skan_modeled":
            continue  # booked on the day's unattributed row
        out.setdefault(str(row["campaign_id"]), []).append(_credit_node(row, data, True))
    for row in data.skan_pool:
        if row["first_revenue_usd"] is not None:
            node = _credit_node(row, data, True)
            node.label += f", modeled to campaign {row['campaign_id']}: its revenue is booked here"
            out.setdefault("unattributed", []).append(node)
    return out


# -- the tree ----------------------------------------------------------------------------------
UNITS = {"spend": "USD", "signups": "sign-ups", "revenue": "USD"}
RATIOS = {"cac": ("spend", "signups", "cac_usd"), "roas": ("revenue", "spend", "roas")}


def _metric_value(metric: str, row: dict[str, Any]) -> Decimal | float:
    if metric == "spend":
        return Decimal(row["spend_usd"] or 0)
    if metric == "revenue":
        return Decimal(row["revenue_usd"] or 0)
    return float(row["signups"] or 0) + float(row["modeled_signups"] or 0)


def _published_attrs(cell: Cell) -> dict[str, Any]:
    pub = cell.published
    return {
        "date": cell.day,
        "platform": cell.platform,
        "campaign_id": cell.campaign,
        "attribution_config": pub.attribution_config,
        "attribution_version": pub.attribution_version,
        "attribution_config_hash": pub.attribution_config_hash,
        "spend_definition": pub.spend_definition,
        "signup_definition": pub.signup_definition,
    }


def _children(
    cur: Any, cell: Cell, metric: str, marts: dict[str, dict[str, Any]], data: SignupRows | None
) -> dict[str, list[Node]]:
    if metric == "spend":
        return spend_children(cur, cell)
    assert data is not None  # read by the caller for sign-ups and revenue
    return signup_children(data, marts) if metric == "signups" else revenue_children(data)


def additive_tree(
    cur: Any, cell: Cell, metric: str, rows: list[dict[str, Any]], data: SignupRows | None
) -> Node:
    """The tree of spend, sign-ups or revenue: the cell's number, its mart rows (one per campaign)
    and what each is made of."""
    marts = {str(r["campaign_id"]): r for r in rows}
    children = _children(cur, cell, metric, marts, data)
    column = {"spend": "spend_usd", "revenue": "revenue_usd", "signups": "signups + modeled_signups"}[metric]
    campaigns = [
        Node(
            "mart_row",
            f"mart {column}, {cell.day} {cell.platform} campaign {cid}"
            + (f" ({r['campaign_name']})" if r["campaign_name"] else ""),
            _metric_value(metric, r),
            UNITS[metric],
            {"campaign_id": cid, "campaign_name": r["campaign_name"]},
            children.get(cid, []),
        )
        for cid, r in marts.items()
    ]
    if cell.campaign is not None:
        root = campaigns[0]
        root.attrs = {**_published_attrs(cell), **root.attrs}
        return root
    return Node(
        "mart_total",
        f"mart {column}, {cell.day} {cell.platform} ({len(campaigns)} campaigns)",
        _total(c.value for c in campaigns),
        UNITS[metric],
        _published_attrs(cell),
        campaigns,
    )


def _ratio(num: Decimal | float | None, den: Decimal | float | None) -> float | None:
    return None if num is None or den is None or float(den) == 0 else float(num) / float(den)


def explain(cur: Any, cell: Cell, metric: str) -> Node:
    """The checked tree of one metric of a mart cell (one-line errors for a bad metric or no row)."""
    if metric not in METRICS:
        raise UserInputError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    rows = mart_rows(cur, cell)
    parts: tuple[str, ...] = RATIOS[metric][:2] if metric in RATIOS else (metric,)
    data = read_signups(cur, cell, "revenue" in parts) if {"signups", "revenue"} & set(parts) else None
    trees = [additive_tree(cur, cell, part, rows, data) for part in parts]
    for part, tree in zip(parts, trees, strict=True):
        if part == "revenue" and data is not None:
            tree.attrs["skan_revenue_booked_on"] = (
                "unattributed" if data.skan_revenue_on_unattributed else "campaign"
            )
    if metric not in RATIOS:
        root = trees[0]
    else:
        column = RATIOS[metric][2]
        value = rows[0][column] if cell.campaign is not None else _ratio(trees[0].value, trees[1].value)
        for tree in trees:
            tree.attrs = {k: v for k, v in tree.attrs.items() if k not in _published_attrs(cell)}
        root = Node(
            "ratio",
            f"mart {column}, {cell.describe()} = {parts[0]} / {parts[1]}",
            None if value is None else (Decimal(value) if isinstance(value, Decimal) else float(value)),
            "USD per sign-up" if metric == "cac" else "USD per USD",
            _published_attrs(cell),
            trees,
            combine="ratio",
        )
    check_sums(root)
    return root


# -- closed + adjustments ----------------------------------------------------------------------
DELTAS = {
    "spend": ("delta_spend_usd",),
    "signups": ("delta_signups", "delta_modeled_signups"),
    "revenue": ("delta_revenue_usd",),
}


@dataclass(frozen=True)
class Close:
    """The latest close of a day (under the published versions): its version, rows and adjustments."""

    version: int
    rows: list[dict[str, Any]]
    adjustments: list[dict[str, Any]]


def read_close(cur: Any, cell: Cell) -> Close | None:
    """The cell's rows of the day's latest close version and every adjustment since; None when the
    day is not closed (no close table yet, or no close of that day)."""
    if not table_exists(cur, "analytics", "mart_marketing_roi_closed"):
        return None
    pub = cell.published.params()
    found = _rows(
        cur,
        f"select max(close_version) as v from {CLOSED} where report_date = ? and {Published.MART_FILTER}",
        [cell.day, *pub],
    )
    version = found[0]["v"] if found else None
    if version is None:
        return None
    extra, params = _campaign_filter("campaign_id", cell.campaign)
    rows = _rows(
        cur,
        f"select * from {CLOSED} where report_date = ? and close_version = ? and {Published.MART_FILTER} "
        f"and platform = ?{extra} order by campaign_id",
        [cell.day, version, *pub, cell.platform, *params],
    )
    adjustments: list[dict[str, Any]] = []
    if table_exists(cur, "analytics", "mart_marketing_roi_adjustments"):
        adjustments = _rows(
            cur,
            f"select * from {ADJUSTMENTS} where report_date = ? and platform = ?{extra} and close_id in ("
            f"select distinct close_id from {CLOSED} where report_date = ? and close_version = ? and {Published.MART_FILTER}"
            ") order by adjusted_on, campaign_id, cause",
            [cell.day, cell.platform, *params, cell.day, version, *pub],
        )
    return Close(int(version), rows, adjustments)


def _delta(metric: str, row: dict[str, Any]) -> Decimal | float:
    if metric == "signups":
        return math.fsum(float(row[c] or 0) for c in DELTAS[metric])
    return Decimal(row[DELTAS[metric][0]] or 0)


def _closed_tree(cell: Cell, metric: str, close: Close, current: Decimal | float) -> Node:
    """current = the closed number + each adjustment since (+ what no adjustment explains yet)."""
    unit = UNITS[metric]
    closed_rows = [
        Node(
            "closed_row",
            f"closed campaign {r['campaign_id']}",
            _metric_value(metric, r),
            unit,
            {
                k: r.get(k)
                for k in (
                    "campaign_id",
                    "close_id",
                    "closed_at",
                    "spend_local",
                    "currency",
                    "attribution_config_hash",
                )
            },
        )
        for r in close.rows
    ]
    closed = Node(
        "closed",
        f"closed {metric}, close version {close.version}",
        _total(n.value for n in closed_rows) if closed_rows else _zero(unit),
        unit,
        {"close_version": close.version, "close_ids": sorted({str(r["close_id"]) for r in close.rows})},
        closed_rows if cell.campaign is None else [],
    )
    adjustments = [
        Node(
            "adjustment",
            f"adjustment {a['adjusted_on']} {a['cause']} campaign {a['campaign_id']}",
            _delta(metric, a),
            unit,
            {
                k: a.get(k)
                for k in ("close_id", "adjusted_on", "campaign_id", "cause", "delta_spend_local", "currency")
            },
        )
        for a in close.adjustments
        if _delta(metric, a) != 0  # an adjustment of another metric (a restatement moves no sign-up)
    ]
    root = Node(
        "current",
        f"current {metric} = closed + adjustments, {cell.describe()}",
        current,
        unit,
        {"close_version": close.version},
        [closed, *adjustments],
    )
    gap = current - _total(c.value for c in root.children)  # type: ignore[operator]
    if gap:
        root.children.append(
            Node(
                "unadjusted",
                "change since the close not yet written as an adjustment",
                gap,
                unit,
                {"hint": "the next run writes it"},
            )
        )
    return root


def _zero(unit: str) -> Decimal | float:
    return Decimal(0) if unit == "USD" else 0.0


def explain_closed(cur: Any, cell: Cell, metric: str, current: Node) -> Node | None:
    """The checked closed + adjustments tree of the cell (``current`` is :func:`explain`'s tree), or
    None when the day is not closed."""
    close = read_close(cur, cell)
    if close is None:
        return None
    if metric not in RATIOS:
        root = _closed_tree(
            cell, metric, close, current.value if current.value is not None else _zero(UNITS[metric])
        )
    else:
        num, den = RATIOS[metric][:2]
        parts = [
            _closed_tree(cell, part, close, child.value if child.value is not None else _zero(UNITS[part]))
            for part, child in zip((num, den), current.children, strict=True)
        ]
        closed_num = parts[0].children[0].value
        closed_den = parts[1].children[0].value
        root = Node(
            "ratio",
            f"current {RATIOS[metric][2]} = {num} / {den}, each closed + adjustments",
            current.value,
            current.unit,
            {"closed_value": _ratio(closed_num, closed_den), "close_version": close.version},
            parts,
            combine="ratio",
        )
    check_sums(root)
    return root
