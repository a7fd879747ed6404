"""Google Ads API v18 (REST): OAuth token, GoogleAdsService search / searchStream over GAQL.

Faithful quirks: camelCase JSON, int64 values as strings, zero or empty fields left out of
a row (``segments.hour`` 0 included), no ``results`` key on an empty page, fixed pages of
10,000 rows, 429 RESOURCE_EXHAUSTED with a ``retryDelay`` duration string.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from simulator.ads.http import ApiError, Context, Request, Response, decode_cursor, encode_cursor, request_id
from simulator.ads.state import day_date

VERSION = "v18"
PAGE_SIZE = 10_000
FAILURE_TYPE = f"type.googleapis.com/google.ads.googleads.{VERSION}.errors.GoogleAdsFailure"

# GAQL field -> (resource it belongs to, value type). int64 are strings on the wire.
FIELDS: dict[str, tuple[str, str]] = {
    "customer.id": ("customer", "int64"),
    "customer.resource_name": ("customer", "string"),
    "customer.descriptive_name": ("customer", "string"),
    "customer.currency_code": ("customer", "string"),
    "customer.time_zone": ("customer", "string"),
    "campaign.id": ("campaign", "int64"),
    "campaign.resource_name": ("campaign", "string"),
    "campaign.name": ("campaign", "string"),
    "campaign.status": ("campaign", "enum"),
    "campaign.advertising_channel_type": ("campaign", "enum"),
    "ad_group.id": ("ad_group", "int64"),
    "ad_group.resource_name": ("ad_group", "string"),
    "ad_group.name": ("ad_group", "string"),
    "ad_group.status": ("ad_group", "enum"),
    "ad_group.campaign": ("ad_group", "string"),
    "ad_group_ad.resource_name": ("ad_group_ad", "string"),
    "ad_group_ad.ad.id": ("ad_group_ad", "int64"),
    "ad_group_ad.ad.name": ("ad_group_ad", "string"),
    "ad_group_ad.status": ("ad_group_ad", "enum"),
    "segments.date": ("segments", "date"),
    "segments.hour": ("segments", "int32"),
    "metrics.impressions": ("metrics", "int64"),
    "metrics.clicks": ("metrics", "int64"),
    "metrics.cost_micros": ("metrics", "int64"),
    "metrics.conversions": ("metrics", "double"),
}
# Which resources' attributes a FROM resource may select.
SCOPE = {
    "customer": ("customer",),
    "campaign": ("customer", "campaign"),
    "ad_group": ("customer", "campaign", "ad_group"),
    "ad_group_ad": ("customer", "campaign", "ad_group", "ad_group_ad"),
}
METRIC_COLS = {
    "metrics.impressions": "impressions",
    "metrics.clicks": "clicks",
    "metrics.cost_micros": "spend_micros",
    "metrics.conversions": "conversions",
}
CHANNEL = {"app_installs": "MULTI_CHANNEL", "conversions": "SEARCH", "traffic": "SEARCH", "reach": "DISPLAY"}

_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<res>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?(?:\s+PARAMETERS\s+.+?)?\s*$",
    re.I | re.S,
)
_COND = re.compile(
    r"^(?P<f>[a-z_.]+)\s*(?:(?P<op>=|!=|>=|<=|>|<)\s*(?P<v>'[^']*'|\"[^\"]*\"|[\w.-]+)"
    r"|\s+(?P<neg>NOT\s+)?IN\s*\((?P<list>[^)]*)\)"
    r"|\s+BETWEEN\s+(?P<a>'[^']*'|\"[^\"]*\")\s+AND\s+(?P<b>'[^']*'|\"[^\"]*\")"
    r"|\s+DURING\s+(?P<during>\w+))\s*$",
    re.I | re.S,
)


def is_auth_endpoint(req: Request) -> bool:
    """The OAuth token endpoint takes no injected faults."""
    return req.path == "/token"


def _failure(
    status: int,
    code: int,
    status_name: str,
    message: str,
    error_code: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> Response:
    err: dict[str, Any] = {"errorCode": error_code, "message": message}
    if extra:
        err["details"] = extra
    body = {
        "error": {
            "code": code,
            "message": message if code != 400 else "Request contains an invalid argument.",
            "status": status_name,
            "details": [{"@type": FAILURE_TYPE, "errors": [err], "requestId": request_id()}],
        }
    }
    return Response(status, body)


def _bad_query(message: str, kind: str = "UNEXPECTED_INPUT") -> ApiError:
    return ApiError(_failure(400, 400, "INVALID_ARGUMENT", message, {"queryError": kind}))


def rate_limited(ctx: Context, req: Request) -> Response:
    """429 RESOURCE_EXHAUSTED with the per-developer-token rate and a retryDelay."""
    delay = max(0, math.ceil(ctx.retry_after_seconds))
    return _failure(
        429,
        429,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        {"quotaError": "RESOURCE_EXHAUSTED"},
        {
            "quotaErrorDetails": {
                "rateScope": "DEVELOPER",
                "rateName": "Requests per developer token per minute",
                "retryDelay": f"{delay}s",
            }
        },
    )


def server_error(ctx: Context, req: Request) -> Response:
    """503 UNAVAILABLE, as Google answers a transient backend failure."""
    return Response(
        503,
        {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}},
    )


def handle(ctx: Context, req: Request) -> Response:
    """Route a Google Ads request."""
    if req.path == "/token":
        return _token(ctx, req)
    m = re.fullmatch(rf"/{VERSION}/customers/(\d+)/googleAds:(search|searchStream)", req.path)
    if not m:
        return Response(
            404,
            {
                "error": {
                    "code": 404,
                    "message": f"Requested entity was not found: {req.path}",
                    "status": "NOT_FOUND",
                }
            },
        )
    if req.method != "POST":
        return Response(
            405, {"error": {"code": 405, "message": "Method not allowed", "status": "METHOD_NOT_ALLOWED"}}
        )
    customer, method = m.group(1), m.group(2)
    acc_idx = _authorized_account(ctx, req, customer)
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _failure(
            400,
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload: a 'query' string is required.",
            {"requestError": "INVALID_INPUT"},
        )
    query = body["query"]
    rows, mask = ctx.memo(
        ("google", customer, query, ctx.as_of), lambda: run_query(ctx, acc_idx, customer, query)
    )
    size = ctx.override_page_size("google_ads", PAGE_SIZE)
    if method == "searchStream":
        batches = [
            {"results": rows[i : i + size], "fieldMask": mask, "requestId": request_id()}
            for i in range(0, len(rows), size)
        ] or [{"fieldMask": mask, "requestId": request_id()}]
        return Response(200, batches)
    return _search_page(body, customer, query, rows, mask, size)


def _token(ctx: Context, req: Request) -> Response:
    """The OAuth refresh-token grant: an access token for an hour."""
    creds = ctx.world.credentials
    if req.method != "POST":
        return Response(405, {"error": "method_not_allowed"})
    form = req.form()
    if form.get("grant_type") != "refresh_token":
        return Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
    if (form.get("client_id"), form.get("client_secret")) != (
        creds["SOURCES__GOOGLE_ADS__CLIENT_ID"],
        creds["SOURCES__GOOGLE_ADS__CLIENT_SECRET"],
    ):
        return Response(
            401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        )
    if form.get("refresh_token") != creds["SOURCES__GOOGLE_ADS__REFRESH_TOKEN"]:
        return Response(400, {"error": "invalid_grant", "error_description": "Bad Request"})
    tok = ctx.issue_token("google_ads", 3599)
    return Response(
        200,
        {
            "access_token": tok,
            "expires_in": 3599,
            "scope": "https://www.googleapis.com/auth/adwords",
            "token_type": "Bearer",
        },
    )


def _authorized_account(ctx: Context, req: Request, customer: str) -> int:
    """The account index of ``customer``; ApiError unless the token, developer token and login allow it."""
    creds = ctx.world.credentials
    state = ctx.token_state("google_ads", req.bearer())
    if state != "valid":
        kind = "OAUTH_TOKEN_EXPIRED" if state == "expired" else "OAUTH_TOKEN_INVALID"
        msg = (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
            "or other valid authentication credential."
        )
        raise ApiError(_failure(401, 401, "UNAUTHENTICATED", msg, {"authenticationError": kind}))
    if req.headers.get("developer-token") != creds["SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN"]:
        raise ApiError(
            _failure(
                401,
                401,
                "UNAUTHENTICATED",
                "The developer token is not valid.",
                {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
            )
        )
    login = req.headers.get("login-customer-id")
    acc_idx = ctx.world.account_index("google_ads", customer)
    allowed_login = login is None or login.replace("-", "") == creds["SOURCES__GOOGLE_ADS__LOGIN_CUSTOMER_ID"]
    if not allowed_login or acc_idx is None:
        raise ApiError(
            _failure(
                403,
                403,
                "PERMISSION_DENIED",
                "User doesn't have permission to access customer.",
                {"authorizationError": "USER_PERMISSION_DENIED"},
            )
        )
    return acc_idx


def _search_page(
    body: dict[str, Any], customer: str, query: str, rows: list[dict[str, Any]], mask: str, size: int
) -> Response:
    """One page of a ``search`` answer; the page token names the query it pages through."""
    qhash = hashlib.sha1(f"{customer}|{query}".encode()).hexdigest()[:12]
    offset = 0
    if body.get("pageToken"):
        tok = decode_cursor(str(body["pageToken"]))
        if not tok or tok.get("q") != qhash or not isinstance(tok.get("o"), int):
            return _failure(
                400, 400, "INVALID_ARGUMENT", "Page token is invalid.", {"requestError": "INVALID_PAGE_TOKEN"}
            )
        offset = tok["o"]
    page = rows[offset : offset + size]
    out: dict[str, Any] = {}
    if page:
        out["results"] = page
    if offset + size < len(rows):
        out["nextPageToken"] = encode_cursor({"o": offset + size, "q": qhash})
    if body.get("returnTotalResultsCount"):
        out["totalResultsCount"] = str(len(rows))
    out["fieldMask"] = mask
    out["requestId"] = request_id()
    return Response(200, out)


def _camel(s: str) -> str:
    head, *tail = s.split("_")
    return head + "".join(t.capitalize() for t in tail)


def _unquote(v: str) -> str:
    return v[1:-1] if v[:1] in "'\"" and v[-1:] == v[:1] else v


def _today(ctx: Context, tz: str) -> date:
    return datetime.fromtimestamp(ctx.as_of, ZoneInfo(tz)).date()


def run_query(ctx: Context, acc_idx: int, customer: str, query: str) -> tuple[list[dict[str, Any]], str]:
    """Run a GAQL query for one customer; returns the result rows (wire shape) and the field mask."""
    m = _QUERY.match(query)
    if not m:
        raise _bad_query("Error in query: unexpected input; expected SELECT ... FROM ...")
    resource = m.group("res").lower()
    if resource not in SCOPE:
        raise _bad_query(
            f"Error in FROM clause: invalid resource name '{resource}'.", "INVALID_RESOURCE_NAME"
        )
    fields = _select_fields(m.group("fields"), resource)
    acc = ctx.world.account("google_ads", acc_idx)
    conds = _conditions(m.group("where") or "")
    first: date | None = None
    last: date | None = None
    others = []
    for f, op, val in conds:
        if f not in FIELDS:
            raise _bad_query(f"Error in WHERE clause: unrecognized field '{f}'.", "UNRECOGNIZED_FIELD")
        if f == "segments.date":
            lo, hi = _date_bounds(ctx, acc["time_zone"], op, val)
            first = lo if first is None or (lo and lo > first) else first
            last = hi if last is None or (hi and hi < last) else last
        else:
            others.append((f, op, val))
    is_report = any(FIELDS[f][0] in ("segments", "metrics") for f in fields) or any(
        FIELDS[f][0] in ("segments", "metrics") for f, _, _ in others
    )
    if "segments.date" in fields and (first is None or last is None):
        raise _bad_query(
            "A finite date range filter on segments.date is required when segments.date is selected.",
            "EXPECTED_FILTERS_ON_DEFAULT_DATE_RANGE",
        )
    ents = ctx.world.entities_as_of("google_ads", ctx.as_of)
    if is_report:
        d0 = first or day_date(min(k[1] for k in ctx.world.slices["google_ads"] if k[0] == acc_idx))
        d1 = last or _today(ctx, acc["time_zone"])
        df = _report_frame(ctx, acc_idx, d0, d1, resource, fields, ents)
    else:
        df = _entity_frame(resource, ents, customer)
    df = _base_columns(df, acc, customer)
    for f, op, val in others:
        df = _apply_filter(df, f, op, val)
    if m.group("order"):
        df = _order_by(df, m.group("order"))
    if m.group("limit"):
        df = df.head(int(m.group("limit")))
    mask = ",".join(".".join(_camel(p) for p in f.split(".")) for f in fields)
    return _to_wire(df, fields, resource, customer), mask


def _select_fields(select: str, resource: str) -> list[str]:
    """The SELECT clause's fields, checked against what ``resource`` may select."""
    fields = [f.strip() for f in select.split(",")]
    for f in fields:
        if f not in FIELDS:
            raise _bad_query(f"Error in SELECT clause: unrecognized field '{f}'.", "UNRECOGNIZED_FIELD")
        owner = FIELDS[f][0]
        if owner not in ("segments", "metrics") and owner not in SCOPE[resource]:
            raise _bad_query(
                f"Cannot select '{f}' when FROM resource is '{resource}'.",
                "PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE",
            )
    if len(set(fields)) != len(fields):
        raise _bad_query("Duplicate field in SELECT clause.", "DUPLICATE_FIELD_IN_SELECT_CLAUSE")
    return fields


def _order_by(df: pl.DataFrame, order: str) -> pl.DataFrame:
    """``df`` sorted by an ORDER BY clause (``field [ASC|DESC], ...``), ties kept in order."""
    keys, desc = [], []
    for part in order.split(","):
        name, *dirn = part.split()
        if name not in FIELDS:
            raise _bad_query(f"Error in ORDER BY clause: unrecognized field '{name}'.", "UNRECOGNIZED_FIELD")
        keys.append(name)
        desc.append(bool(dirn) and dirn[0].upper() == "DESC")
    return df.sort(keys, descending=desc, maintain_order=True)


def _conditions(where: str) -> list[tuple[str, str, Any]]:
    if not where.strip():
        return []
    # Split on AND outside BETWEEN ... AND ... and outside quotes.
    tokens = re.split(r"('[^']*'|\"[^\"]*\")", where)
    masked = "".join(t if i % 2 == 0 else "\0" * len(t) for i, t in enumerate(tokens))
    masked = re.sub(
        r"BETWEEN(\s+\0+\s+)AND", lambda mm: "BETWEEN" + mm.group(1) + "\1\1\1", masked, flags=re.I
    )
    parts, start = [], 0
    for mm in re.finditer(r"\s+AND\s+", masked, flags=re.I):
        parts.append(where[start : mm.start()])
        start = mm.end()
    parts.append(where[start:])
    out: list[tuple[str, str, Any]] = []
    for part in parts:
        c = _COND.match(part.strip())
        if not c:
            raise _bad_query(f"Error in WHERE clause: invalid condition '{part.strip()}'.", "BAD_OPERATOR")
        f = c.group("f")
        if c.group("op"):
            out.append((f, c.group("op"), _unquote(c.group("v"))))
        elif c.group("list") is not None:
            vals = [_unquote(v.strip()) for v in c.group("list").split(",") if v.strip()]
            out.append((f, "NOT IN" if c.group("neg") else "IN", vals))
        elif c.group("a"):
            out.append((f, "BETWEEN", (_unquote(c.group("a")), _unquote(c.group("b")))))
        else:
            out.append((f, "DURING", c.group("during").upper()))
    return out


def _parse_date(v: str) -> date:
    try:
        return date.fromisoformat(v)
    except ValueError as exc:
        raise _bad_query(
            f"Invalid date literal '{v}': expected YYYY-MM-DD.", "INVALID_VALUE_WITH_DURING_OPERATOR"
        ) from exc


def _date_bounds(ctx: Context, tz: str, op: str, val: Any) -> tuple[date | None, date | None]:
    today = _today(ctx, tz)
    if op == "BETWEEN":
        return _parse_date(val[0]), _parse_date(val[1])
    if op == "=":
        d = _parse_date(val)
        return d, d
    if op in (">=", ">"):
        d = _parse_date(val)
        return (d if op == ">=" else d + timedelta(days=1)), None
    if op in ("<=", "<"):
        d = _parse_date(val)
        return None, (d if op == "<=" else d - timedelta(days=1))
    if op == "DURING":
        ranges = {
            "TODAY": (0, 0),
            "YESTERDAY": (1, 1),
            "LAST_7_DAYS": (7, 1),
            "LAST_14_DAYS": (14, 1),
            "LAST_30_DAYS": (30, 1),
        }
        if val not in ranges:
            raise _bad_query(f"Invalid DURING value '{val}'.", "INVALID_VALUE_WITH_DURING_OPERATOR")
        a, b = ranges[val]
        return today - timedelta(days=a), today - timedelta(days=b)
    raise _bad_query(f"Operator {op} is not valid for segments.date.", "BAD_OPERATOR")


def _report_frame(
    ctx: Context,
    acc_idx: int,
    d0: date,
    d1: date,
    resource: str,
    fields: list[str],
    ents: dict[str, pl.DataFrame],
) -> pl.DataFrame:
    w = ctx.world
    t = w.entities["google_ads"]
    cells = w.report("google_ads", acc_idx, d0, d1, ctx.as_of)
    keys: list[str] = ["campaign_idx"]
    if resource in ("ad_group", "ad_group_ad"):
        keys.append("ad_group_idx")
    if resource == "ad_group_ad":
        keys.append("unit_idx")
    if "segments.date" in fields:
        keys.append("local_day")
    if "segments.hour" in fields:
        keys.append("local_hour")
    if resource == "customer":
        keys = [k for k in keys if k in ("local_day", "local_hour")]
    agg = (
        cells.group_by(keys).agg(pl.col("impressions", "clicks", "conversions", "spend_micros").sum())
        if keys
        else cells.select(pl.col("impressions", "clicks", "conversions", "spend_micros").sum())
    )
    agg = agg.sort(keys) if keys else agg
    agg = agg.filter(
        pl.any_horizontal([pl.col(c) != 0 for c in ("impressions", "clicks", "conversions", "spend_micros")])
    )
    cols: dict[str, Any] = {}
    if "campaign_idx" in keys:
        cols["campaign.id"] = _ids(t.campaigns["campaign_id"], agg["campaign_idx"])
    if "ad_group_idx" in keys:
        cols["ad_group.id"] = _ids(t.ad_groups["ad_group_id"], agg["ad_group_idx"])
    if "unit_idx" in keys:
        cols["ad_group_ad.ad.id"] = _ids(t.ads["ad_id"], agg["unit_idx"])
    if "local_day" in keys:
        cols["segments.date"] = (agg["local_day"].cast(pl.Int32).cast(pl.Date)).dt.to_string("%Y-%m-%d")
    if "local_hour" in keys:
        cols["segments.hour"] = agg["local_hour"].cast(pl.Int64)
    for f, c in METRIC_COLS.items():
        cols[f] = agg[c].cast(pl.Float64) if f == "metrics.conversions" else agg[c]
    df = pl.DataFrame(cols)
    return _join_attributes(df, ents)


def _ids(ids: pl.Series, idx: pl.Series) -> pl.Series:
    """Entity ids by row index (typed, so empty results keep a string column)."""
    return ids.gather(idx.cast(pl.UInt32)) if idx.len() else pl.Series(ids.name, [], dtype=pl.String)


def _entity_frame(resource: str, ents: dict[str, pl.DataFrame], customer: str) -> pl.DataFrame:
    if resource == "customer":
        return pl.DataFrame({"_one": [1]})
    if resource == "campaign":
        df = (
            ents["campaigns"]
            .filter(pl.col("account_id") == customer)
            .select(pl.col("campaign_id").alias("campaign.id"))
        )
    elif resource == "ad_group":
        df = (
            ents["ad_groups"]
            .filter(pl.col("account_id") == customer)
            .select(pl.col("campaign_id").alias("campaign.id"), pl.col("ad_group_id").alias("ad_group.id"))
        )
    else:
        df = (
            ents["ads"]
            .filter(pl.col("account_id") == customer)
            .select(
                pl.col("campaign_id").alias("campaign.id"),
                pl.col("ad_group_id").alias("ad_group.id"),
                pl.col("ad_id").alias("ad_group_ad.ad.id"),
            )
        )
    return _join_attributes(df, ents)


def _join_attributes(df: pl.DataFrame, ents: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Attribute fields are current values (as of the as-of time), as Google reports them."""
    if "campaign.id" in df.columns:
        c = ents["campaigns"].select(
            pl.col("campaign_id").alias("campaign.id"),
            pl.col("campaign_name").alias("campaign.name"),
            pl.col("status").alias("campaign.status"),
            pl.col("objective")
            .replace_strict(CHANNEL, default="SEARCH")
            .alias("campaign.advertising_channel_type"),
        )
        df = df.join(c, on="campaign.id", how="left", maintain_order="left")
    if "ad_group.id" in df.columns:
        g = ents["ad_groups"].select(
            pl.col("ad_group_id").alias("ad_group.id"),
            pl.col("ad_group_name").alias("ad_group.name"),
            pl.col("status").alias("ad_group.status"),
            pl.col("campaign_id").alias("_cur_campaign"),
        )
        df = df.join(g, on="ad_group.id", how="left", maintain_order="left")
    if "ad_group_ad.ad.id" in df.columns:
        a = ents["ads"].select(
            pl.col("ad_id").alias("ad_group_ad.ad.id"),
            pl.col("ad_name").alias("ad_group_ad.ad.name"),
            pl.col("status").alias("ad_group_ad.status"),
        )
        df = df.join(a, on="ad_group_ad.ad.id", how="left", maintain_order="left")
    return df


def _base_columns(df: pl.DataFrame, acc: dict[str, str], customer: str) -> pl.DataFrame:
    cols = [
        pl.lit(customer).alias("customer.id"),
        pl.lit(f"customers/{customer}").alias("customer.resource_name"),
        pl.lit(f"StreamRide {acc['market']}").alias("customer.descriptive_name"),
        pl.lit(acc["currency"]).alias("customer.currency_code"),
        pl.lit(acc["time_zone"]).alias("customer.time_zone"),
    ]
    if "campaign.id" in df.columns:
        cols.append(
            pl.format("customers/{}/campaigns/{}", pl.lit(customer), "campaign.id").alias(
                "campaign.resource_name"
            )
        )
    if "ad_group.id" in df.columns:
        cols.append(
            pl.format("customers/{}/adGroups/{}", pl.lit(customer), "ad_group.id").alias(
                "ad_group.resource_name"
            )
        )
        cols.append(
            pl.format("customers/{}/campaigns/{}", pl.lit(customer), "_cur_campaign").alias(
                "ad_group.campaign"
            )
        )
    if "ad_group_ad.ad.id" in df.columns:
        cols.append(
            pl.format(
                "customers/{}/adGroupAds/{}~{}", pl.lit(customer), "ad_group.id", "ad_group_ad.ad.id"
            ).alias("ad_group_ad.resource_name")
        )
    return df.with_columns(cols)


def _apply_filter(df: pl.DataFrame, f: str, op: str, val: Any) -> pl.DataFrame:
    if f not in df.columns:
        raise _bad_query(
            f"Cannot filter on '{f}' for this resource.", "PROHIBITED_RESOURCE_TYPE_IN_WHERE_CLAUSE"
        )
    col = pl.col(f)
    numeric = df.schema[f].is_numeric()

    def lit(v: str) -> Any:
        return float(v) if numeric else v

    if op == "IN":
        return df.filter(col.is_in([lit(v) for v in val]))
    if op == "NOT IN":
        return df.filter(~col.is_in([lit(v) for v in val]))
    if op == "BETWEEN":
        return df.filter(col.is_between(lit(val[0]), lit(val[1])))
    ops = {
        "=": col.__eq__,
        "!=": col.__ne__,
        ">": col.__gt__,
        ">=": col.__ge__,
        "<": col.__lt__,
        "<=": col.__le__,
    }
    if op not in ops:
        raise _bad_query(f"Operator {op} is not valid for '{f}'.", "BAD_OPERATOR")
    return df.filter(ops[op](lit(val)))


def _to_wire(df: pl.DataFrame, fields: list[str], resource: str, customer: str) -> list[dict[str, Any]]:
    """Rows in REST JSON: nested camelCase objects, int64 as strings, zero/empty values omitted."""
    if "_one" not in df.columns and not df.height:
        return []
    res_key = {
        "customer": "customer.resource_name",
        "campaign": "campaign.resource_name",
        "ad_group": "ad_group.resource_name",
        "ad_group_ad": "ad_group_ad.resource_name",
    }[resource]
    out_fields = list(dict.fromkeys([res_key, *fields]))
    paths = [[_camel(p) for p in f.split(".")] for f in out_fields]
    kinds = [FIELDS[f][1] for f in out_fields]
    columns = [_wire_values(df[f].to_list(), kind) for f, kind in zip(out_fields, kinds, strict=True)]
    build = _row_builder(paths, tuple(None not in c for c in columns))
    return [build(*values) for values in zip(*columns, strict=True)]


def _wire_values(values: list[Any], kind: str) -> list[Any]:
    """One column in wire form, ``None`` where the row leaves the field out (null, empty or zero)."""
    if kind == "int64":
        return [None if v is None or v == "" or v == 0 else str(int(v)) for v in values]
    if kind == "int32":
        return [None if v is None or v == "" or v == 0 else int(v) for v in values]
    if kind == "double":
        return [None if v is None or v == "" or v == 0 else float(v) for v in values]
    return [None if v is None or v == "" or v == 0 else v for v in values]


_BUILDERS: dict[tuple[Any, ...], Any] = {}


def _row_builder(paths: list[list[str]], always: tuple[bool, ...]) -> Any:
    """A compiled ``(*values) -> row``: the generic nested-insert loop unrolled for these fields.

    The generic loop (for each present value: walk ``setdefault`` down its path, set the leaf)
    was most of a report's cost (~3 s for a 90K-row account-day). Unrolled, a field's objects
    are local variables once they surely exist (an earlier field of theirs is never omitted:
    ``always``), and ``setdefault`` is kept only where existence depends on the row, so keys
    are inserted in exactly the loop's order and the JSON is byte-identical.
    """
    key = (tuple(tuple(p) for p in paths), always)
    build = _BUILDERS.get(key)
    if build is not None:
        return build
    lines = [f"def build({', '.join(f'v{i}' for i in range(len(paths)))}):", "    row = {}"]
    known: dict[tuple[str, ...], str] = {(): "row"}  # object path -> local variable, when it surely exists
    for i, (path, sure) in enumerate(zip(paths, always, strict=True)):
        *parents, leaf = path
        depth = 0
        while depth < len(parents) and tuple(parents[: depth + 1]) in known:
            depth += 1
        expr = known[tuple(parents[:depth])]
        if sure:
            for n in range(depth, len(parents)):
                var = f"o{len(known)}"
                lines.append(f"    {var} = {expr}.setdefault({parents[n]!r}, {{}})")
                known[tuple(parents[: n + 1])] = expr = var
            lines.append(f"    {expr}[{leaf!r}] = v{i}")
        else:
            for n in range(depth, len(parents)):
                expr = f"{expr}.setdefault({parents[n]!r}, {{}})"
            lines.append(f"    if v{i} is not None: {expr}[{leaf!r}] = v{i}")
    lines.append("    return row")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # the source is generated above from field names only
    build = _BUILDERS[key] = namespace["build"]
    return build
