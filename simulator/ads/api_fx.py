"""A Frankfurter-style reference-rate API (``/v1/{date}``, ``/v1/latest``, ``/v1/{start}..{end}``).

Rates are published on business days at 16:00 Frankfurt time. A weekend or holiday answers
with the last business day before it (and that day's ``date``); a day not yet published
answers with the latest published day. Public API: no credentials.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import polars as pl

from simulator.ads.fx import FX_CURRENCIES
from simulator.ads.http import ApiError, Context, Request, Response

CURRENCIES = ("USD", *FX_CURRENCIES)


def is_auth_endpoint(req: Request) -> bool:
    """No auth endpoint."""
    return False


def rate_limited(ctx: Context, req: Request) -> Response:
    """429 with Retry-After."""
    return Response(429, {"message": "Too Many Requests"}, {"Retry-After": str(int(ctx.retry_after_seconds))})


def server_error(ctx: Context, req: Request) -> Response:
    """502 from the upstream proxy."""
    return Response(502, {"message": "Bad Gateway"})


def _not_found() -> ApiError:
    return ApiError(Response(404, {"message": "not found"}))


def _rates(row: dict[str, Any], base: str, symbols: list[str]) -> dict[str, float]:
    usd = {"USD": 1.0, **{c: row[c] for c in FX_CURRENCIES}}
    if base == "USD":
        return {s: usd[s] for s in symbols if s != base}
    return {s: round(usd[s] / usd[base], 5) for s in symbols if s != base}


def handle(ctx: Context, req: Request) -> Response:
    """Answer a rate request as of the server's as-of time."""
    base = req.query.get("base", req.query.get("from", "EUR")).upper()
    syms = req.query.get("symbols", req.query.get("to", ""))
    symbols = [s.strip().upper() for s in syms.split(",") if s.strip()] or [
        c for c in CURRENCIES if c != base
    ]
    if base not in CURRENCIES or any(s not in CURRENCIES for s in symbols):
        raise _not_found()
    pub = ctx.world.fx_published(ctx.as_of)
    if not pub.height:
        raise _not_found()
    m = re.fullmatch(r"/v1/(latest|\d{4}-\d{2}-\d{2})", req.path)
    if m:
        day = pub["rate_date"][-1] if m.group(1) == "latest" else _date(m.group(1))
        rows = pub.filter(pl.col("rate_date") <= day)
        if not rows.height:
            raise _not_found()
        row = rows.row(-1, named=True)
        return Response(
            200,
            {
                "amount": 1.0,
                "base": base,
                "date": row["rate_date"].isoformat(),
                "rates": _rates(row, base, symbols),
            },
        )
    m = re.fullmatch(r"/v1/(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})?", req.path)
    if not m:
        raise _not_found()
    start = _date(m.group(1))
    end = _date(m.group(2)) if m.group(2) else pub["rate_date"][-1]
    before = pub.filter(pl.col("rate_date") <= start)
    # a weekend start includes the business day before
    first = before["rate_date"][-1] if before.height else start
    rows = pub.filter((pl.col("rate_date") >= first) & (pl.col("rate_date") <= end))
    if not rows.height:
        raise _not_found()
    rates = {r["rate_date"].isoformat(): _rates(r, base, symbols) for r in rows.iter_rows(named=True)}
    return Response(
        200,
        {
            "amount": 1.0,
            "base": base,
            "start_date": rows["rate_date"][0].isoformat(),
            "end_date": rows["rate_date"][-1].isoformat(),
            "rates": rates,
        },
    )


def _date(v: str) -> date:
    try:
        return date.fromisoformat(v)
    except ValueError as exc:
        raise _not_found() from exc
