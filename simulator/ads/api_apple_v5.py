"""Apple Search Ads Campaign Management API v5, as it answers until its sunset on 2027-01-26.

One Apple account is one org here (``X-AP-Context: orgId=<id>``; the simulated world has one
id per account, which the Platform API v1 calls the ad account id). Reports are per campaign,
ad group x day; paging is offset/limit (max 1000). Shapes: ``v5_adgroups_report.json`` under
``tests/fixtures/platforms/apple_search_ads`` (https://developer.apple.com/documentation/apple_ads/get-ad-group-level-reports).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from simulator.ads.common import to_epoch
from simulator.ads.http import ApiError, Context, Request, Response, money
from simulator.ads.state import day_date

PREFIX = "/api/v5/"
# "The Apple Ads Platform API supersedes the Apple Ads Campaign Management API, which will be
# sunset on January 26, 2027" (changelog-apple-ads-platform-api). Taken as 00:00 UTC that day.
SUNSET = to_epoch(datetime(2027, 1, 26, tzinfo=UTC))
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


def error(status: int, code: str, message: str, field: str = "") -> Response:
    """A v5 error envelope."""
    return Response(
        status,
        {
            "data": None,
            "pagination": None,
            "error": {"errors": [{"messageCode": code, "message": message, "field": field}]},
        },
    )


def check_sunset(ctx: Context) -> None:
    """After the sunset every v5 call is refused.

    What v5 answers after its sunset is not documented (Apple only says it "will be sunset";
    API 1 once answered 301 RESOURCE_MOVED_PERMANENTLY): a plain 404 NOT_FOUND in the v5 error
    envelope stands in for it.
    """
    if ctx.as_of >= SUNSET:
        raise ApiError(
            error(
                404,
                "NOT_FOUND",
                "Campaign Management API v5 was sunset on 2027-01-26; use the Apple Ads Platform API",
            )
        )


def handle(ctx: Context, req: Request) -> Response:
    """Route an authenticated v5 request (the token was checked by the caller)."""
    m = re.fullmatch(r"\s*orgId=(\d+)\s*", req.headers.get("x-ap-context", ""))
    if not m:
        raise ApiError(
            error(400, "INVALID_INPUT", "X-AP-Context header with orgId=<id> is required", "X-AP-Context")
        )
    org = m.group(1)
    acc_idx = ctx.world.account_index("apple_search_ads", org)
    if acc_idx is None:
        raise ApiError(error(403, "FORBIDDEN", f"No access to org {org}"))
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
    raise ApiError(error(404, "NOT_FOUND", f"Unknown resource {req.method} {req.path}"))


def _check_campaign(camps: pl.DataFrame, cid: str) -> None:
    if cid not in camps["campaign_id"].to_list():
        raise ApiError(error(404, "NOT_FOUND", f"Campaign {cid} not found in this org", "campaignId"))


def ts(v: int) -> str:
    """Apple's timestamp format (``2026-10-02T09:15:40.000``, UTC)."""
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
        "dailyBudgetAmount": {"amount": f"{r['budget_daily']:.2f}", "currency": cur},
        "countriesOrRegions": [r["campaign_name"][:2]],
        "modificationTime": ts(r["updated_ts"]),
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
        "modificationTime": ts(r["updated_ts"]),
        "deleted": False,
    }


def _limit(ctx: Context, offset: Any, limit: Any) -> tuple[int, int]:
    try:
        o, n = int(offset), int(limit)
    except (TypeError, ValueError) as exc:
        raise ApiError(
            error(400, "INVALID_INPUT", "offset and limit must be integers", "pagination")
        ) from exc
    if o < 0 or not 1 <= n <= MAX_LIMIT:
        raise ApiError(error(400, "INVALID_INPUT", f"limit must be between 1 and {MAX_LIMIT}", "limit"))
    return o, ctx.override_page_size("apple_search_ads", n)


def _listing(ctx: Context, req: Request, items: list[dict[str, Any]]) -> Response:
    offset, limit = _limit(ctx, req.query.get("offset", 0), req.query.get("limit", 20))
    page = items[offset : offset + limit]
    pagination = {"totalResults": len(items), "startIndex": offset, "itemsPerPage": len(page)}
    return Response(200, {"data": page, "pagination": pagination, "error": None})


def _dates(body: dict[str, Any]) -> tuple[date, date]:
    try:
        d0, d1 = date.fromisoformat(body["startTime"]), date.fromisoformat(body["endTime"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(
            error(400, "INVALID_DATE_FORMAT", "startTime and endTime must be YYYY-MM-DD", "startTime")
        ) from exc
    if d1 < d0:
        raise ApiError(error(400, "INVALID_DATE_RANGE", "endTime must not be before startTime", "endTime"))
    if body.get("granularity") != "DAILY":
        raise ApiError(
            error(400, "INVALID_INPUT", "granularity must be DAILY for this report", "granularity")
        )
    if (d1 - d0).days + 1 > MAX_DAILY_SPAN_DAYS:
        message = f"DAILY granularity supports at most {MAX_DAILY_SPAN_DAYS} days"
        raise ApiError(error(400, "INVALID_DATE_RANGE", message, "startTime"))
    if body.get("timeZone", "UTC") not in ("UTC", "ORTZ"):
        raise ApiError(error(400, "INVALID_INPUT", "timeZone must be UTC or ORTZ", "timeZone"))
    return d0, d1


def _report(ctx: Context, req: Request, acc_idx: int, org: str, campaign_id: str) -> Response:
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(error(400, "INVALID_JSON_REQUEST", "Request body must be a JSON object"))
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise ApiError(error(400, "INVALID_ATTRIBUTE_TYPE", f"Unrecognized field {unknown[0]}", unknown[0]))
    d0, d1 = _dates(body)
    selector = body.get("selector") or {}
    for o in selector.get("orderBy", []):
        if o.get("field") not in ORDER_FIELDS or o.get("sortOrder") not in ("ASCENDING", "DESCENDING"):
            raise ApiError(error(400, "INVALID_INPUT", f"Invalid orderBy {o}", "orderBy"))
    pag = selector.get("pagination") or {}
    offset, limit = _limit(ctx, pag.get("offset", 0), pag.get("limit", 20))
    rows = ctx.memo(
        ("apple-v5", org, campaign_id, d0, d1, ctx.as_of),
        lambda: _rows(ctx, acc_idx, org, campaign_id, d0, d1),
    )
    page = rows[offset : offset + limit]
    pagination = {"totalResults": len(rows), "startIndex": offset, "itemsPerPage": len(page)}
    return Response(
        200, {"data": {"reportingDataResponse": {"row": page}}, "pagination": pagination, "error": None}
    )


def _day(r: dict[str, Any], cur: str) -> dict[str, Any]:
    return {
        "date": day_date(r["local_day"]).isoformat(),
        "impressions": r["impressions"],
        "taps": r["clicks"],
        "tapInstalls": r["conversions"],
        # the simulated world has no view-through installs: total installs are the tap installs
        "totalInstalls": r["conversions"],
        "localSpend": {"amount": money(r["spend_micros"]), "currency": cur},
        "avgCPT": {
            "amount": money(r["spend_micros"] // max(r["clicks"], 1) // 10_000 * 10_000),
            "currency": cur,
        },
        "ttr": round(r["clicks"] / r["impressions"], 4) if r["impressions"] else 0.0,
    }


def _metadata(gid: str, name: str, updated: int, campaign_id: str, org: str, cur: str) -> dict[str, Any]:
    return {
        "adGroupId": int(gid),
        "adGroupName": name,
        "startTime": ts(updated),
        "endTime": None,
        "cpaGoal": None,
        "pricingModel": "CPC",
        "defaultBidAmount": {"amount": "1.60", "currency": cur},
        "deleted": False,
        "adGroupStatus": "ENABLED",
        "adGroupServingStatus": "RUNNING",
        "adGroupServingStateReasons": None,
        "modificationTime": ts(updated),
        "automatedKeywordsOptIn": False,
        "adGroupDisplayStatus": "RUNNING",
        "campaignId": int(campaign_id),
        "orgId": int(org),
    }


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
    updated = dict(zip(ents["ad_group_id"], ents["updated_ts"], strict=True))
    out = []
    for (g,), grp in cells.sort("ad_group_idx", "local_day").group_by("ad_group_idx", maintain_order=True):
        gid = t.ad_groups["ad_group_id"][int(g)]
        days = [_day(r, cur) for r in grp.iter_rows(named=True)]
        meta = _metadata(gid, names[gid], updated[gid], campaign_id, org, cur)
        out.append({"other": False, "granularity": days, "metadata": meta})
    return out
