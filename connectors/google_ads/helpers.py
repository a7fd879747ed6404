"""Google Ads wire formats: search pages decoded into Arrow, and the signals inside error bodies."""

from __future__ import annotations

import io
import re
from typing import Any

import pyarrow as pa
import pyarrow.json as pj

from connector_sdk.responses import ErrorMapping, ResponseAction, Rule, Signal, fast_loads

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
_PAGE = pa.schema([("results", pa.list_(RESULT)), ("nextPageToken", pa.string())])


def decode_search_page(body: bytes) -> dict[str, Any]:
    """A ``googleAds:search`` page as ``{"results": <Arrow StructArray>, "nextPageToken": str|None}``.

    ``pyarrow.json`` parses the bytes in C++ (one JSON object, pretty-printed or not), no Python
    object per row; when a field has an unexpected JSON type (a number where Google documents a
    string), the page is parsed with orjson and Arrow infers the types instead (the SDK's
    column-wise field map casts them).
    """
    if not body:
        return {"results": pa.array([], RESULT), "nextPageToken": None}
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
        return {"results": results, "nextPageToken": doc.get("nextPageToken")}
    lists = table.column("results").combine_chunks()
    results = lists.flatten() if len(lists) else pa.array([], RESULT)
    token = table.column("nextPageToken")[0].as_py() if table.num_rows else None
    return {"results": results, "nextPageToken": token}


_DURATION = re.compile(r"^\s*([0-9.]+)s\s*$")


def retry_delay(signal: Signal) -> float | None:
    """Google's ``retryDelay`` ("40s") from a RESOURCE_EXHAUSTED error body, in seconds."""
    try:
        for detail in signal.json["error"].get("details", []):
            for err in detail.get("errors", []):
                delay = err.get("details", {}).get("quotaErrorDetails", {}).get("retryDelay")
                if isinstance(delay, str) and (m := _DURATION.match(delay)):
                    return float(m.group(1))
                if isinstance(delay, dict):  # protobuf Duration as JSON object
                    return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return None


def _resource_exhausted(body: Any) -> bool:
    """True for a Google error body that says RESOURCE_EXHAUSTED (status or quotaError code)."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return False
    err = body["error"]
    if err.get("status") == "RESOURCE_EXHAUSTED":
        return True
    try:
        return any(
            "quotaError" in (e.get("errorCode") or {})
            for d in err.get("details", [])
            for e in d.get("errors", [])
        )
    except (AttributeError, TypeError):
        return False


def daily_quota_spent(signal: Signal) -> bool:
    """A 429 RESOURCE_EXHAUSTED without ``retryDelay``: the daily operations quota, not a rate limit."""
    return retry_delay(signal) is None and _resource_exhausted(signal.json)


def resource_id(name: str) -> str | None:
    """The id at the end of a resource name (``customers/1/campaigns/55`` -> ``55``)."""
    return str(name).rsplit("/", 1)[-1] or None


# Google's error signals, before the shared HTTP rules (a 401 refreshes the token once).
ERRORS = ErrorMapping(
    rules=(
        Rule(
            ResponseAction.FAIL,
            "daily API quota exhausted (HTTP 429 RESOURCE_EXHAUSTED without retryDelay); "
            "retry tomorrow after the quota resets (midnight Pacific)",
            status=(429,),
            when=daily_quota_spent,
        ),
        Rule(ResponseAction.RATE_LIMITED, "HTTP 429 RESOURCE_EXHAUSTED", status=(429,), wait=retry_delay),
        Rule(ResponseAction.FAIL, "request refused (HTTP 400): {excerpt}", status=(400,)),
        Rule(
            ResponseAction.FAIL,
            "permission denied (HTTP 403): check SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN and customer ids: {excerpt}",
            status=(403,),
        ),
    )
)
