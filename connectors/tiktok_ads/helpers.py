"""TikTok wire formats: values inside report rows, and the error inside an HTTP 200 answer."""

from __future__ import annotations

from datetime import date
from typing import Any

from connector_sdk.responses import ANY_CODE, BodyError, ErrorMapping, ResponseAction, Rule, unparseable_body
from connectors.tiktok_ads import settings as S


def count(value: Any) -> int:
    """A count sent as a string (``"12"``, sometimes ``"12.0"``)."""
    return int(float(value))


def day_of(stat_time: str) -> date:
    """The date of a ``stat_time_hour`` (``"2026-10-20 05:00:00"``, advertiser time zone)."""
    return date.fromisoformat(stat_time[:10])


def hour_of(stat_time: str) -> int:
    """The hour of a ``stat_time_hour``."""
    return int(stat_time[11:13])


def api_error(body: Any) -> BodyError | None:
    """The ``code`` / ``message`` of an answer (code 0 is success)."""
    code = int(body.get("code", 0)) if isinstance(body, dict) else 0
    return BodyError(code, str(body.get("message", ""))) if code else None


ERRORS = ErrorMapping(
    body_error=api_error,
    rules=(  # TikTok answers HTTP 200 with the error inside; other statuses follow the HTTP rules
        Rule(ResponseAction.RETRY, "unparseable body", status=(200,), when=unparseable_body),
        Rule(ResponseAction.RATE_LIMITED, "throttled (code {code})", status=(200,), codes=S.RATE_LIMIT_CODES),
        Rule(ResponseAction.RETRY, "transient error (code {code})", status=(200,), codes=S.TRANSIENT_CODES),
        Rule(
            ResponseAction.FAIL,
            "access token refused (code {code}): check SOURCES__TIKTOK_ADS__ACCESS_TOKEN",
            status=(200,),
            codes=S.TOKEN_CODES,
        ),
        Rule(ResponseAction.FAIL, "request refused (code {code}): {detail}", status=(200,), codes=ANY_CODE),
    ),
)
