"""TikTok Business API v1.3: integrated reports and campaign / ad group / ad lists.

Every answer is HTTP 200 with ``code``: 0 = OK, 40100 = too many requests (retry), 50000 =
system error (recorded clients retry it), others fatal (40104/40105 token, 40001 no
permission, 40002 bad parameter). Money and counts are strings; ids inside ``metrics`` are
JSON integers as in the recorded v1.3 answer (tests/fixtures/platforms/tiktok_ads; the v1.3
docs say strings), ids in entity lists strings as the docs say.

An advertiser's time zone (``advertiser/info`` ``timezone``) is a fixed offset, ``Etc/GMT+5``
style, with no daylight saving; ``display_timezone`` names a region. A report at AUCTION_AD
leaves out the statistics of ads deleted by the as-of time unless the request filters
``ad_status`` IN ``["STATUS_ALL"]`` (PLATFORM_APIS.md, TikTok "Corrected"; the fixture
report_first_page.json shows the filter's form).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from simulator.ads.http import Context, Request, Response, money, request_id
from simulator.ads.state import day_iso

PREFIX = "/open_api/v1.3/"
METRICS = {
    "spend",
    "impressions",
    "clicks",
    "conversion",
    "ctr",
    "cpc",
    "cpm",
    "campaign_id",
    "campaign_name",
    "adgroup_id",
    "adgroup_name",
    "ad_name",
    "currency",
}
LEVEL_DIM = {
    "AUCTION_AD": "ad_id",
    "AUCTION_ADGROUP": "adgroup_id",
    "AUCTION_CAMPAIGN": "campaign_id",
    "AUCTION_ADVERTISER": "advertiser_id",
}
TIME_DIMS = {"stat_time_day", "stat_time_hour"}
MAX_PAGE_SIZE = 1000
# ad_status values the simulator models: the default leaves deleted ads out, STATUS_ALL keeps them
AD_STATUSES = {"STATUS_ALL", "STATUS_NOT_DELETE"}
# the region an advertiser's fixed-offset zone was chosen for in Ads Manager (display only)
DISPLAY_TIMEZONE = {"Etc/GMT+5": "America/New_York", "Etc/GMT-1": "Europe/Berlin"}


def is_auth_endpoint(req: Request) -> bool:
    """TikTok's long-lived token needs no token endpoint here."""
    return False


def _answer(code: int, message: str, data: Any = None) -> Response:
    return Response(200, {"code": code, "message": message, "request_id": request_id(), "data": data or {}})


def rate_limited(ctx: Context, req: Request) -> Response:
    """Code 40100 inside HTTP 200, as TikTok throttles (message as recorded: throttle_40100.json)."""
    return _answer(40100, "App reaches the QPS limit.")


def server_error(ctx: Context, req: Request) -> Response:
    """Code 50000 inside HTTP 200: a system error (as recorded: system_error_50000.json)."""
    return _answer(50000, "System error.")


class _Bad(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def handle(ctx: Context, req: Request) -> Response:
    """Route a TikTok request."""
    try:
        return _handle(ctx, req)
    except _Bad as bad:
        return _answer(bad.code, bad.message)


def _handle(ctx: Context, req: Request) -> Response:
    token = req.headers.get("access-token")
    if not token:
        raise _Bad(40104, "Access token is null, please check.")
    if token != ctx.world.credentials["SOURCES__TIKTOK_ADS__ACCESS_TOKEN"]:
        raise _Bad(40105, "Access token is incorrect or has been revoked.")
    if not req.path.startswith(PREFIX):
        return Response(404, {"code": 40400, "message": "Not Found", "request_id": request_id()})
    endpoint = req.path[len(PREFIX) :].strip("/")
    if req.method != "GET":
        raise _Bad(40002, f"Method {req.method} is not allowed for {endpoint}.")
    q = req.query
    if endpoint == "advertiser/info":
        # advertiser details: the connector reads each advertiser's currency and time zone here
        infos = []
        for adv in _json_list(q, "advertiser_ids"):
            idx = ctx.world.account_index("tiktok_ads", adv)
            if idx is None:
                raise _Bad(40001, f"No permission to operate advertiser {adv}.")
            acc = ctx.world.account("tiktok_ads", idx)
            infos.append(
                {
                    "advertiser_id": adv,
                    "name": f"StreamRide {acc['market']}",
                    "currency": acc["currency"],
                    "timezone": acc["time_zone"],
                    "display_timezone": DISPLAY_TIMEZONE.get(acc["time_zone"], acc["time_zone"]),
                }
            )
        return _answer(0, "OK", {"list": infos})
    advertiser = q.get("advertiser_id", "")
    if not advertiser:
        raise _Bad(40002, "advertiser_id: Missing data for required field.")
    acc_idx = ctx.world.account_index("tiktok_ads", advertiser)
    if acc_idx is None:
        raise _Bad(40001, f"No permission to operate advertiser {advertiser}.")
    page = _int(q, "page", 1, 1, 10**6)
    page_size = _int(q, "page_size", 10, 1, MAX_PAGE_SIZE)
    if endpoint == "report/integrated/get":
        # Pages of one report share the built rows: the key leaves out the paging parameters, or
        # every page would rebuild (and re-sort) the whole report and a pull would be O(pages^2).
        report_q = tuple(sorted((k, v) for k, v in q.items() if k not in ("page", "page_size")))
        rows = ctx.memo(("tiktok", report_q, ctx.as_of), lambda: _report(ctx, acc_idx, q))
    elif endpoint in ("campaign/get", "adgroup/get", "ad/get"):
        rows = _entities(ctx, advertiser, endpoint.split("/")[0])
    else:
        return Response(404, {"code": 40400, "message": "Not Found", "request_id": request_id()})
    size = ctx.override_page_size("tiktok_ads", page_size)
    total_page = math.ceil(len(rows) / size)
    chunk = rows[(page - 1) * size : page * size]
    info = {"page": page, "page_size": size, "total_number": len(rows), "total_page": total_page}
    return _answer(0, "OK", {"list": chunk, "page_info": info})


def _int(q: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    try:
        v = int(q.get(name, default))
    except ValueError as exc:
        raise _Bad(40002, f"{name}: Not a valid integer.") from exc
    if not lo <= v <= hi:
        raise _Bad(40002, f"{name}: Must be greater than or equal to {lo} and less than or equal to {hi}.")
    return v


def _json_list(q: dict[str, str], name: str) -> list[str]:
    try:
        v = json.loads(q.get(name, ""))
    except ValueError as exc:
        raise _Bad(40002, f"{name}: Not a valid list.") from exc
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _Bad(40002, f"{name}: Not a valid list.")
    return v


@dataclass(frozen=True)
class _ReportSpec:
    """A validated BASIC report request."""

    id_dim: str  # the level's id dimension, e.g. ad_id
    time_dim: str | None  # stat_time_day, stat_time_hour or none
    metrics: list[str]
    start: date
    end: date
    with_deleted: bool  # ad_status IN ["STATUS_ALL"]: deleted ads' statistics included

    @property
    def hourly(self) -> bool:
        return self.time_dim == "stat_time_hour"


def _report_spec(q: dict[str, str]) -> _ReportSpec:
    """The report a query asks for, or _Bad with TikTok's message for the first thing wrong with it."""
    if q.get("report_type") != "BASIC":
        raise _Bad(40002, "report_type: Must be one of: BASIC, AUDIENCE, PLAYABLE_MATERIAL, CATALOG.")
    if q.get("service_type", "AUCTION") != "AUCTION":
        raise _Bad(40002, "service_type: only AUCTION is simulated.")
    level = q.get("data_level", "")
    if level not in LEVEL_DIM:
        raise _Bad(40002, f"data_level: Must be one of: {', '.join(LEVEL_DIM)}.")
    dims = _json_list(q, "dimensions")
    metrics = _json_list(q, "metrics") if "metrics" in q else ["spend", "impressions", "clicks"]
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise _Bad(40002, f"Invalid metric fields: {bad}.")
    id_dim = LEVEL_DIM[level]
    time_dims = [d for d in dims if d in TIME_DIMS]
    if id_dim not in dims or len(time_dims) > 1 or any(d not in TIME_DIMS | {id_dim} for d in dims):
        raise _Bad(40002, f"Invalid dimensions {dims} for data_level {level}.")
    try:
        d0, d1 = date.fromisoformat(q["start_date"]), date.fromisoformat(q["end_date"])
    except (KeyError, ValueError) as exc:
        raise _Bad(40002, "start_date/end_date: required, in the format YYYY-MM-DD.") from exc
    if d1 < d0:
        raise _Bad(40002, "end_date must be on or after start_date.")
    if "stat_time_hour" in dims and d1 != d0:
        raise _Bad(40002, "The time span cannot exceed 1 day when the dimension is stat_time_hour.")
    if (d1 - d0).days + 1 > 30:
        raise _Bad(40002, "The time span cannot exceed 30 days when the dimension is stat_time_day.")
    statuses = _ad_status_filter(q, level)
    return _ReportSpec(id_dim, time_dims[0] if time_dims else None, metrics, d0, d1, "STATUS_ALL" in statuses)


def _ad_status_filter(q: dict[str, str], level: str) -> set[str]:
    """The ``ad_status`` values of the ``filtering`` parameter (a JSON list of
    ``{field_name, filter_type, filter_value}``, ``filter_value`` a JSON-encoded list); default
    STATUS_NOT_DELETE. Other filters are not simulated and are refused."""
    if "filtering" not in q:
        return {"STATUS_NOT_DELETE"}
    try:
        filters = json.loads(q["filtering"])
        if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
            raise ValueError
        statuses: set[str] = set()
        for f in filters:
            if f.get("field_name") != "ad_status" or f.get("filter_type") != "IN" or level != "AUCTION_AD":
                raise _Bad(
                    40002, f"filtering: {f.get('field_name')} {f.get('filter_type')} is not simulated."
                )
            values = f.get("filter_value")
            values = json.loads(values) if isinstance(values, str) else values
            if not isinstance(values, list) or not set(values) <= AD_STATUSES:
                raise _Bad(40002, f"filtering: ad_status must be among {sorted(AD_STATUSES)}.")
            statuses |= set(values)
    except (ValueError, TypeError) as exc:
        raise _Bad(40002, "filtering: Not a valid list.") from exc
    return statuses or {"STATUS_NOT_DELETE"}


def _deleted_units(ctx: Context, as_of: int) -> list[int]:
    """Row indexes (in the TikTok ads table) of the ads deleted by ``as_of``."""
    ch = ctx.world.changes
    gone = ch.filter(
        (pl.col("platform") == "tiktok_ads")
        & (pl.col("entity_type") == "ad")
        & (pl.col("value") == "DELETED")
        & (pl.col("effective_ts") <= as_of)
    )["entity_id"]
    ads = ctx.world.entities["tiktok_ads"].ads["ad_id"]
    return ads.is_in(gone.implode()).arg_true().to_list()


def _report(ctx: Context, acc_idx: int, q: dict[str, str]) -> list[dict[str, Any]]:
    spec = _report_spec(q)
    id_dim, metrics, hourly = spec.id_dim, spec.metrics, spec.hourly
    d0, d1 = spec.start, spec.end
    w = ctx.world
    t = w.entities["tiktok_ads"]
    acc = w.account("tiktok_ads", acc_idx)
    cells = w.report("tiktok_ads", acc_idx, d0, d1, ctx.as_of)
    if id_dim == "ad_id" and not spec.with_deleted:
        cells = cells.filter(~pl.col("unit_idx").is_in(_deleted_units(ctx, ctx.as_of)))
    keys = {
        "ad_id": ["campaign_idx", "ad_group_idx", "unit_idx"],
        "adgroup_id": ["campaign_idx", "ad_group_idx"],
        "campaign_id": ["campaign_idx"],
        "advertiser_id": [],
    }[id_dim]
    if spec.time_dim:
        keys = [*keys, "local_day"]
    if hourly:
        keys.append("local_hour")
    agg_m = pl.col("impressions", "clicks", "conversions", "spend_micros").sum()
    agg = cells.group_by(keys).agg(agg_m).sort(keys) if keys else cells.select(agg_m)
    agg = agg.filter((pl.col("impressions") > 0) | (pl.col("spend_micros") > 0))
    ents = w.entities_as_of("tiktok_ads", ctx.as_of)
    cname = dict(zip(ents["campaigns"]["campaign_id"], ents["campaigns"]["campaign_name"], strict=True))
    gname = dict(zip(ents["ad_groups"]["ad_group_id"], ents["ad_groups"]["ad_group_name"], strict=True))
    aname = dict(zip(ents["ads"]["ad_id"], ents["ads"]["ad_name"], strict=True))
    cols = {k: agg[k].to_list() for k in agg.columns}
    # ids as Python lists: indexing a polars Series per row was most of a report's cost
    camp_ids, group_ids, ad_ids = (
        t.campaigns["campaign_id"].to_list(),
        t.ad_groups["ad_group_id"].to_list(),
        t.ads["ad_id"].to_list(),
    )
    out = []
    for i in range(agg.height):
        imps, clicks, conv, spend = (
            cols[m][i] for m in ("impressions", "clicks", "conversions", "spend_micros")
        )
        v: dict[str, Any] = {
            "spend": money(spend),
            "impressions": str(imps),
            "clicks": str(clicks),
            "conversion": str(conv),
            "currency": acc["currency"],
            "ctr": f"{100 * clicks / imps:.2f}" if imps else "0.00",
            "cpc": f"{spend / 1e6 / clicks:.2f}" if clicks else "0.00",
            "cpm": f"{spend / 1e3 / imps:.2f}" if imps else "0.00",
        }
        d: dict[str, Any] = {}
        if "campaign_idx" in cols:
            cid = camp_ids[cols["campaign_idx"][i]]
            v["campaign_id"], v["campaign_name"] = int(cid), cname[cid]
            d["campaign_id"] = cid
        if "ad_group_idx" in cols:
            gid = group_ids[cols["ad_group_idx"][i]]
            v["adgroup_id"], v["adgroup_name"] = int(gid), gname[gid]
            d["adgroup_id"] = gid
        if "unit_idx" in cols:
            aid = ad_ids[cols["unit_idx"][i]]
            v["ad_name"] = aname[aid]
            d["ad_id"] = aid
        if id_dim == "advertiser_id":
            d["advertiser_id"] = acc["account_id"]
        dims_out = {id_dim: d[id_dim]}
        if "local_day" in cols and spec.time_dim:
            day = day_iso(cols["local_day"][i])
            h = cols["local_hour"][i] if hourly else 0
            dims_out[spec.time_dim] = f"{day} {h:02d}:00:00"
        out.append({"dimensions": dims_out, "metrics": {m: v.get(m) for m in metrics}})
    return out


# budget_mode -> (TikTok's budget_mode, the served amount's column); an unlimited campaign
# (BUDGET_MODE_INFINITE) answers budget 0.0.
BUDGET_MODES = {
    "daily": ("BUDGET_MODE_DAY", "budget_daily"),
    "lifetime": ("BUDGET_MODE_TOTAL", "budget_lifetime"),
    "none": ("BUDGET_MODE_INFINITE", None),
}


def _budget(r: dict[str, Any]) -> dict[str, Any]:
    """``budget`` (a number in the advertiser currency's units) and ``budget_mode`` of a campaign."""
    mode, column = BUDGET_MODES[r["budget_mode"]]
    return {"budget": float(r[column]) if column else 0.0, "budget_mode": mode}


def _entities(ctx: Context, advertiser: str, kind: str) -> list[dict[str, Any]]:
    ents = ctx.world.entities_as_of("tiktok_ads", ctx.as_of)

    def ts(v: int) -> str:
        return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M:%S")

    created = ts(ctx.world.first_utc - 30 * 86400)
    camp_status = dict(zip(ents["campaigns"]["campaign_id"], ents["campaigns"]["status"], strict=True))
    out: list[dict[str, Any]] = []
    if kind == "campaign":
        for r in ents["campaigns"].filter(pl.col("account_id") == advertiser).iter_rows(named=True):
            on = r["status"] == "ENABLED"
            out.append(
                {
                    "advertiser_id": advertiser,
                    "campaign_id": r["campaign_id"],
                    "campaign_name": r["campaign_name"],
                    "objective_type": r["objective"].upper(),
                    "operation_status": "ENABLE" if on else "DISABLE",
                    "secondary_status": "CAMPAIGN_STATUS_ENABLE" if on else "CAMPAIGN_STATUS_DISABLE",
                    **_budget(r),
                    "create_time": created,
                    "modify_time": ts(r["updated_ts"]),
                }
            )
    elif kind == "adgroup":
        for r in ents["ad_groups"].filter(pl.col("account_id") == advertiser).iter_rows(named=True):
            out.append(
                {
                    "advertiser_id": advertiser,
                    "campaign_id": r["campaign_id"],
                    "adgroup_id": r["ad_group_id"],
                    "adgroup_name": r["ad_group_name"],
                    "operation_status": "ENABLE",
                    "secondary_status": "ADGROUP_STATUS_DELIVERY_OK"
                    if camp_status[r["campaign_id"]] == "ENABLED"
                    else "ADGROUP_STATUS_CAMPAIGN_DISABLE",
                    "create_time": created,
                    "modify_time": ts(r["updated_ts"]),
                }
            )
    else:
        for r in ents["ads"].filter(pl.col("account_id") == advertiser).iter_rows(named=True):
            out.append(
                {
                    "advertiser_id": advertiser,
                    "campaign_id": r["campaign_id"],
                    "adgroup_id": r["ad_group_id"],
                    "ad_id": r["ad_id"],
                    "ad_name": r["ad_name"],
                    "operation_status": "ENABLE",
                    "create_time": created,
                    "modify_time": ts(r["updated_ts"]),
                }
            )
    return out
