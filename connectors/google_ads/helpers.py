"""Google Ads wire formats: search pages decoded into Arrow, and the signals inside error bodies."""

from __future__ import annotations

import io
import re
from typing import Any

import pyarrow as pa
import pyarrow.json as pj
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from requests import Response

from connector_sdk.budgets import units
from connector_sdk.responses import (
    BodyError,
    ErrorMapping,
    ResponseAction,
    Rule,
    Signal,
    fast_loads,
    retry_after_seconds,
    unparseable_body,
)

# One search result row as the REST API sends it (fields we read; others are ignored).
RESULT = pa.struct(
    [
        ("campaign", pa.struct([("id", pa.string())])),
        ("adGroup", pa.struct([("id", pa.string())])),
        ("adGroupAd", pa.struct([("ad", pa.struct([("id", pa.string())]))])),
        ("segments", pa.struct([("date", pa.string()), ("hour", pa.int64())])),
        (
            "metrics",
            pa.struct(
                [
                    ("impressions", pa.string()),
                    ("clicks", pa.string()),
                    ("costMicros", pa.string()),
                    ("conversions", pa.float64()),
                ]
            ),
        ),
    ]
)
_PAGE = pa.schema(
    [("results", pa.list_(RESULT)), ("nextPageToken", pa.string()), ("totalResultsCount", pa.string())]
)


def decode_search_page(body: bytes) -> dict[str, Any]:
    """A ``googleAds:search`` page as ``{"results": <Arrow StructArray>, "nextPageToken", "totalResultsCount"}``.

    ``pyarrow.json`` parses the bytes in C++ (one JSON object, pretty-printed or not), no Python
    object per row; when a field has an unexpected JSON type (a number where Google documents a
    string), the page is parsed with orjson and Arrow infers the types instead (the SDK's
    column-wise field map casts them).
    """
    if not body:
        return {"results": pa.array([], RESULT), "nextPageToken": None, "totalResultsCount": None}
    try:
        table = pj.read_json(
            io.BytesIO(body),
            read_options=pj.ReadOptions(block_size=len(body) + 64, use_threads=False),
            parse_options=pj.ParseOptions(
                explicit_schema=_PAGE, unexpected_field_behavior="ignore", newlines_in_values=True
            ),
        )
    except pa.ArrowInvalid:
        doc = fast_loads(body)
        rows = doc.get("results") or []
        results = pa.array(rows) if rows else pa.array([], RESULT)
        return {
            "results": results,
            "nextPageToken": doc.get("nextPageToken"),
            "totalResultsCount": doc.get("totalResultsCount"),
        }
    lists = table.column("results").combine_chunks()
    results = lists.flatten() if len(lists) else pa.array([], RESULT)
    token = table.column("nextPageToken")[0].as_py() if table.num_rows else None
    total = table.column("totalResultsCount")[0].as_py() if table.num_rows else None
    return {"results": results, "nextPageToken": token, "totalResultsCount": total}


_DURATION = re.compile(r"^\s*([0-9.]+)s\s*$")


def _failures(body: Any) -> list[dict[str, Any]]:
    """The ``errors`` of the GoogleAdsFailure details of an error body ([] when there are none)."""
    try:
        details = body["error"].get("details") or []
        return [
            e for d in details if isinstance(d, dict) for e in d.get("errors") or [] if isinstance(e, dict)
        ]
    except (AttributeError, KeyError, TypeError):
        return []


def _quota_of(err: dict[str, Any]) -> dict[str, Any]:
    """The ``quotaErrorDetails`` of one failure error ({} when it has none)."""
    details = err.get("details")
    quota = details.get("quotaErrorDetails") if isinstance(details, dict) else None
    return quota if isinstance(quota, dict) else {}


def retry_delay(signal: Signal) -> float | None:
    """Google's ``retryDelay`` in seconds ("17941s" for the daily quota, "30s" for a rate), else None.

    A delay longer than the run can wait is the SDK's to defer; the rule only reports it.
    """
    delays = [d for err in _failures(signal.json) if (d := _quota_of(err).get("retryDelay")) is not None]
    delay = delays[0] if delays else None
    try:
        if isinstance(delay, str) and (m := _DURATION.match(delay)):
            return float(m.group(1))
        if isinstance(delay, dict):  # a protobuf Duration as a JSON object
            return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
    except (TypeError, ValueError):
        return None
    return None


def _error_codes(body: Any) -> dict[str, str]:
    """The GoogleAdsFailure error codes of a body, by kind (``{"quotaError": "RESOURCE_EXHAUSTED"}``)."""
    codes: dict[str, str] = {}
    for err in _failures(body):
        code = err.get("errorCode")
        if isinstance(code, dict):
            codes.update({k: str(v) for k, v in code.items()})
    return codes


def body_error(body: Any) -> BodyError | None:
    """Google's error in one line: the failure codes (else the status), the quota's rate name, the message."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    err = body["error"]
    failures = _failures(body)
    codes = ", ".join(_error_codes(body).values()) or str(err.get("status") or "")
    rates = [f"rate {r!r}" for e in failures if (r := _quota_of(e).get("rateName"))]
    message = next((str(e["message"]) for e in failures if e.get("message")), str(err.get("message") or ""))
    code = err.get("code")
    return BodyError(
        code if isinstance(code, int) else 0, "; ".join(p for p in (codes, *rates[:1], message) if p)
    )


def quota_wait(signal: Signal) -> float | None:
    """The wait a 429 asks for: Google's ``retryDelay``, else a ``Retry-After`` header, else None (backoff)."""
    delay = retry_delay(signal)
    return delay if delay is not None else retry_after_seconds(signal.response)


def unsupported_version(signal: Signal) -> bool:
    """400 ``requestError: UNSUPPORTED_VERSION``: the version in the path is at (or past) its sunset."""
    return _error_codes(signal.json).get("requestError") == "UNSUPPORTED_VERSION"


# campaign_budget.period (BudgetPeriodEnum) -> the landed budget_period; FIXED_DAILY is an older
# daily kind some budgets still report.
BUDGET_PERIODS = {"DAILY": "daily", "FIXED_DAILY": "daily", "CUSTOM_PERIOD": "lifetime"}
MICROS = 1_000_000


def budget_period(period: str) -> str:
    """The landed budget period of a campaign budget's ``period``."""
    return BUDGET_PERIODS.get(str(period), "none")


def micros_units(micros: str | None) -> str | None:
    """An int64 micros amount (a string in REST JSON) as decimal text in currency units."""
    return units(micros, MICROS)


def resource_id(name: str) -> str | None:
    """The id at the end of a resource name (``customers/1/campaigns/55`` -> ``55``)."""
    return str(name).rsplit("/", 1)[-1] or None


class SearchPaginator(JSONResponseCursorPaginator):
    """``nextPageToken`` paging of ``googleAds:search``; ``expected_total`` is Google's own row count.

    Google sends ``totalResultsCount`` (int64, a string) only when the request asks for it
    (``searchSettings.returnTotalResultsCount``); it is read from the first page that has it.
    """

    def __init__(self) -> None:
        super().__init__(cursor_path="nextPageToken", cursor_body_path="pageToken")
        self.expected_total: int | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Take the total from the page (once), then the cursor."""
        if self.expected_total is None:
            page = response.json()
            total = page.get("totalResultsCount") if isinstance(page, dict) else None
            if total is not None:
                self.expected_total = int(total)
        super().update_state(response, data)


def search_paginator() -> SearchPaginator:
    """A fresh paginator for one search (one slice, or one metadata query)."""
    return SearchPaginator()


SUNSET_HELP = (
    "set sources.google_ads.api_version to a current version "
    "(https://developers.google.com/google-ads/api/docs/sunset-dates)"
)

# Google's error signals, before the shared HTTP rules (a 401 refreshes the token once, other
# 429s back off). Quota errors (429 RESOURCE_EXHAUSTED) carry ``retryDelay``: seconds for a rate,
# hours for the daily operations quota of Basic access ("17941s"); without it (e.g.
# RESOURCE_TEMPORARILY_EXHAUSTED, a token-bucket limit) they are transient and backed off.
# https://developers.google.com/google-ads/api/docs/best-practices/quotas ,
# https://developers.google.com/google-ads/api/docs/productionize/rate-limits
ERRORS = ErrorMapping(
    rules=(
        Rule(
            ResponseAction.RATE_LIMITED,
            "quota exhausted (HTTP 429: {detail})",
            status=(429,),
            wait=quota_wait,
        ),
        Rule(
            ResponseAction.FAIL,
            "API version refused as sunset (HTTP 400: {detail}); " + SUNSET_HELP,
            status=(400,),
            when=unsupported_version,
        ),
        Rule(
            ResponseAction.FAIL,
            "HTTP 404 with a page that is not JSON: Google no longer serves the API version in the path "
            "(sunset); " + SUNSET_HELP,
            status=(404,),
            when=unparseable_body,
        ),
        Rule(ResponseAction.FAIL, "request refused (HTTP 400: {detail})", status=(400,)),
        Rule(
            ResponseAction.FAIL,
            "permission denied (HTTP 403): check SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN and customer ids: {excerpt}",
            status=(403,),
        ),
    ),
    body_error=body_error,
)
