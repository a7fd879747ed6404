"""Apple Ads: the Apple Ads Platform API v1, and the Campaign Management API v5 until its sunset.

OAuth client credentials (``POST /auth/oauth2/token``, scope ``searchadsorg``; an expired
token answers 401). v1 requests are scoped to an ad account (``X-AP-Context:
adAccountId=<id>``; the world's Apple account ids); ``/query`` endpoints take a QueryRequest
(filters, sorting, offset/pageSize in the body) and answer ``{"result", "pagination"}``;
failures answer ErrorResponse ``{"error": {code, message, details}}``; every answer carries
``RateLimit-*`` headers. Apps reports require a ``campaignId`` filter. Shapes: the fixtures under
``tests/fixtures/platforms/apple_search_ads``; docs:
https://developer.apple.com/documentation/apple-ads-platform-api/ (``calling-apple-ads-platform-api``,
``get-app-ad-group-reports``, ``appsreportingrequest``, ``timerange``, ``requestpagination``,
``querypaginationresult``, ``appsoptions``, ``errorresponse``, ``rate-limits``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from simulator.ads import api_apple_v5 as v5
from simulator.ads.http import ApiError, Context, Request, Response, money
from simulator.ads.state import day_date

PREFIX = "/v1/"
PLATFORM = "apple_search_ads"
REPORT_PAGE_MAX = 5000  # RequestPagination: "Maximum 5000, default 100"
REPORT_PAGE_DEFAULT = 100
CAMPAIGN_PAGE_MAX = 1000  # Query Campaigns: "This endpoint caps pageSize at 1000"
DAILY_START_MAX_AGE = 90  # DAILY: "Date range start must be within the last 90 days"
REPORT_KEYS = {"pagination", "sorting", "filters", "fields", "groupBy", "timeRange", "options"}
QUERY_KEYS = {"filters", "sorting", "pagination", "fields"}
METRICS = ("localSpend", "impressions", "taps", "ttr", "cpt", "tapInstalls")  # all the world can tell
# Filterable fields and operators of the query endpoints (post-campaigns-query, post-adgroups-query).
CAMPAIGN_FILTERS = {
    "id": ("EQUALS", "IN"),
    "name": ("EQUALS", "IN"),
    "status": ("EQUALS", "IN"),
    "promotedObjectType": ("EQUALS", "NOT_EQUALS", "IN", "NOT_IN"),
    "promotedObjectId": ("EQUALS", "NOT_EQUALS", "IN", "NOT_IN"),
    "deleted": ("EQUALS", "IN"),
}
AD_GROUP_FILTERS = {
    "id": ("EQUALS", "IN"),
    "campaignId": ("EQUALS",),
    "name": ("EQUALS",),
    "status": ("EQUALS", "IN"),
    "deleted": ("EQUALS",),
}
RATE_LIMIT = 100


def is_auth_endpoint(req: Request) -> bool:
    """The OAuth token endpoint takes no injected faults."""
    return req.path == "/auth/oauth2/token"


def _limits(remaining: int = RATE_LIMIT - 1, reset: int = 60) -> dict[str, str]:
    # "Every response, successful or not, includes" these (rate-limits). The simulator does not
    # model the quota itself (429s come from fault injection), so the figures are nominal.
    return {
        "RateLimit-Limit": str(RATE_LIMIT),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }


def error(status: int, code: str, message: str, details: Sequence[tuple[str, str]] = ()) -> Response:
    """A v1 ErrorResponse (codes beyond the documented examples are constructed)."""
    err: dict[str, Any] = {"code": code, "message": message}
    if details:
        err["details"] = [{"code": c, "message": m} for c, m in details]
    return Response(status, {"error": err}, headers=_limits())


def _invalid(message: str, detail: str = "INVALID_VALUE") -> ApiError:
    text = "The request could not be processed because one or more fields failed validation."
    return ApiError(error(400, "INVALID_ARGUMENT", text, [(detail, message)]))


def rate_limited(ctx: Context, req: Request) -> Response:
    """429 with ``Retry-After`` and the RateLimit-* headers (the v5 envelope on v5 paths)."""
    if req.path.startswith(v5.PREFIX):
        return v5.error(429, "RATE_LIMIT_EXCEEDED", "Too many requests. Try again later.")
    wait = str(max(1, round(ctx.retry_after_seconds)))
    resp = error(429, "rate_limit_exceeded", "Rate limit exceeded.")
    resp.headers.update({**_limits(0, int(wait)), "Retry-After": wait})
    return resp


def server_error(ctx: Context, req: Request) -> Response:
    """500 internal error."""
    if req.path.startswith(v5.PREFIX):
        return v5.error(500, "INTERNAL_ERROR", "An internal error occurred.")
    return error(500, "internal_server_error", "An unexpected server-side error occurred.")


def _token(ctx: Context, req: Request) -> Response:
    creds = ctx.world.credentials
    form = req.form() | {k: v for k, v in req.query.items() if k not in req.form()}
    if form.get("grant_type") != "client_credentials" or form.get("scope") != "searchadsorg":
        return Response(400, {"error": "invalid_request"})
    if (form.get("client_id"), form.get("client_secret")) != (
        creds["SOURCES__APPLE_SEARCH_ADS__CLIENT_ID"],
        creds["SOURCES__APPLE_SEARCH_ADS__CLIENT_SECRET"],
    ):
        return Response(400, {"error": "invalid_client"})
    tok = ctx.issue_token(PLATFORM, 3600)
    return Response(
        200, {"access_token": tok, "token_type": "Bearer", "expires_in": 3600, "scope": "searchadsorg"}
    )


def handle(ctx: Context, req: Request) -> Response:
    """Route an Apple Ads request: token, v5 (until its sunset) or v1."""
    if req.path == "/auth/oauth2/token":
        return _token(ctx, req)
    is_v5 = req.path.startswith(v5.PREFIX)
    if is_v5:
        v5.check_sunset(ctx)
    state = ctx.token_state(PLATFORM, req.bearer())
    if state != "valid":
        if is_v5:
            raise ApiError(v5.error(401, "UNAUTHORIZED", "Invalid or expired token"))
        raise ApiError(error(401, "UNAUTHORIZED", "Invalid or expired access token."))
    if is_v5:
        return v5.handle(ctx, req)
    resp = _v1(ctx, req)
    resp.headers.update(_limits())
    return resp


def _v1(ctx: Context, req: Request) -> Response:
    m = re.fullmatch(r"\s*adAccountId=(\d+)\s*", req.headers.get("x-ap-context", ""))
    if not m:
        raise _invalid("X-AP-Context header adAccountId=<id> is required", "MISSING_REQUIRED_HEADER")
    account = m.group(1)
    acc_idx = ctx.world.account_index(PLATFORM, account)
    if acc_idx is None:
        raise ApiError(error(403, "FORBIDDEN", f"No access to ad account {account}"))
    path = req.path[len(PREFIX) :].strip("/") if req.path.startswith(PREFIX) else None
    if path == f"ad-accounts/{account}" and req.method == "GET":
        return Response(200, {"result": _ad_account(ctx, acc_idx)})
    if path == "campaigns/query" and req.method == "POST":
        camps = [_campaign(ctx, acc_idx, r) for r in _entities(ctx, account, "campaigns")]
        return _query(ctx, req, camps, CAMPAIGN_FILTERS, CAMPAIGN_PAGE_MAX)
    if path == "adgroups/query" and req.method == "POST":
        groups = [_ad_group(ctx, acc_idx, r) for r in _entities(ctx, account, "ad_groups")]
        return _query(ctx, req, groups, AD_GROUP_FILTERS, REPORT_PAGE_MAX)
    if path == "reports/apps/adgroups/query" and req.method == "POST":
        return _report(ctx, req, acc_idx)
    if path == "reports/apps/campaigns/query" and req.method == "POST":
        return _campaign_report(ctx, req, acc_idx)
    raise ApiError(error(404, "NOT_FOUND", f"The requested resource does not exist: {req.method} {req.path}"))


# -- entities ---------------------------------------------------------------------------------


def _entities(ctx: Context, account: str, table: str) -> list[dict[str, Any]]:
    df = ctx.world.entities_as_of(PLATFORM, ctx.as_of)[table].filter(pl.col("account_id") == account)
    return list(df.iter_rows(named=True))


def _ts(v: int) -> str:
    return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%dT%H:%M:%S.000")


def _ad_account(ctx: Context, acc_idx: int) -> dict[str, Any]:
    acc = ctx.world.account(PLATFORM, acc_idx)
    created = _ts(ctx.world.first_utc - 60 * 86400)
    return {
        "id": int(acc["account_id"]),
        "name": f"StreamRide {acc['market']}",
        "orgId": 10_000_000 + ctx.world.seed % 89_999_999,
        "timezone": acc["time_zone"],
        "currency": acc["currency"],
        "paymentModel": "PAYG",
        "systemStatus": "ACTIVE",
        "systemStatusReasons": [],
        "productFeatures": ["APPSTORE_APP_MANUAL"],
        "delegations": [
            {"resourceId": "1444555", "resourceType": "CONTENT_PROVIDER", "resourceName": "StreamRide"}
        ],
        "creationTime": created,
        "modificationTime": created,
    }


def _campaign(ctx: Context, acc_idx: int, r: dict[str, Any]) -> dict[str, Any]:
    acc = ctx.world.account(PLATFORM, acc_idx)
    on = r["status"] == "ENABLED"
    created = _ts(ctx.world.first_utc - 30 * 86400)
    return {
        "id": int(r["campaign_id"]),
        "name": r["campaign_name"],
        "adAccountId": int(acc["account_id"]),
        "promotedObjectType": "APPSTORE_APP",
        "promotedObjectId": "1444555666",
        "status": "ENABLED" if on else "PAUSED",
        "billingEvent": "TAPS",
        "startTime": created,
        "endTime": None,
        "dailyBudget": {"value": {"amount": f"{r['budget_daily']:.2f}", "currency": acc["currency"]}},
        "targeting": {
            "countryOrRegion": {"include": [acc["market"]]},
            "supplyPlacement": {"include": ["APPSTORE_SEARCH_RESULTS"]},
        },
        "bidStrategy": {"bidStrategyType": "MANUAL_CPT", "bidStrategyGoal": "TAP"},
        "creationTime": created,
        "modificationTime": _ts(r["updated_ts"]),
        "deleted": False,
        "paymentModel": "PAYG",
        "systemStatus": "RUNNING" if on else "NOT_RUNNING",
        "systemStatusReasons": [] if on else ["PAUSED_BY_USER"],
        "systemStatusLimitingReasons": [],
        "displayStatus": "RUNNING" if on else "PAUSED",
    }


def _ad_group(ctx: Context, acc_idx: int, r: dict[str, Any]) -> dict[str, Any]:
    acc = ctx.world.account(PLATFORM, acc_idx)
    created = _ts(ctx.world.first_utc - 30 * 86400)
    return {
        "id": int(r["ad_group_id"]),
        "name": r["ad_group_name"],
        "adAccountId": int(acc["account_id"]),
        "campaignId": int(r["campaign_id"]),
        "startTime": created,
        "endTime": None,
        "pricingModel": "CPT",
        "automatedKeywordsOptIn": False,
        "status": "ENABLED",
        "systemStatus": "RUNNING",
        "systemStatusReasons": [],
        "systemStatusLimitingReasons": [],
        "automatedKeywordsRequired": False,
        "displayStatus": "RUNNING",
        "bidStrategy": {
            "bidStrategyType": "MANUAL_CPT",
            "bidStrategyGoal": "TAP",
            "bid": {"amount": "1.60", "currency": acc["currency"]},
        },
        "targeting": None,
        "creationTime": created,
        "modificationTime": _ts(r["updated_ts"]),
        "deleted": False,
        "cpaCap": None,
    }


# -- /query -----------------------------------------------------------------------------------


def _body(req: Request, keys: set[str]) -> dict[str, Any]:
    """The JSON object body (an empty payload is an empty query); unknown keys are refused."""
    body = req.json() if req.body else {}
    if not isinstance(body, dict):
        raise _invalid("the request body must be a JSON object", "INVALID_JSON")
    unknown = sorted(set(body) - keys)
    if unknown:
        raise _invalid(f"unrecognized field '{unknown[0]}'", "UNRECOGNIZED_FIELD")
    return body


def _page(ctx: Context, pagination: Any, default: int, maximum: int) -> tuple[int, int]:
    pag = pagination or {}
    try:
        offset, size = int(pag.get("offset", 0)), int(pag.get("pageSize", default))
    except (AttributeError, TypeError, ValueError) as exc:
        raise _invalid("pagination offset and pageSize must be integers") from exc
    if offset < 0 or not 1 <= size <= maximum:
        raise _invalid(f"pageSize must be between 1 and {maximum}; offset must be >= 0", "INVALID_PAGINATION")
    return offset, ctx.override_page_size(PLATFORM, size)


def _norm(v: Any) -> Any:
    return v if isinstance(v, bool) or v is None else str(v)


def _matches(item: dict[str, Any], f: Any, allowed: dict[str, tuple[str, ...]]) -> bool:
    if not isinstance(f, dict) or f.get("operator") not in allowed.get(str(f.get("field")), ()):
        raise _invalid(f"unsupported filter {f}", "INVALID_FILTER")
    value, op = f.get("value"), f["operator"]
    values = {_norm(v) for v in (value if isinstance(value, list) else [value])}
    if op in ("EQUALS", "NOT_EQUALS") and len(values) != 1:
        raise _invalid(f"{op} takes one value", "INVALID_FILTER")
    hit = _norm(item.get(f["field"])) in values
    return hit if op in ("EQUALS", "IN") else not hit


def _sorted(items: list[dict[str, Any]], sorting: Any, allowed: set[str]) -> list[dict[str, Any]]:
    out = sorted(items, key=lambda i: i["id"])  # "The default behavior is to sort by ID, ascending."
    for s in reversed(sorting or []):
        if not isinstance(s, dict) or s.get("field") not in allowed or s.get("order") not in ("ASC", "DESC"):
            raise _invalid(f"unsupported sorting {s}", "INVALID_SORT")
        field: str = s["field"]
        out.sort(key=lambda i: (i.get(field) is None, str(i.get(field))), reverse=s["order"] == "DESC")
    return out


def _query(
    ctx: Context, req: Request, items: list[dict[str, Any]], allowed: dict[str, tuple[str, ...]], maximum: int
) -> Response:
    """A QueryRequest over ``items``: deleted ones only when a filter asks for ``deleted``."""
    body = _body(req, QUERY_KEYS)
    filters = body.get("filters") or []
    if not any(isinstance(f, dict) and f.get("field") == "deleted" for f in filters):
        items = [i for i in items if not i["deleted"]]
    items = [i for i in items if all(_matches(i, f, allowed) for f in filters)]
    items = _sorted(items, body.get("sorting"), {*allowed, "creationTime", "modificationTime"})
    offset, size = _page(ctx, body.get("pagination"), REPORT_PAGE_DEFAULT, maximum)
    page = items[offset : offset + size]
    # pageSize: the rows returned; totalCount only when fetchTotalCount (QueryPaginationResult)
    pagination: dict[str, Any] = {"offset": offset, "pageSize": len(page)}
    if (body.get("pagination") or {}).get("fetchTotalCount"):
        pagination["totalCount"] = len(items)
    return Response(200, {"result": page, "pagination": pagination})


# -- the ad group report ----------------------------------------------------------------------


def _campaign_filter(filters: Any) -> str:
    """The required ``campaignId`` filter's value (EQUALS; a string, number or one-element list)."""
    if not isinstance(filters, list):
        raise _invalid("filters must be a list", "INVALID_FILTER")
    found = [f for f in filters if isinstance(f, dict) and f.get("field") == "campaignId"]
    if not found:
        raise _invalid("Filter 'campaignId' is required", "MISSING_REQUIRED_FILTER")
    f = found[0]
    value = f.get("value")
    values = value if isinstance(value, list) else [value]
    if f.get("operator") != "EQUALS" or len(values) != 1 or not str(values[0]).isdigit():
        raise _invalid(f"unsupported campaignId filter {f}", "INVALID_FILTER")
    for other in filters:
        if other is not f and not (isinstance(other, dict) and other.get("field") == "adGroupId"):
            raise _invalid(f"filter {other} is not simulated", "INVALID_FILTER")
    return str(values[0])


def _time_range(ctx: Context, tr: Any) -> tuple[date, date, bool]:
    """(start, end, daily) of a TimeRange, checked as the docs state (ORTZ and UTC coincide:
    the simulated ad accounts report in UTC)."""
    if not isinstance(tr, dict):
        raise _invalid("timeRange is required", "MISSING_REQUIRED_FIELD")
    try:
        d0, d1 = date.fromisoformat(tr["start"]), date.fromisoformat(tr["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid("timeRange start and end must be YYYY-MM-DD", "INVALID_DATE") from exc
    if d1 < d0:
        raise _invalid("timeRange end must not be before start", "INVALID_DATE_RANGE")
    if tr.get("timeZone", "ORTZ") not in ("ORTZ", "UTC"):
        raise _invalid("timeZone must be ORTZ or UTC", "INVALID_TIME_ZONE")
    granularity = tr.get("granularity")
    if granularity not in (None, "DAILY"):
        raise _invalid(f"granularity {granularity!r} is not simulated (DAILY or none)", "INVALID_GRANULARITY")
    if granularity == "DAILY":
        if d1 == d0:
            raise _invalid("DAILY: the date range must be greater than one day", "INVALID_DATE_RANGE")
        today = datetime.fromtimestamp(ctx.as_of, UTC).date()
        if d0 < today - timedelta(days=DAILY_START_MAX_AGE):
            raise _invalid(
                "DAILY: the date range start must be within the last 90 days", "INVALID_DATE_RANGE"
            )
    return d0, d1, granularity == "DAILY"


def _fields(fields: Any) -> tuple[str, ...]:
    if fields is None:
        return METRICS  # "If you omit this field, the response includes all fields."
    if not isinstance(fields, list) or any(f not in METRICS for f in fields):
        raise _invalid(f"fields must be a list of {', '.join(METRICS)}", "INVALID_FIELD")
    return tuple(fields)


def _report(ctx: Context, req: Request, acc_idx: int) -> Response:
    body = _body(req, REPORT_KEYS)
    campaign = _campaign_filter(body.get("filters", []))
    d0, d1, daily = _time_range(ctx, body.get("timeRange"))
    fields = _fields(body.get("fields"))
    if body.get("groupBy"):
        raise _invalid("groupBy is not simulated", "INVALID_GROUP_BY")
    if any(not isinstance(s, dict) or s.get("field") != "id" for s in body.get("sorting") or []):
        raise _invalid("sorting other than by id is not simulated", "INVALID_SORT")
    include = (body.get("options") or {}).get("includeRows") or []
    if not set(include) <= {"GRAND_TOTAL", "EMPTY_METRICS"}:
        raise _invalid(f"unknown includeRows {include}", "INVALID_OPTION")
    offset, size = _page(ctx, body.get("pagination"), REPORT_PAGE_DEFAULT, REPORT_PAGE_MAX)
    key = ("apple-v1", acc_idx, campaign, d0, d1, ctx.as_of)
    groups = ctx.memo(key, lambda: _group_days(ctx, acc_idx, campaign, d0, d1))
    if "EMPTY_METRICS" in include:
        groups = _with_empty(ctx, acc_idx, campaign, groups)
    ad_groups = _ad_group_filter(body.get("filters", []), groups)
    cur = ctx.world.account(PLATFORM, acc_idx)["currency"]
    rows = [_row(meta, days, fields, cur, daily, d0 if d0 == d1 else None) for meta, days in ad_groups]
    result: dict[str, Any] = {"rows": rows[offset : offset + size]}
    if "GRAND_TOTAL" in include:
        result["summary"] = {"grandTotal": _metrics([d for _, days in ad_groups for d in days], fields, cur)}
    pagination = {"totalCount": len(rows), "offset": offset, "pageSize": len(result["rows"])}
    return Response(200, {"result": result, "pagination": pagination})


Group = tuple[dict[str, Any], list[dict[str, Any]]]


def _campaign_report(ctx: Context, req: Request, acc_idx: int) -> Response:
    """Campaigns report (``get-app-campaign-reports``): one row per campaign, campaign ``metadata``
    (AppsCampaignReportRow: the campaign object's fields), ``totalMetrics`` and, with DAILY,
    ``granularMetrics``; the same required ``campaignId`` filter, time range and paging as the ad
    group report. Its figures are the sums of the campaign's ad group cells (one world state)."""
    body = _body(req, REPORT_KEYS)
    campaign = _campaign_filter(body.get("filters", []))
    if any(isinstance(f, dict) and f.get("field") == "adGroupId" for f in body["filters"]):
        raise _invalid("filter adGroupId on a campaigns report is not simulated", "INVALID_FILTER")
    d0, d1, daily = _time_range(ctx, body.get("timeRange"))
    fields = _fields(body.get("fields"))
    if body.get("groupBy"):
        raise _invalid("groupBy is not simulated", "INVALID_GROUP_BY")
    offset, size = _page(ctx, body.get("pagination"), REPORT_PAGE_DEFAULT, REPORT_PAGE_MAX)
    account = ctx.world.account(PLATFORM, acc_idx)["account_id"]
    found = [r for r in _entities(ctx, account, "campaigns") if r["campaign_id"] == campaign]
    days = _campaign_days(ctx, acc_idx, campaign, d0, d1) if found else []
    rows = []
    if days:  # a campaign without delivery in the range has no row (as ad groups without data)
        cur = ctx.world.account(PLATFORM, acc_idx)["currency"]
        meta = _report_campaign(ctx, acc_idx, found[0])
        rows.append(_row(meta, days, fields, cur, daily, d0 if d0 == d1 else None))
    result: dict[str, Any] = {"rows": rows[offset : offset + size]}
    pagination = {"totalCount": len(rows), "offset": offset, "pageSize": len(result["rows"])}
    return Response(200, {"result": result, "pagination": pagination})


_REPORT_CAMPAIGN_KEYS = (
    "id",
    "promotedObjectType",
    "promotedObjectId",
    "name",
    "status",
    "deleted",
    "displayStatus",
    "modificationTime",
    "creationTime",
    "adAccountId",
    "systemStatus",
    "systemStatusReasons",
    "billingEvent",
    "systemStatusLimitingReasons",
    "dailyBudget",
    "startTime",
    "endTime",
)


def _report_campaign(ctx: Context, acc_idx: int, r: dict[str, Any]) -> dict[str, Any]:
    """AppsReportingCampaign: the campaign fields a campaigns report row's ``metadata`` carries
    (appscampaignreportresponse example), a subset of the campaign object plus ``adChannelType``."""
    c = _campaign(ctx, acc_idx, r)
    keys = _REPORT_CAMPAIGN_KEYS
    bid = {"amount": "1.60", "currency": ctx.world.account(PLATFORM, acc_idx)["currency"]}
    meta = {k: c[k] for k in keys}
    meta.update({"bidStrategy": {"bidStrategyType": "MANUAL_CPT", "bid": bid}, "adChannelType": "SEARCH"})
    return meta


def _campaign_days(ctx: Context, acc_idx: int, campaign: str, d0: date, d1: date) -> list[dict[str, Any]]:
    """The campaign's cells summed per day (the ad group cells of the same as-of time)."""
    t = ctx.world.entities[PLATFORM]
    camp_idx = t.campaigns["campaign_id"].to_list().index(campaign)
    cells = ctx.world.report(PLATFORM, acc_idx, d0, d1, ctx.as_of).filter(pl.col("campaign_idx") == camp_idx)
    days = cells.group_by("local_day").agg(
        pl.col("impressions", "clicks", "conversions", "spend_micros").sum()
    )
    return list(days.sort("local_day").iter_rows(named=True))


def _ad_group_filter(filters: list[Any], groups: list[Group]) -> list[Group]:
    wanted = [f for f in filters if isinstance(f, dict) and f.get("field") == "adGroupId"]
    for f in wanted:
        value = f.get("value")
        ids = {str(v) for v in (value if isinstance(value, list) else [value])}
        groups = [g for g in groups if str(g[0]["id"]) in ids]
    return groups


def _group_days(ctx: Context, acc_idx: int, campaign: str, d0: date, d1: date) -> list[Group]:
    """(metadata, day cells) per ad group of ``campaign`` with data in the range, by id."""
    w = ctx.world
    t = w.entities[PLATFORM]
    account = w.account(PLATFORM, acc_idx)["account_id"]
    camps = t.campaigns.filter(pl.col("account_id") == account)["campaign_id"].to_list()
    if campaign not in camps:
        return []  # a filter that matches nothing
    camp_idx = t.campaigns["campaign_id"].to_list().index(campaign)
    cells = w.report(PLATFORM, acc_idx, d0, d1, ctx.as_of).filter(pl.col("campaign_idx") == camp_idx)
    names = dict(zip(t.ad_groups["ad_group_id"], t.ad_groups["ad_group_name"], strict=True))
    out = []
    for (g,), grp in cells.sort("ad_group_idx", "local_day").group_by("ad_group_idx", maintain_order=True):
        gid = t.ad_groups["ad_group_id"][int(g)]
        out.append((_report_meta(gid, names[gid], account, campaign), list(grp.iter_rows(named=True))))
    return sorted(out, key=lambda g: g[0]["id"])


def _with_empty(ctx: Context, acc_idx: int, campaign: str, groups: list[Group]) -> list[Group]:
    """EMPTY_METRICS: the campaign's ad groups without data, too."""
    account = ctx.world.account(PLATFORM, acc_idx)["account_id"]
    have = {g[0]["id"] for g in groups}
    extra: list[Group] = [
        (_report_meta(r["ad_group_id"], r["ad_group_name"], account, campaign), [])
        for r in _entities(ctx, account, "ad_groups")
        if r["campaign_id"] == campaign and int(r["ad_group_id"]) not in have
    ]
    return sorted(groups + extra, key=lambda g: g[0]["id"])


def _report_meta(gid: str, name: str, account: str, campaign: str) -> dict[str, Any]:
    return {
        "id": int(gid),
        "name": name,
        "adAccountId": int(account),
        "campaignId": int(campaign),
        "status": "ENABLED",
        "pricingModel": "CPT",
        "deleted": False,
    }


def _metrics(cells: list[dict[str, Any]], fields: tuple[str, ...], cur: str) -> dict[str, Any]:
    imps = sum(int(c["impressions"]) for c in cells)
    taps = sum(int(c["clicks"]) for c in cells)
    spend = sum(int(c["spend_micros"]) for c in cells)
    values: dict[str, Any] = {
        "localSpend": {"amount": money(spend), "currency": cur},
        "impressions": imps,
        "taps": taps,
        "ttr": round(taps / imps, 4) if imps else 0.0,
        "cpt": {"amount": money(spend // max(taps, 1)), "currency": cur},
        "tapInstalls": sum(int(c["conversions"]) for c in cells),
    }
    return {f: values[f] for f in fields}


def _row(
    meta: dict[str, Any],
    cells: list[dict[str, Any]],
    fields: tuple[str, ...],
    cur: str,
    daily: bool,
    single_day: date | None,
) -> dict[str, Any]:
    """One AppsAdGroupReportRow: totals, and per day only when a granularity was asked."""
    total = _metrics(cells, fields, cur)
    row: dict[str, Any] = {"metadata": meta, "totalMetrics": total}
    if daily:
        row["granularMetrics"] = [
            {"date": day_date(c["local_day"]).isoformat(), **_metrics([c], fields, cur)} for c in cells
        ]
    elif single_day is not None:
        row["totalMetrics"] = {"date": single_day.isoformat(), **total}
    return row
