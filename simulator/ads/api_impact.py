"""Impact.com brand-side API (v14): programs, actions by EventDate, media partners.

Facts from https://integrations.impact.com/brand-api-reference/readme and its published v14
spec (recorded shapes: ``tests/fixtures/platforms/impact``):

- HTTP Basic (AccountSID:AuthToken); JSON only with ``Accept: application/json`` (XML otherwise).
- ``/Actions`` requires ``CampaignId``; ``PageSize`` is 2,000..20,000 (default 20,000); a request
  matching more than 10 x PageSize records is refused ("reduce the date range or increase
  PageSize"); ``ActionDateStart``/``ActionDateEnd`` filter EventDate "on or after" / "on or
  before" the instant given (its offset honoured; one without offset is the account's local
  time), at most 45 days apart. Actions come by creation date, most recent first.
- Dates carry the account's local offset (``2020-09-10T10:42:38-07:00``); money is JSON numbers,
  ids integers except ``Action.Id`` (a string); the ``@``-paging fields are strings, with
  ``@nextpageuri`` relative to the API root.
- Programs (``/Campaigns``, sorted by Id) have ``State``, no ``Status`` and no ``Currency``.
- 429 with ``X-RateLimit-Limit/Remaining/Reset``, Reset = seconds until the reset; no Retry-After.

Test-only: the served page size (``/_sim/page-size``) replaces a valid requested PageSize, and
the 10 x PageSize limit applies to the served size, so small worlds span several pages and can
exceed the limit.
"""

from __future__ import annotations

import base64
import math
import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import polars as pl

from simulator.ads.common import to_epoch
from simulator.ads.http import ApiError, Context, Request, Response

MAX_SPAN_DAYS = 45
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 2_000, 20_000
PROGRAM_PAGE_SIZE = 100  # /Campaigns pages as recorded (@pagesize "100")
MAX_PAGES = 10  # more than 10 x PageSize matching records is an error
RATE_LIMIT = 1000  # requests an hour
ACTION_PARAMS = {"ActionDateStart", "ActionDateEnd", "Page", "PageSize", "CampaignId", "State", "IrVersion"}
TOO_MANY = "The total number of records exceeds 10 times the PageSize. Reduce the date range or increase the PageSize."
TRACKER_ID, TRACKER_NAME = 24510, "Online Sale"


def is_auth_endpoint(req: Request) -> bool:
    """Impact has no token endpoint (Basic auth)."""
    return False


def _error(status: int, message: str) -> Response:
    return Response(status, {"Status": "ERROR", "Message": message})


def _invalid(field: str, message: str) -> ApiError:
    """A 400 validation error in the documented envelope, naming the field."""
    body = {
        "Status": "ERROR",
        "Message": "Validation Failed",
        "Errors": [{"Field": field, "Message": message}],
    }
    return ApiError(Response(400, body))


def _rate_headers(ctx: Context, remaining: int | None = None, reset: int | None = None) -> dict[str, str]:
    """X-RateLimit-*: Reset is the seconds until the hourly window resets (here: the wall-clock hour)."""
    used = ctx.count_call("impact:calls")
    left = max(0, RATE_LIMIT - used % RATE_LIMIT) if remaining is None else remaining
    until = 3600 - int(time.time()) % 3600 if reset is None else reset
    return {
        "X-RateLimit-Limit": str(RATE_LIMIT),
        "X-RateLimit-Remaining": str(left),
        "X-RateLimit-Reset": str(until),
    }


def rate_limited(ctx: Context, req: Request) -> Response:
    """429 with X-RateLimit-Limit/Remaining/Reset (Reset = seconds until the reset), no Retry-After."""
    resp = _error(429, "Too Many Requests")
    resp.headers = _rate_headers(ctx, remaining=0, reset=max(1, math.ceil(ctx.retry_after_seconds)))
    return resp


def server_error(ctx: Context, req: Request) -> Response:
    """503 Service Unavailable."""
    return _error(503, "Service Unavailable")


def _account_zone(ctx: Context) -> str:
    return str(ctx.world.account("impact", 0)["time_zone"])


def _instant(value: str, name: str, tz: str) -> int:
    """Epoch seconds of an ISO 8601 parameter: its offset honoured, none = the account's local time."""
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(name, f"{name} must be an ISO 8601 date-time, e.g. 2026-10-25T00:00:00Z") from exc
    return to_epoch(ts if ts.tzinfo else ts.replace(tzinfo=ZoneInfo(tz)))


def _local_iso(col: str, tz: str) -> pl.Expr:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SS-07:00`` in the account's zone."""
    local = pl.from_epoch(col, time_unit="s").dt.replace_time_zone("UTC").dt.convert_time_zone(tz)
    return local.dt.strftime("%Y-%m-%dT%H:%M:%S%:z")


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
        resp = _actions(ctx, req, sid)
    elif m.group(2) == "Campaigns":
        size = ctx.override_page_size("impact", _int(req.query, "PageSize", PROGRAM_PAGE_SIZE))
        resp = _paged(req, _programs(ctx, sid), "Campaigns", size)
    else:
        partners = [
            {"Id": int(r["media_partner_id"]), "Name": r["media_partner_name"]}
            for r in ctx.world.media_partners.iter_rows(named=True)
        ]
        size = ctx.override_page_size("impact", _int(req.query, "PageSize", PROGRAM_PAGE_SIZE))
        resp = _paged(req, partners, "MediaPartners", size)
    resp.headers.update(_rate_headers(ctx))
    return resp


def _int(q: dict[str, str], name: str, default: int) -> int:
    try:
        return int(q.get(name, default))
    except ValueError as exc:
        raise _invalid(name, f"{name} must be an integer") from exc


def _paged(req: Request, items: list[dict[str, Any]], name: str, size: int) -> Response:
    """One page of ``items`` in Impact's envelope (every ``@`` field a string)."""
    page = _int(req.query, "Page", 1)
    if page < 1:
        raise _invalid("Page", "Page must be 1 or more")
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


def _actions(ctx: Context, req: Request, sid: str) -> Response:
    """``/Actions``: validated as documented, one program's actions in the EventDate range, paged."""
    q = req.query
    unknown = sorted(set(q) - ACTION_PARAMS)
    if unknown:
        raise ApiError(_error(400, f"Invalid parameter: {unknown[0]}"))
    if not q.get("CampaignId"):
        raise _invalid("CampaignId", "CampaignId is required")
    size = _int(q, "PageSize", MAX_PAGE_SIZE)
    if not MIN_PAGE_SIZE <= size <= MAX_PAGE_SIZE:
        raise _invalid("PageSize", f"PageSize must be between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}")
    if "ActionDateStart" not in q or "ActionDateEnd" not in q:
        raise ApiError(_error(400, "ActionDateStart and ActionDateEnd are required"))
    tz = _account_zone(ctx)
    start = _instant(q["ActionDateStart"], "ActionDateStart", tz)
    end = _instant(q["ActionDateEnd"], "ActionDateEnd", tz)
    if end < start:
        raise ApiError(_error(400, "ActionDateEnd must not be before ActionDateStart"))
    if end - start > MAX_SPAN_DAYS * 86400:
        raise ApiError(_error(400, f"The date range cannot exceed {MAX_SPAN_DAYS} days"))
    cid, state = q["CampaignId"], q.get("State", "").upper()
    rows = ctx.memo(
        ("impact", cid, start, end, state, ctx.as_of),
        lambda: _action_rows(ctx, sid, tz, cid, start, end, state),
    )
    served = ctx.override_page_size("impact", size)
    if len(rows) > MAX_PAGES * served:
        raise ApiError(_error(400, TOO_MANY))
    return _paged(req, rows, "Actions", served)


def _action_rows(
    ctx: Context, sid: str, tz: str, cid: str, start: int, end: int, state: str
) -> list[dict[str, Any]]:
    """The program's actions with EventDate in [start, end] as of ``ctx.as_of``, newest creation first."""
    w = ctx.world
    camps = w.entities_as_of("impact", ctx.as_of)["campaigns"]
    ids = camps["campaign_id"].to_list()
    if not cid.isdigit():
        raise _invalid("CampaignId", "CampaignId must be an integer")
    if cid not in ids:
        raise ApiError(_error(400, f"Unknown CampaignId {cid}"))
    acts = w.impact_actions(start, end + 1, ctx.as_of).filter(pl.col("campaign_idx") == ids.index(cid))
    if state:
        acts = acts.filter(pl.col("state") == state)
    acts = acts.sort("creation_ts", "action_id", descending=True).with_columns(
        (pl.col("event_ts") - 600 - pl.col("event_ts") * 7919 % 43_200).alias("referring_ts")
    )
    dates = acts.select(
        *[_local_iso(c, tz).alias(c) for c in ("referring_ts", "event_ts", "creation_ts", "locking_ts")]
    )
    name = camps["campaign_name"][ids.index(cid)]
    return [
        _action(sid, int(cid), name, r, d, w.media_partners.row(r["partner_idx"]))
        for r, d in zip(acts.iter_rows(named=True), dates.iter_rows(named=True), strict=True)
    ]


def _num(micros: int) -> float:
    """Money as the JSON number Impact sends (two decimals)."""
    return int(micros) // 10_000 / 100


def _action(
    sid: str, cid: int, name: str, r: dict[str, Any], d: dict[str, str], partner: tuple[Any, ...]
) -> dict[str, Any]:
    """One action in the recorded field order and JSON types."""
    payout, intended, amount = r["payout_micros"], r["payout_initial_micros"], r["amount_micros"]
    serial = r["action_id"].rsplit(".", 1)[-1]
    return {
        "Id": r["action_id"],
        "CampaignId": cid,
        "CampaignName": name,
        "ActionTrackerId": TRACKER_ID,
        "ActionTrackerName": TRACKER_NAME,
        "EventCode": "",
        "MediaPartnerId": int(partner[0]),
        "MediaPartnerName": partner[1],
        "State": r["state"],
        "AdId": 1_000_000 + int(r["partner_idx"]),
        "ClientCost": _num(payout * 12 // 10),  # payout plus the network fee
        "Payout": _num(payout),
        "DeltaPayout": _num(payout - intended if payout != intended else payout),  # = Payout when unmodified
        "IntendedPayout": _num(intended),
        "Amount": _num(amount),
        "DeltaAmount": _num(amount),
        "IntendedAmount": _num(amount),
        "Currency": "USD",
        "ReferringDate": d["referring_ts"],
        "EventDate": d["event_ts"],
        "CreationDate": d["creation_ts"],
        "LockingDate": d["locking_ts"],
        "ClearedDate": d["locking_ts"] if r["state"] == "APPROVED" else "",
        "ReferringType": "CLICK_COOKIE",
        "ReferringDomain": "",
        "PromoCode": "",
        "Oid": f"SR-{serial}",
        "CustomerId": f"CUST{serial}",
        "CustomerStatus": "NEW" if int(serial) % 3 else "EXISTING",
        "CustomerCountry": "US",
        "IpAddress": "",
        "SharedId": "",
        "Note": "",
        "Uri": f"/Advertisers/{sid}/Actions/{r['action_id']}",
    }


def _programs(ctx: Context, sid: str) -> list[dict[str, Any]]:
    """The programs (campaigns) as of now, sorted by Id; paused ones are DEACTIVATED."""
    camps = ctx.world.entities_as_of("impact", ctx.as_of)["campaigns"]
    out = [
        {
            "Id": int(r["campaign_id"]),
            "Name": r["campaign_name"],
            "State": "ACTIVE" if r["status"] == "ENABLED" else "DEACTIVATED",
            "Type": "Performance",
            "ShortDescription": "",
            "ListInMarketplace": True,
            "TrackingDomain": "streamride.pxf.io",
            "Uri": f"/Advertisers/{sid}/Campaigns/{r['campaign_id']}",
        }
        for r in camps.iter_rows(named=True)
    ]
    return sorted(out, key=lambda p: p["Id"])
