"""Meta Marketing API v21.0: ad insights (sync and async report runs) and ad entity edges.

Faithful quirks: numbers as strings, cursor paging whose ``next`` can point at an empty
last page, ``X-Business-Use-Case-Usage`` / ``X-FB-Ads-Insights-Throttle`` headers on every
answer, rate limits as HTTP 400 with codes 17 / 4 / 613 / 80000, errors as OAuthException.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import polars as pl

from simulator.ads.http import (
    ApiError,
    Context,
    Request,
    Response,
    decode_cursor,
    encode_cursor,
    money,
    request_id,
)
from simulator.ads.state import day_iso

VERSION = "v21.0"
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
ACTION_TYPE = "offsite_conversion.fb_pixel_complete_registration"
INSIGHT_FIELDS = {
    "account_id",
    "account_name",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "date_start",
    "date_stop",
    "impressions",
    "clicks",
    "spend",
    "actions",
    "conversions",
    "cpc",
    "cpm",
    "ctr",
    "objective",
}
ENTITY_FIELDS = {
    "id",
    "name",
    "status",
    "effective_status",
    "configured_status",
    "objective",
    "campaign_id",
    "adset_id",
    "updated_time",
    "created_time",
    "account_id",
    "daily_budget",
}
LEVELS = {"ad", "adset", "campaign", "account"}
RATE_LIMITS = [
    (17, 2446079, "(#17) User request limit reached"),
    (4, 1504022, "(#4) Application request limit reached"),
    (613, 1487742, "(#613) Calls to this api have exceeded the rate limit."),
    (
        80000,
        2446079,
        "(#80000) There have been too many calls from this ad-account. Wait a bit and try again.",
    ),
]


def is_auth_endpoint(req: Request) -> bool:
    """Meta has no token endpoint here (long-lived access tokens)."""
    return False


def _error(
    message: str, code: int, subcode: int | None = None, status: int = 400, transient: bool = False
) -> Response:
    err: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": request_id(),
    }
    if subcode:
        err["error_subcode"] = subcode
    if transient:
        err["is_transient"] = True
    return Response(status, {"error": err})


def _usage_headers(ctx: Context, account: str, throttled: bool = False) -> dict[str, str]:
    n = ctx.count_call(f"meta:{account}")
    pct = 100 if throttled else min(95, n % 100)
    regain = max(0, math.ceil(ctx.retry_after_seconds / 60)) if throttled else 0
    usage = {
        account: [
            {
                "type": "ads_insights",
                "call_count": pct,
                "total_cputime": max(1, pct // 2),
                "total_time": max(1, pct // 2),
                "estimated_time_to_regain_access": regain,
            }
        ]
    }
    throttle = {
        "app_id_util_pct": float(pct) / 2,
        "acc_id_util_pct": float(pct),
        "ads_api_access_tier": "standard_access",
    }
    return {
        "X-Business-Use-Case-Usage": json.dumps(usage),
        "X-FB-Ads-Insights-Throttle": json.dumps(throttle),
    }


def _account_of(req: Request) -> str:
    m = re.match(r"/[^/]+/act_(\d+)", req.path)
    return m.group(1) if m else "0"


def rate_limited(ctx: Context, req: Request) -> Response:
    """HTTP 400 with one of Meta's throttling codes and the usage headers saying when to come back."""
    n = ctx.count_call("meta:throttle")
    code, sub, msg = RATE_LIMITS[(n - 1) % len(RATE_LIMITS)]
    resp = _error(msg, code, sub, transient=True)
    resp.headers = _usage_headers(ctx, _account_of(req), throttled=True)
    return resp


def server_error(ctx: Context, req: Request) -> Response:
    """HTTP 500 with Meta's transient unknown error (code 2)."""
    return _error(
        "An unexpected error has occurred. Please retry your request later.", 2, status=500, transient=True
    )


def handle(ctx: Context, req: Request) -> Response:
    """Route a Meta request: auth, then insights, report runs or entity edges."""
    form = req.form() if req.method == "POST" else {}
    token = req.query.get("access_token") or form.get("access_token") or req.bearer()
    if not token:
        raise ApiError(_error("An access token is required to request this resource.", 104))
    if token != ctx.world.credentials["SOURCES__META_ADS__ACCESS_TOKEN"]:
        raise ApiError(_error("Invalid OAuth access token - Cannot parse access token", 190))
    prefix = f"/{VERSION}/"
    if not req.path.startswith(prefix):
        raise ApiError(_error(f"Unknown path components: {req.path}", 2500))
    parts = req.path[len(prefix) :].strip("/").split("/")
    if parts[0].startswith("act_"):
        return _ad_account(ctx, req, parts[0][4:], parts[1] if len(parts) > 1 else "")
    return _report_run(ctx, req, parts)


def _ad_account(ctx: Context, req: Request, account: str, edge: str) -> Response:
    """``act_<id>`` itself, its insights (read, or started as a report run) and its entity edges."""
    acc_idx = ctx.world.account_index("meta_ads", account)
    if acc_idx is None:
        raise ApiError(
            _error(
                f"Unsupported get request. Object with ID 'act_{account}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation.",
                100,
                33,
            )
        )
    params = req.query | (req.form() if req.method == "POST" else {})
    if edge == "" and req.method == "GET":
        # the ad account node: the connector reads its currency and time zone here
        acc = ctx.world.account("meta_ads", acc_idx)
        node = {
            "id": f"act_{account}",
            "account_id": account,
            "currency": acc["currency"],
            "timezone_name": acc["time_zone"],
            "name": f"StreamRide {acc['market']}",
        }
        wanted = [f.strip() for f in params.get("fields", "id").split(",") if f.strip()]
        resp = Response(200, {f: node[f] for f in ["id", *wanted] if f in node})
    elif edge == "insights":
        spec = _insights_spec(ctx, acc_idx, params)
        if req.method == "POST":
            run_id = str(6_000_000_000_000 + ctx.count_call("meta:runs"))
            with ctx.lock:
                ctx.report_runs[run_id] = {"spec": spec, "as_of": ctx.as_of, "polls": 0, "account": account}
            resp = Response(200, {"report_run_id": run_id})
        else:
            rows = ctx.memo(("meta", repr(spec), ctx.as_of), lambda: _insight_rows(ctx, spec, ctx.as_of))
            resp = _page(ctx, req, rows, params)
    elif edge in ("campaigns", "adsets", "ads"):
        resp = _page(ctx, req, _entity_rows(ctx, acc_idx, account, edge, params), params)
    else:
        raise ApiError(
            _error(f"(#100) Tried accessing nonexisting field ({edge}) on node type (AdAccount)", 100)
        )
    resp.headers.update(_usage_headers(ctx, account))
    return resp


def _report_run(ctx: Context, req: Request, parts: list[str]) -> Response:
    """An async report run: its status (completed from the second poll on), then its insights."""
    run = ctx.report_runs.get(parts[0])
    if run is None:
        raise ApiError(
            _error(f"Unsupported get request. Object with ID '{parts[0]}' does not exist.", 100, 33)
        )
    if len(parts) == 1:
        with ctx.lock:
            run["polls"] += 1
            polls = run["polls"]
        status, pct = ("Job Running", 50) if polls < 2 else ("Job Completed", 100)
        spec = run["spec"]
        body = {
            "id": parts[0],
            "account_id": run["account"],
            "async_status": status,
            "async_percent_completion": pct,
            "date_start": spec["since"].isoformat(),
            "date_stop": spec["until"].isoformat(),
        }
        return Response(200, body, _usage_headers(ctx, run["account"]))
    if parts[1] != "insights":
        raise ApiError(_error(f"(#100) Tried accessing nonexisting field ({parts[1]})", 100))
    if run["polls"] < 2:
        raise ApiError(
            _error("(#100) The report run is not completed yet: poll async_status until Job Completed", 100)
        )
    rows = ctx.memo(
        ("meta", repr(run["spec"]), run["as_of"]), lambda: _insight_rows(ctx, run["spec"], run["as_of"])
    )
    resp = _page(ctx, req, rows, req.query)
    resp.headers.update(_usage_headers(ctx, run["account"]))
    return resp


def _fields(params: dict[str, str], allowed: set[str], default: list[str]) -> list[str]:
    raw = params.get("fields")
    fields = [f.strip() for f in raw.split(",") if f.strip()] if raw else default
    for f in fields:
        if f not in allowed:
            raise ApiError(
                _error(
                    f"(#100) {f} is not valid for fields param. please check "
                    "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ "
                    "for all valid values",
                    100,
                )
            )
    return fields


def _insights_spec(ctx: Context, acc_idx: int, params: dict[str, str]) -> dict[str, Any]:
    fields = _fields(params, INSIGHT_FIELDS, ["impressions", "spend"])
    level = params.get("level", "account")
    if level not in LEVELS:
        raise ApiError(_error(f"(#100) param level must be one of {{{', '.join(sorted(LEVELS))}}}", 100))
    breakdowns = [b for b in params.get("breakdowns", "").split(",") if b]
    if any(b != HOURLY for b in breakdowns):
        raise ApiError(_error(f"(#100) Invalid breakdown(s): {breakdowns}", 100))
    tz = ctx.world.account("meta_ads", acc_idx)["time_zone"]
    today = datetime.fromtimestamp(ctx.as_of, ZoneInfo(tz)).date()
    if "time_range" in params:
        try:
            tr = json.loads(params["time_range"])
            since, until = date.fromisoformat(tr["since"]), date.fromisoformat(tr["until"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(
                _error('(#100) time_range must be {"since":"YYYY-MM-DD","until":"YYYY-MM-DD"}', 100)
            ) from exc
        if until < since:
            raise ApiError(_error("(#100) time_range: since must be on or before until", 100))
        if (until - since).days > 37 * 31:
            raise ApiError(
                _error("(#3018) The start date of the time range cannot be beyond 37 months", 3018)
            )
    else:
        presets = {"today": (0, 0), "yesterday": (1, 1), "last_7d": (7, 1), "last_30d": (30, 1)}
        preset = params.get("date_preset", "last_30d")
        if preset not in presets:
            raise ApiError(_error(f"(#100) date_preset must be one of {sorted(presets)}", 100))
        since, until = today - timedelta(days=presets[preset][0]), today - timedelta(days=presets[preset][1])
    inc = params.get("time_increment", "all_days")
    if inc not in ("1", "all_days"):
        raise ApiError(_error("(#100) time_increment must be 1 or all_days in this simulator", 100))
    return {
        "acc_idx": acc_idx,
        "fields": fields,
        "level": level,
        "hourly": bool(breakdowns),
        "daily": inc == "1",
        "since": since,
        "until": until,
    }


def _insight_cells(ctx: Context, spec: dict[str, Any], as_of: int) -> pl.DataFrame:
    """The report's cells summed to its level (and day or hour), rows without delivery dropped."""
    cells = ctx.world.report("meta_ads", spec["acc_idx"], spec["since"], spec["until"], as_of)
    keys = {
        "ad": ["campaign_idx", "ad_group_idx", "unit_idx"],
        "adset": ["campaign_idx", "ad_group_idx"],
        "campaign": ["campaign_idx"],
        "account": [],
    }[spec["level"]]
    if spec["daily"] or spec["hourly"]:
        keys = [*keys, "local_day"]
    if spec["hourly"]:
        keys.append("local_hour")
    metrics = pl.col("impressions", "clicks", "conversions", "spend_micros").sum()
    agg = cells.group_by(keys).agg(metrics).sort(keys) if keys else cells.select(metrics)
    return agg.filter((pl.col("impressions") > 0) | (pl.col("spend_micros") > 0))


def _insight_rows(ctx: Context, spec: dict[str, Any], as_of: int) -> list[dict[str, Any]]:
    w = ctx.world
    t = w.entities["meta_ads"]
    acc = w.account("meta_ads", spec["acc_idx"])
    agg = _insight_cells(ctx, spec, as_of)
    ents = w.entities_as_of("meta_ads", as_of)
    names = {
        "campaign": dict(
            zip(ents["campaigns"]["campaign_id"], ents["campaigns"]["campaign_name"], strict=True)
        ),
        "objective": dict(zip(ents["campaigns"]["campaign_id"], ents["campaigns"]["objective"], strict=True)),
        "adset": dict(zip(ents["ad_groups"]["ad_group_id"], ents["ad_groups"]["ad_group_name"], strict=True)),
        "ad": dict(zip(ents["ads"]["ad_id"], ents["ads"]["ad_name"], strict=True)),
    }
    since, until = spec["since"].isoformat(), spec["until"].isoformat()
    cols = {k: agg[k].to_list() for k in agg.columns}
    # ids as Python lists: indexing a polars Series per row was most of a report's cost
    camp_ids, set_ids, ad_ids = (
        t.campaigns["campaign_id"].to_list(),
        t.ad_groups["ad_group_id"].to_list(),
        t.ads["ad_id"].to_list(),
    )
    rows = []
    for i in range(agg.height):
        v: dict[str, Any] = {
            "account_id": acc["account_id"],
            "account_name": f"StreamRide {acc['market']}",
            "account_currency": acc["currency"],
        }
        if "campaign_idx" in cols:
            v["campaign_id"] = camp_ids[cols["campaign_idx"][i]]
            v["campaign_name"] = names["campaign"][v["campaign_id"]]
            v["objective"] = names["objective"][v["campaign_id"]].upper()
        if "ad_group_idx" in cols:
            v["adset_id"] = set_ids[cols["ad_group_idx"][i]]
            v["adset_name"] = names["adset"][v["adset_id"]]
        if "unit_idx" in cols:
            v["ad_id"] = ad_ids[cols["unit_idx"][i]]
            v["ad_name"] = names["ad"][v["ad_id"]]
        imps, clicks, conv, spend = (
            cols[m][i] for m in ("impressions", "clicks", "conversions", "spend_micros")
        )
        v.update(
            {
                "impressions": str(imps),
                "clicks": str(clicks),
                "spend": money(spend),
                "cpc": f"{spend / 1e6 / clicks:.6f}" if clicks else None,
                "cpm": f"{spend / 1e3 / imps:.6f}" if imps else None,
                "ctr": f"{100 * clicks / imps:.6f}" if imps else None,
            }
        )
        if conv:
            v["actions"] = v["conversions"] = [{"action_type": ACTION_TYPE, "value": str(conv)}]
        row = {f: v[f] for f in spec["fields"] if f in v and v[f] is not None}
        if "local_day" in cols:
            d = day_iso(cols["local_day"][i])
            row["date_start"], row["date_stop"] = d, d
        else:
            row["date_start"], row["date_stop"] = since, until
        if "local_hour" in cols:
            h = cols["local_hour"][i]
            row[HOURLY] = f"{h:02d}:00:00 - {h:02d}:59:59"
        rows.append(row)
    return rows


def _entity_rows(
    ctx: Context, acc_idx: int, account: str, edge: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    fields = _fields(params, ENTITY_FIELDS, ["id"])
    ents = ctx.world.entities_as_of("meta_ads", ctx.as_of)
    camp_status = dict(zip(ents["campaigns"]["campaign_id"], ents["campaigns"]["status"], strict=True))

    def ts(v: int) -> str:
        return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")

    created = ts(ctx.world.first_utc - 30 * 86400)
    out = []
    if edge == "campaigns":
        for r in ents["campaigns"].filter(pl.col("account_id") == account).iter_rows(named=True):
            st = "ACTIVE" if r["status"] == "ENABLED" else "PAUSED"
            v = {
                "id": r["campaign_id"],
                "name": r["campaign_name"],
                "status": st,
                "effective_status": st,
                "configured_status": st,
                "objective": "OUTCOME_" + r["objective"].upper(),
                "updated_time": ts(r["updated_ts"]),
                "created_time": created,
                "account_id": account,
                "daily_budget": str(int(r["daily_budget"] * 100)),
            }
            out.append({f: v[f] for f in fields if f in v})
    else:
        table = ents["ad_groups"] if edge == "adsets" else ents["ads"]
        for r in table.filter(pl.col("account_id") == account).iter_rows(named=True):
            parent_paused = camp_status.get(r["campaign_id"]) == "PAUSED"
            v = {
                "id": r["ad_group_id"] if edge == "adsets" else r["ad_id"],
                "name": r["ad_group_name"] if edge == "adsets" else r["ad_name"],
                "status": "ACTIVE",
                "configured_status": "ACTIVE",
                "effective_status": "CAMPAIGN_PAUSED" if parent_paused else "ACTIVE",
                "campaign_id": r["campaign_id"],
                "updated_time": ts(r["updated_ts"]),
                "created_time": created,
                "account_id": account,
            }
            if edge == "ads":
                v["adset_id"] = r["ad_group_id"]
            out.append({f: v[f] for f in fields if f in v})
    return out


def _page(ctx: Context, req: Request, rows: list[dict[str, Any]], params: dict[str, str]) -> Response:
    """Cursor paging. A full last page still carries a ``next`` that leads to an empty page."""
    try:
        requested = int(params.get("limit", 25))
    except ValueError as exc:
        raise ApiError(_error("(#100) param limit must be an integer", 100)) from exc
    limit = ctx.override_page_size("meta_ads", max(1, requested))
    offset = 0
    if params.get("after"):
        cur = decode_cursor(params["after"])
        if not cur or not isinstance(cur.get("o"), int):
            raise ApiError(_error("(#100) Invalid cursor: after", 100))
        offset = cur["o"]
    page = rows[offset : offset + limit]
    body: dict[str, Any] = {"data": page}
    if page or offset == 0:
        paging: dict[str, Any] = {
            "cursors": {
                "before": encode_cursor({"o": offset}),
                "after": encode_cursor({"o": offset + len(page)}),
            }
        }
        more = offset + limit < len(rows) or (len(page) == limit and offset + limit == len(rows))
        if more and page:
            q = {k: v for k, v in req.query.items() if k != "after"} | {
                "after": encode_cursor({"o": offset + limit})
            }
            paging["next"] = f"http://{req.host}/meta_ads{req.path}?{urlencode(q)}"
        if offset > 0:
            q = {k: v for k, v in req.query.items() if k != "after"} | {
                "before": encode_cursor({"o": offset})
            }
            paging["previous"] = f"http://{req.host}/meta_ads{req.path}?{urlencode(q)}"
        body["paging"] = paging
    return Response(200, body)
