"""Meta Marketing API v27.0 (and v26.0): ad insights (sync and async report runs) and entity edges.

Faithful quirks (../shared/PLATFORM_APIS.md, tests/fixtures/platforms/meta_ads): numbers as
strings; cursor paging whose ``next`` can point at an empty last page; no ``actions`` with the
hourly breakdown (a "Type 1" breakdown); ``filtering`` on campaign, ad set and ad ids;
``X-Business-Use-Case-Usage`` / ``X-FB-Ads-Insights-Throttle`` headers; throttles as HTTP 400
with codes 80000 / 17 / 4 / 613, some with only ``X-App-Usage``; an expired version answers
code 2635; errors as OAuthException.
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

LATEST = "v27.0"
# Expiration dates of the Marketing API versions
# (https://developers.facebook.com/docs/marketing-api/marketing-api-changelog/versions);
# v26.0 and v27.0 have none yet, and every version before v21.0 expired earlier still.
EXPIRES: dict[int, date | None] = {
    21: date(2025, 9, 9),
    22: date(2026, 2, 19),
    23: date(2026, 6, 9),
    24: date(2026, 11, 10),
    25: date(2027, 2, 23),
    26: None,
    27: None,
}
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
    "lifetime_budget",
}
# Budgets are in the account currency's minimum denomination: offset 100 for USD, EUR and GBP
# (https://developers.facebook.com/docs/marketing-api/currencies), as numeric strings.
MINOR_UNITS = 100
LEVELS = {"ad", "adset", "campaign", "account"}
FILTER_FIELDS = {"campaign.id": "campaign_idx", "adset.id": "ad_group_idx", "ad.id": "unit_idx"}
_TOO_MANY = (
    "(#80000) There have been too many calls from this ad-account. Wait a bit and try again. "
    "For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
)
# Throttles in turn: (code, subcode, message, usage header) as the rate-limiting pages and the
# recorded answers show them: the ads-insights business use case says when access returns
# (``buc``); app-level throttles, and some recorded 80000s, carry only ``X-App-Usage`` (``app``).
RATE_LIMITS = [
    (80000, 2446079, _TOO_MANY, "buc"),
    (17, 2446079, "(#17) User request limit reached", "buc"),
    (4, 1504022, "There have been too many calls from this app. Wait a bit and try again.", "app"),
    (
        613,
        1487742,
        "There have been too many calls from this ad-account. Please wait a bit and try again.",
        "buc",
    ),
    (80000, 2446079, _TOO_MANY, "app"),
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
    # minutes (https://developers.facebook.com/docs/graph-api/overview/rate-limiting)
    regain = max(0, math.ceil(ctx.retry_after_seconds / 60)) if throttled else 0
    usage = {
        account: [
            {
                "type": "ads_insights",
                "call_count": pct,
                "total_cputime": max(1, pct // 2),
                "total_time": max(1, pct // 2),
                "estimated_time_to_regain_access": regain,
                "ads_api_access_tier": "standard_access",
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
    """HTTP 400 with one of Meta's throttling codes and the usage header saying when to come back."""
    n = ctx.count_call("meta:throttle")
    code, sub, msg, header = RATE_LIMITS[(n - 1) % len(RATE_LIMITS)]
    resp = _error(msg, code, sub)
    if header == "buc":
        buc = _usage_headers(ctx, _account_of(req), throttled=True)["X-Business-Use-Case-Usage"]
        resp.headers = {"X-Business-Use-Case-Usage": buc}
    else:
        resp.headers = {"X-App-Usage": json.dumps({"call_count": 101, "total_cputime": 12, "total_time": 34})}
    return resp


def server_error(ctx: Context, req: Request) -> Response:
    """Meta's "(#2) Service temporarily unavailable", transient, as recorded (HTTP 400)."""
    return _error("(#2) Service temporarily unavailable", 2, transient=True)


def handle(ctx: Context, req: Request) -> Response:
    """Route a Meta request: auth, then insights, report runs or entity edges."""
    form = req.form() if req.method == "POST" else {}
    token = req.query.get("access_token") or form.get("access_token") or req.bearer()
    if not token:
        raise ApiError(_error("An access token is required to request this resource.", 104))
    if token != ctx.world.credentials["SOURCES__META_ADS__ACCESS_TOKEN"]:
        raise ApiError(_error("Invalid OAuth access token - Cannot parse access token", 190))
    version, _, rest = req.path.strip("/").partition("/")
    _check_version(ctx, version, req.path)
    parts = rest.strip("/").split("/")
    if parts[0].startswith("act_"):
        return _ad_account(ctx, req, parts[0][4:], parts[1] if len(parts) > 1 else "")
    return _report_run(ctx, req, parts)


def _check_version(ctx: Context, version: str, path: str) -> None:
    """An unknown version is an unknown path; an expired one (at the as-of date) answers 2635."""
    m = re.fullmatch(r"v(\d+)\.0", version)
    if m is None or int(m.group(1)) > max(EXPIRES):
        raise ApiError(_error(f"Unknown path components: {path}", 2500))
    expires = EXPIRES.get(int(m.group(1)), date.min)
    if expires is not None and datetime.fromtimestamp(ctx.as_of, UTC).date() >= expires:
        raise ApiError(
            _error(
                "(#2635) You are calling a deprecated version of the Ads API. "
                f"Please update to the latest version: {LATEST}.",
                2635,
            )
        )


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
                ctx.report_runs[run_id] = {
                    "spec": spec,
                    "as_of": ctx.as_of,
                    "polls": 0,
                    "account": account,
                    "status": "Job Running",
                }
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
    """An async report run: its status (done from the second poll on), then its insights."""
    run = ctx.report_runs.get(parts[0])
    if run is None:
        raise ApiError(
            _error(f"Unsupported get request. Object with ID '{parts[0]}' does not exist.", 100, 33)
        )
    if len(parts) == 1:
        return Response(200, _run_status(ctx, parts[0], run), _usage_headers(ctx, run["account"]))
    if parts[1] != "insights":
        raise ApiError(_error(f"(#100) Tried accessing nonexisting field ({parts[1]})", 100))
    if run["status"] != "Job Completed":
        raise ApiError(
            _error("(#100) The report run is not completed yet: poll async_status until Job Completed", 100)
        )
    rows = ctx.memo(
        ("meta", repr(run["spec"]), run["as_of"]), lambda: _insight_rows(ctx, run["spec"], run["as_of"])
    )
    resp = _page(ctx, req, rows, req.query)
    resp.headers.update(_usage_headers(ctx, run["account"]))
    return resp


def _run_status(ctx: Context, run_id: str, run: dict[str, Any]) -> dict[str, Any]:
    """The run's ``async_status`` body (ad-report-run reference): running at the first poll, then
    completed, or failed when the ``async_job_fail_rows`` fault switch finds it too large."""
    faults = ctx.faults.get("meta_ads") or ctx.faults.get("*") or {}
    limit = int(faults.get("async_job_fail_rows", 0))
    with ctx.lock:
        run["polls"] += 1
        first = run["polls"] < 2
    if not first and run["status"] == "Job Running":
        rows = ctx.memo(
            ("meta", repr(run["spec"]), run["as_of"]), lambda: _insight_rows(ctx, run["spec"], run["as_of"])
        )
        failed = 0 < limit < len(rows)
        run["status"] = "Job Failed" if failed else "Job Completed"
        run["time_completed"] = ctx.as_of
    spec = run["spec"]
    body: dict[str, Any] = {
        "id": run_id,
        "account_id": run["account"],
        "time_ref": run["as_of"],
        "async_status": run["status"],
        "async_percent_completion": {"Job Running": 50, "Job Completed": 100}.get(run["status"], 0),
        "date_start": spec["since"].isoformat(),
        "date_stop": spec["until"].isoformat(),
    }
    if run["status"] == "Job Completed":
        body["time_completed"] = run["time_completed"]
    return body


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
        "filters": _filters(ctx, params.get("filtering")),
    }


def _filters(ctx: Context, raw: str | None) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``filtering`` on entity ids (insights parameters: ``[{"field", "operator", "value"}]``) as
    (cell column, entity indexes)."""
    if not raw:
        return ()
    try:
        given = json.loads(raw)
        out = []
        for f in given:
            column = FILTER_FIELDS[f["field"]]
            if f["operator"] not in ("IN", "EQUAL"):
                raise ValueError(f["operator"])
            values = f["value"] if f["operator"] == "IN" else [f["value"]]
            out.append((column, tuple(sorted(_indexes(ctx, column, [str(v) for v in values])))))
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(_error(f"(#100) Filtering field is invalid: {raw}", 100)) from exc
    return tuple(out)


def _indexes(ctx: Context, column: str, ids: list[str]) -> set[int]:
    """Row indexes (the cells' ``*_idx``) of Meta entity ids."""
    t = ctx.world.entities["meta_ads"]
    table, id_col = {
        "campaign_idx": (t.campaigns, "campaign_id"),
        "ad_group_idx": (t.ad_groups, "ad_group_id"),
        "unit_idx": (t.ads, "ad_id"),
    }[column]
    wanted = set(ids)
    return {i for i, x in enumerate(table[id_col].to_list()) if x in wanted}


def _insight_cells(ctx: Context, spec: dict[str, Any], as_of: int) -> pl.DataFrame:
    """The report's cells summed to its level (and day or hour), rows without delivery dropped."""
    cells = ctx.world.report("meta_ads", spec["acc_idx"], spec["since"], spec["until"], as_of)
    for column, idxs in spec["filters"]:
        cells = cells.filter(pl.col(column).is_in(list(idxs)))
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
        if conv and not spec["hourly"]:
            # the hourly breakdowns are "Type 1": no off-Meta actions with them
            # (https://developers.facebook.com/docs/marketing-api/insights/breakdowns)
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
    camp_mode = dict(zip(ents["campaigns"]["campaign_id"], ents["campaigns"]["budget_mode"], strict=True))

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
            }
            v.update(_campaign_budget(r))
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
            elif camp_mode.get(r["campaign_id"]) == "ad_set" and r["budget_daily"] is not None:
                # a campaign without campaign budget optimisation: its ad sets carry the budgets
                v["daily_budget"] = _minor(r["budget_daily"])
            out.append({f: v[f] for f in fields if f in v})
    return out


def _minor(units: float) -> str:
    """An amount in whole units as Meta sends budgets: minor units, a numeric string."""
    return str(round(units * MINOR_UNITS))


def _campaign_budget(r: dict[str, Any]) -> dict[str, str]:
    """A campaign's ``daily_budget`` or ``lifetime_budget`` (campaign budget optimisation); none
    when its ad sets carry the budgets."""
    if r["budget_mode"] == "daily":
        return {"daily_budget": _minor(r["budget_daily"])}
    if r["budget_mode"] == "lifetime":
        return {"lifetime_budget": _minor(r["budget_lifetime"])}
    return {}


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
