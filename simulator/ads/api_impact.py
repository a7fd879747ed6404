"""Impact.com brand-side API: actions by EventDate, campaigns, media partners.

HTTP Basic (AccountSID:AuthToken), JSON only with ``Accept: application/json`` (XML
otherwise, as the real API), paging fields as ``@``-prefixed strings with ``@nextpageuri``
relative to the API root, a 45-day maximum span, 429 with ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import base64
import math
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import polars as pl

from simulator.ads.common import to_epoch
from simulator.ads.http import ApiError, Context, Request, Response, money

MAX_SPAN_DAYS = 45
MAX_PAGE_SIZE = 20_000
RATE_LIMIT = 1000
ACTION_PARAMS = {"ActionDateStart", "ActionDateEnd", "Page", "PageSize", "CampaignId", "State"}


def is_auth_endpoint(req: Request) -> bool:
    """Impact has no token endpoint (Basic auth)."""
    return False


def _error(status: int, message: str) -> Response:
    return Response(status, {"Status": "ERROR", "Message": message})


def _rate_headers(ctx: Context, remaining: int | None = None) -> dict[str, str]:
    used = ctx.count_call("impact:calls")
    left = max(0, RATE_LIMIT - used % RATE_LIMIT) if remaining is None else remaining
    reset = int(time.time() + max(ctx.retry_after_seconds, 0))
    return {
        "X-RateLimit-Limit": str(RATE_LIMIT),
        "X-RateLimit-Remaining": str(left),
        "X-RateLimit-Reset": str(reset),
    }


def rate_limited(ctx: Context, req: Request) -> Response:
    """429 with X-RateLimit-Limit/Remaining/Reset (Reset = epoch seconds), no Retry-After."""
    resp = _error(429, "Too Many Requests: the hourly request limit is exhausted.")
    resp.headers = _rate_headers(ctx, remaining=0)
    return resp


def server_error(ctx: Context, req: Request) -> Response:
    """503 Service Unavailable."""
    return _error(503, "Service Unavailable")


def _parse_ts(v: str, name: str) -> int:
    try:
        ts = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(
            _error(400, f"{name} must be an ISO 8601 date-time, e.g. 2026-10-25T00:00:00Z")
        ) from exc
    return to_epoch(ts if ts.tzinfo else ts.replace(tzinfo=UTC))


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def handle(ctx: Context, req: Request) -> Response:
    """Route an Impact request."""
    creds = ctx.world.credentials
    sid = creds["SOURCES__IMPACT__ACCOUNT_SID"]
    auth = req.headers.get("authorization", "")
    try:
        user, _, pw = (
            base64.b64decode(auth[6:]).decode().partition(":")
            if auth[:6].lower() == "basic "
            else ("", "", "")
        )
    except (ValueError, UnicodeDecodeError):
        user, pw = "", ""
    if (user, pw) != (sid, creds["SOURCES__IMPACT__AUTH_TOKEN"]):
        raise ApiError(_error(401, "Unauthorized: invalid AccountSID or AuthToken"))
    m = re.fullmatch(r"/Advertisers/([^/]+)/(Actions|Campaigns|MediaPartners)", req.path)
    if not m:
        raise ApiError(_error(404, f"Resource not found: {req.path}"))
    if m.group(1) != sid:
        raise ApiError(_error(403, "Forbidden: the AccountSID in the path does not match the credentials"))
    if "application/json" not in req.headers.get("accept", ""):
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n<ImpactRadiusResponse><Message>Set Accept: application/json for JSON</Message></ImpactRadiusResponse>'
        return Response(200, xml, _rate_headers(ctx), content_type="application/xml")
    if m.group(2) == "Actions":
        items, name = _actions(ctx, req.query), "Actions"
    elif m.group(2) == "Campaigns":
        items, name = _campaigns(ctx, sid), "Campaigns"
    else:
        items = [
            {"Id": r["media_partner_id"], "Name": r["media_partner_name"]}
            for r in ctx.world.media_partners.iter_rows(named=True)
        ]
        name = "MediaPartners"
    resp = _paged(ctx, req, items, name)
    resp.headers.update(_rate_headers(ctx))
    return resp


def _paged(ctx: Context, req: Request, items: list[dict[str, Any]], name: str) -> Response:
    try:
        page = int(req.query.get("Page", 1))
        size = int(req.query.get("PageSize", 100))
    except ValueError as exc:
        raise ApiError(_error(400, "Page and PageSize must be integers")) from exc
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(_error(400, f"Page must be >= 1 and PageSize between 1 and {MAX_PAGE_SIZE}"))
    size = ctx.override_page_size("impact", size)
    numpages = max(1, math.ceil(len(items) / size))
    chunk = items[(page - 1) * size : page * size]

    def uri(p: int) -> str:
        q = {k: v for k, v in req.query.items() if k != "Page"} | {"Page": str(p)}
        return f"{req.path}?{urlencode(q)}"

    body = {
        "@page": str(page),
        "@numpages": str(numpages),
        "@pagesize": str(size),
        "@total": str(len(items)),
        "@start": str((page - 1) * size),
        "@end": str((page - 1) * size + max(len(chunk) - 1, 0)),
        "@uri": uri(page),
        "@firstpageuri": uri(1),
        "@previouspageuri": uri(page - 1) if page > 1 else "",
        "@nextpageuri": uri(page + 1) if page < numpages else "",
        "@lastpageuri": uri(numpages),
        name: chunk,
    }
    return Response(200, body)


def _actions(ctx: Context, q: dict[str, str]) -> list[dict[str, Any]]:
    unknown = sorted(set(q) - ACTION_PARAMS)
    if unknown:
        raise ApiError(_error(400, f"Invalid parameter: {unknown[0]}"))
    if "ActionDateStart" not in q or "ActionDateEnd" not in q:
        raise ApiError(_error(400, "ActionDateStart and ActionDateEnd are required"))
    start, end = (
        _parse_ts(q["ActionDateStart"], "ActionDateStart"),
        _parse_ts(q["ActionDateEnd"], "ActionDateEnd"),
    )
    if end <= start:
        raise ApiError(_error(400, "ActionDateEnd must be after ActionDateStart"))
    if end - start > MAX_SPAN_DAYS * 86400:
        raise ApiError(_error(400, f"The date range cannot exceed {MAX_SPAN_DAYS} days"))
    return ctx.memo(
        ("impact", start, end, q.get("CampaignId"), q.get("State"), ctx.as_of),
        lambda: _action_rows(ctx, start, end, q),
    )


def _action_rows(ctx: Context, start: int, end: int, q: dict[str, str]) -> list[dict[str, Any]]:
    w = ctx.world
    acts = w.impact_actions(start, end, ctx.as_of)
    camps = w.entities_as_of("impact", ctx.as_of)["campaigns"]
    cid = camps["campaign_id"].to_list()
    cname = camps["campaign_name"].to_list()
    pid = w.media_partners["media_partner_id"].to_list()
    pname = w.media_partners["media_partner_name"].to_list()
    if q.get("CampaignId"):
        if q["CampaignId"] not in cid:
            raise ApiError(_error(400, f"Unknown CampaignId {q['CampaignId']}"))
        acts = acts.filter(pl.col("campaign_idx") == cid.index(q["CampaignId"]))
    if q.get("State"):
        acts = acts.filter(pl.col("state") == q["State"].upper())
    out = []
    for r in acts.sort("event_ts", "action_id").iter_rows(named=True):
        c, p = r["campaign_idx"], r["partner_idx"]
        intended = r["payout_initial_micros"]
        out.append(
            {
                "Id": r["action_id"],
                "CampaignId": cid[c],
                "CampaignName": cname[c],
                "ActionTrackerId": "24510",
                "ActionTrackerName": "Online Sale",
                "EventCode": "sale",
                "MediaPartnerId": pid[p],
                "MediaPartnerName": pname[p],
                "State": r["state"],
                "AdId": "",
                "Payout": money(r["payout_micros"]),
                "DeltaPayout": money(r["payout_micros"] - intended),
                "IntendedPayout": money(intended),
                "Amount": money(r["amount_micros"]),
                "DeltaAmount": "0.00",
                "IntendedAmount": money(r["amount_micros"]),
                "Currency": "USD",
                "ReferringType": "CLICK_COOKIE",
                "EventDate": _iso(r["event_ts"]),
                "CreationDate": _iso(r["creation_ts"]),
                "LockingDate": _iso(r["locking_ts"]),
                "ClearedDate": _iso(r["locking_ts"]) if r["state"] == "APPROVED" else "",
            }
        )
    return out


def _campaigns(ctx: Context, sid: str) -> list[dict[str, Any]]:
    camps = ctx.world.entities_as_of("impact", ctx.as_of)["campaigns"]
    return [
        {
            "Id": r["campaign_id"],
            "AdvertiserId": sid,
            "Name": r["campaign_name"],
            "Status": "ACTIVE" if r["status"] == "ENABLED" else "PAUSED",
            "Currency": "USD",
            "DateLastUpdated": _iso(r["updated_ts"]),
        }
        for r in camps.iter_rows(named=True)
    ]
