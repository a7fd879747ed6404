"""Apple Search Ads Campaign Management API v5: OAuth client credentials, ad group reports, entities.

One Apple account is one org (its own currency); ``X-AP-Context: orgId=<id>`` picks it.
Reports are per campaign, ad group x day in UTC; paging is offset/limit (max 1000);
an expired token answers 401; rate limits answer 429 without figures.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from simulator.ads.http import ApiError, Context, Request, Response, money
from simulator.ads.state import day_date

PREFIX = "/api/v5/"
MAX_LIMIT = 1000
MAX_DAILY_SPAN_DAYS = 90
BODY_KEYS = {
    "startTime",
    "endTime",
    "granularity",
    "timeZone",
    "selector",
    "returnRowTotals",
    "returnGrandTotals",
    "returnRecordsWithNoMetrics",
    "groupBy",
}
ORDER_FIELDS = {"adGroupId", "adGroupName", "impressions", "taps", "tapInstalls", "localSpend"}


def is_auth_endpoint(req: Request) -> bool:
    """The OAuth token endpoint takes no injected faults."""
    return req.path == "/auth/oauth2/token"


def _error(status: int, code: str, message: str, field: str = "") -> Response:
    return Response(
        status,
        {
            "data": None,
            "pagination": None,
            "error": {"errors": [{"messageCode": code, "message": message, "field": field}]},
        },
    )


def rate_limited(ctx: Context, req: Request) -> Response:
    """429 with no published figures."""
    return _error(429, "RATE_LIMIT_EXCEEDED", "Too many requests. Try again later.")


def server_error(ctx: Context, req: Request) -> Response:
    """500 internal error."""
    return _error(500, "INTERNAL_ERROR", "An internal error occurred.")


def handle(ctx: Context, req: Request) -> Response:
    """Route an Apple Search Ads request."""
    creds = ctx.world.credentials
    if req.path == "/auth/oauth2/token":
        form = req.form() | {k: v for k, v in req.query.items() if k not in req.form()}
        if form.get("grant_type") != "client_credentials" or form.get("scope") != "searchadsorg":
            return Response(400, {"error": "invalid_request"})
        if (form.get("client_id"), form.get("client_secret")) != (
            creds["SOURCES__APPLE_SEARCH_ADS__CLIENT_ID"],
            creds["SOURCES__APPLE_SEARCH_ADS__CLIENT_SECRET"],
        ):
            return Response(400, {"error": "invalid_client"})
        tok = ctx.issue_token("apple_search_ads", 3600)
        return Response(200, {"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
    state = ctx.token_state("apple_search_ads", req.bearer())
    if state != "valid":
        raise ApiError(
            _error(401, "UNAUTHORIZED", "Invalid or expired token" if state == "expired" else "Invalid token")
        )
    m = re.fullmatch(r"\s*orgId=(\d+)\s*", req.headers.get("x-ap-context", ""))
    if not m:
        raise ApiError(
            _error(400, "INVALID_INPUT", "X-AP-Context header with orgId=<id> is required", "X-AP-Context")
        )
    org = m.group(1)
    acc_idx = ctx.world.account_index("apple_search_ads", org)
    if acc_idx is None:
        raise ApiError(_error(403, "FORBIDDEN", f"No access to org {org}"))
    if not req.path.startswith(PREFIX):
        raise ApiError(_error(404, "NOT_FOUND", f"Unknown resource {req.path}"))
    path = req.path[len(PREFIX) :].strip("/")
    ents = ctx.world.entities_as_of("apple_search_ads", ctx.as_of)
    camps = ents["campaigns"].filter(pl.col("account_id") == org)
    if path == "campaigns" and req.method == "GET":
        return _listing(ctx, req, [_campaign(r, org, ctx) for r in camps.iter_rows(named=True)])
    m = re.fullmatch(r"campaigns/(\d+)/adgroups", path)
    if m and req.method == "GET":
        _check_campaign(camps, m.group(1))
        groups = ents["ad_groups"].filter(pl.col("campaign_id") == m.group(1))
        return _listing(ctx, req, [_ad_group(r, org) for r in groups.iter_rows(named=True)])
    m = re.fullmatch(r"reports/campaigns/(\d+)/adgroups", path)
    if m and req.method == "POST":
        _check_campaign(camps, m.group(1))
        return _report(ctx, req, acc_idx, org, m.group(1))
    raise ApiError(_error(404, "NOT_FOUND", f"Unknown resource {req.method} {req.path}"))


def _check_campaign(camps: pl.DataFrame, cid: str) -> None:
    if cid not in camps["campaign_id"].to_list():
        raise ApiError(_error(404, "NOT_FOUND", f"Campaign {cid} not found in this org", "campaignId"))


def _ts(v: int) -> str:
    return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%dT%H:%M:%S.000")


def _campaign(r: dict[str, Any], org: str, ctx: Context) -> dict[str, Any]:
    cur = ctx.world.entities["apple_search_ads"].accounts.filter(pl.col("account_id") == org)["currency"][0]
    on = r["status"] == "ENABLED"
    return {
        "id": int(r["campaign_id"]),
        "orgId": int(org),
        "name": r["campaign_name"],
        "status": "ENABLED" if on else "PAUSED",
        "servingStatus": "RUNNING" if on else "NOT_RUNNING",
        "displayStatus": "RUNNING" if on else "PAUSED",
        "adamId": 1234567890,
        "dailyBudgetAmount": {"amount": f"{r['daily_budget']:.2f}", "currency": cur},
        "countriesOrRegions": [r["campaign_name"][:2]],
        "modificationTime": _ts(r["updated_ts"]),
        "deleted": False,
    }


def _ad_group(r: dict[str, Any], org: str) -> dict[str, Any]:
    return {
        "id": int(r["ad_group_id"]),
        "campaignId": int(r["campaign_id"]),
        "orgId": int(org),
        "name": r["ad_group_name"],
        "status": "ENABLED",
        "servingStatus": "RUNNING",
        "modificationTime": _ts(r["updated_ts"]),
        "deleted": False,
    }


def _limit(ctx: Context, offset: Any, limit: Any) -> tuple[int, int]:
    try:
        o, n = int(offset), int(limit)
    except (TypeError, ValueError) as exc:
        raise ApiError(
            _error(400, "INVALID_INPUT", "offset and limit must be integers", "pagination")
        ) from exc
    if o < 0 or not 1 <= n <= MAX_LIMIT:
        raise ApiError(_error(400, "INVALID_INPUT", f"limit must be between 1 and {MAX_LIMIT}", "limit"))
    return o, ctx.override_page_size("apple_search_ads", n)


def _listing(ctx: Context, req: Request, items: list[dict[str, Any]]) -> Response:
    offset, limit = _limit(ctx, req.query.get("offset", 0), req.query.get("limit", 20))
    page = items[offset : offset + limit]
    return Response(
        200,
        {
            "data": page,
            "pagination": {"totalResults": len(items), "startIndex": offset, "itemsPerPage": len(page)},
            "error": None,
        },
    )


def _report(ctx: Context, req: Request, acc_idx: int, org: str, campaign_id: str) -> Response:
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(_error(400, "INVALID_JSON_REQUEST", "Request body must be a JSON object"))
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise ApiError(_error(400, "INVALID_ATTRIBUTE_TYPE", f"Unrecognized field {unknown[0]}", unknown[0]))
    try:
        d0, d1 = date.fromisoformat(body["startTime"]), date.fromisoformat(body["endTime"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(
            _error(400, "INVALID_DATE_FORMAT", "startTime and endTime must be YYYY-MM-DD", "startTime")
        ) from exc
    if d1 < d0:
        raise ApiError(_error(400, "INVALID_DATE_RANGE", "endTime must not be before startTime", "endTime"))
    if body.get("granularity") != "DAILY":
        raise ApiError(
            _error(400, "INVALID_INPUT", "granularity must be DAILY for this report", "granularity")
        )
    if (d1 - d0).days + 1 > MAX_DAILY_SPAN_DAYS:
        raise ApiError(
            _error(
                400,
                "INVALID_DATE_RANGE",
                f"DAILY granularity supports at most {MAX_DAILY_SPAN_DAYS} days",
                "startTime",
            )
        )
    if body.get("timeZone", "UTC") not in ("UTC", "ORTZ"):
        raise ApiError(_error(400, "INVALID_INPUT", "timeZone must be UTC or ORTZ", "timeZone"))
    selector = body.get("selector") or {}
    for o in selector.get("orderBy", []):
        if o.get("field") not in ORDER_FIELDS or o.get("sortOrder") not in ("ASCENDING", "DESCENDING"):
            raise ApiError(_error(400, "INVALID_INPUT", f"Invalid orderBy {o}", "orderBy"))
    pag = selector.get("pagination") or {}
    offset, limit = _limit(ctx, pag.get("offset", 0), pag.get("limit", 20))
    rows = ctx.memo(
        ("apple", org, campaign_id, d0, d1, ctx.as_of), lambda: _rows(ctx, acc_idx, org, campaign_id, d0, d1)
    )
    page = rows[offset : offset + limit]
    return Response(
        200,
        {
            "data": {"reportingDataResponse": {"row": page, "grandTotals": None}},
            "pagination": {"totalResults": len(rows), "startIndex": offset, "itemsPerPage": len(page)},
            "error": None,
        },
    )


def _rows(ctx: Context, acc_idx: int, org: str, campaign_id: str, d0: date, d1: date) -> list[dict[str, Any]]:
    w = ctx.world
    t = w.entities["apple_search_ads"]
    cur = w.account("apple_search_ads", acc_idx)["currency"]
    camp_idx = t.campaigns["campaign_id"].to_list().index(campaign_id)
    cells = w.report("apple_search_ads", acc_idx, d0, d1, ctx.as_of).filter(
        pl.col("campaign_idx") == camp_idx
    )
    ents = w.entities_as_of("apple_search_ads", ctx.as_of)["ad_groups"]
    names = dict(zip(ents["ad_group_id"], ents["ad_group_name"], strict=True))
    out = []
    for (g,), grp in cells.sort("ad_group_idx", "local_day").group_by("ad_group_idx", maintain_order=True):
        gid = t.ad_groups["ad_group_id"][int(g)]
        days = []
        for r in grp.iter_rows(named=True):
            days.append(
                {
                    "date": day_date(r["local_day"]).isoformat(),
                    "impressions": r["impressions"],
                    "taps": r["clicks"],
                    "tapInstalls": r["conversions"],
                    "ttr": round(r["clicks"] / r["impressions"], 4) if r["impressions"] else 0,
                    "localSpend": {"amount": money(r["spend_micros"]), "currency": cur},
                    "avgCPT": {
                        "amount": money(r["spend_micros"] // max(r["clicks"], 1) // 10_000 * 10_000),
                        "currency": cur,
                    },
                }
            )
        out.append(
            {
                "other": False,
                "granularity": days,
                "metadata": {
                    "adGroupId": int(gid),
                    "adGroupName": names[gid],
                    "campaignId": int(campaign_id),
                    "orgId": int(org),
                    "adGroupStatus": "ENABLED",
                    "deleted": False,
                },
            }
        )
    return out
