"""Meta wire formats: values inside insight rows, the Graph API's error object, its usage header.

Errors (https://developers.facebook.com/docs/graph-api/guides/error-handling): throttles
(codes 4, 17, 613, 80000-80014) wait ``estimated_time_to_regain_access`` of
``X-Business-Use-Case-Usage`` (minutes), else our backoff (a throttle may carry only
``X-App-Usage``); ``is_transient: false`` is never retried; 2635 is an expired API version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from connector_sdk.budgets import DAILY, LIFETIME, NONE, settled, units
from connector_sdk.responses import ANY_CODE, BodyError, ErrorMapping, ResponseAction, Rule, Signal
from connectors.meta_ads import settings as S


def conversions(actions: list[dict[str, Any]]) -> float:
    """The platform's own conversions: the sum of the counted action types."""
    return sum(float(a.get("value", 0)) for a in actions if a.get("action_type") in S.CONVERSION_ACTION_TYPES)


def minor_units(amount: Any, currency: str | None) -> str | None:
    """A Meta budget (minor units of the account currency, a numeric string) in currency units."""
    return units(amount, 1 if currency in S.OFFSET_ONE_CURRENCIES else 100)


def with_budgets(
    campaigns: Sequence[dict[str, Any]], ad_sets: Sequence[dict[str, Any]], currency: str | None
) -> list[dict[str, Any]]:
    """Campaign rows with their budget columns (connector_sdk.budgets), from the ``daily_budget`` /
    ``lifetime_budget`` of the campaign (campaign budget optimisation) or else of its ad sets.

    A campaign without a budget of its own can spend per day at most what its ad sets' daily
    budgets allow, so its daily budget is their sum, when every one of its ad sets has one; when
    they all have lifetime budgets, it has a lifetime budget (their sum); a mix of the two is no
    single cap, so none.
    """
    by_campaign: dict[Any, list[dict[str, Any]]] = {}
    for s in ad_sets:
        by_campaign.setdefault(s.get("campaign_id"), []).append(s)
    out = []
    for row in campaigns:
        daily, lifetime = row.get("daily_budget_minor"), row.get("lifetime_budget_minor")
        if daily is None and lifetime is None:
            daily, lifetime = _ad_set_sums(by_campaign.get(row.get("campaign_id"), []))
        period = DAILY if daily is not None else LIFETIME if lifetime is not None else NONE
        budget = {
            "budget_period": period,
            "daily_budget": minor_units(daily, currency),
            "lifetime_budget": minor_units(lifetime, currency),
            "budget_currency": currency,
        }
        out.append(settled({**row, **budget}))
    return out


def _ad_set_sums(sets: Sequence[dict[str, Any]]) -> tuple[Decimal | None, Decimal | None]:
    """(sum of daily, sum of lifetime) budgets of a campaign's ad sets, when all have that kind."""
    daily = [s.get("daily_budget_minor") for s in sets]
    lifetime = [s.get("lifetime_budget_minor") for s in sets]
    if sets and all(d not in (None, "", "0") for d in daily):
        return sum((Decimal(str(d)) for d in daily), Decimal(0)), None
    if sets and all(x not in (None, "", "0") for x in lifetime):
        return None, sum((Decimal(str(x)) for x in lifetime), Decimal(0))
    return None, None


def hour_of(hours: str) -> int:
    """The hour of an hourly breakdown value (``"05:00:00 - 05:59:59"`` -> 5)."""
    return int(hours[:2])


def graph_error(body: Any) -> BodyError | None:
    """The Graph API's ``error`` object (code, message, is_transient), when the body has one."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None
    return BodyError(int(err.get("code", 0) or 0), str(err.get("message", "")), bool(err.get("is_transient")))


def said_transient(signal: Signal) -> bool:
    """The error object says ``is_transient`` (whatever its code)."""
    return signal.error is not None and signal.error.transient


def said_not_transient(signal: Signal) -> bool:
    """The error object says ``is_transient: false``: retrying cannot help, whatever its code."""
    body = signal.json
    err = body.get("error") if isinstance(body, dict) else None
    return isinstance(err, dict) and err.get("is_transient") is False


def regain_seconds(signal: Signal) -> float | None:
    """Seconds until access returns, from ``X-Business-Use-Case-Usage`` (minutes per account)."""
    raw = signal.response.headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = max(
            float(entry.get("estimated_time_to_regain_access", 0))
            for entries in usage.values()
            for entry in entries
        )
    except (ValueError, TypeError, AttributeError):
        return None
    return minutes * 60.0


def poll_delay(poll: int, base_delay: float) -> float:
    """Seconds before the next ``async_status`` poll: short at first, then every ``2 * base_delay``.

    Most hourly report runs complete within a second; a fixed 2 s spacing made every run wait
    2 s after its first poll. The spacing follows the retry policy's base delay (tests run it
    at ~0 s); polls count towards the account's call quota, so they never come faster than
    ``base_delay / 4``.
    """
    return float(min(2 * base_delay, base_delay / 4 * 2**poll))


BELOW_500 = range(0, 500)  # Meta states errors in the body of 4xx answers, and of some 200s
ERRORS = ErrorMapping(
    body_error=graph_error,
    rules=(
        Rule(
            ResponseAction.RATE_LIMITED,
            "throttled (code {code})",
            status=BELOW_500,
            codes=S.THROTTLE_CODES,
            wait=regain_seconds,
        ),
        Rule(
            ResponseAction.FAIL,
            "API version expired (code {code}): {detail} Set sources.meta_ads.api_version",
            status=BELOW_500,
            codes=(S.EXPIRED_VERSION_CODE,),
        ),
        Rule(
            ResponseAction.FAIL,
            "request refused, not transient (HTTP {status}, code {code}): {detail}",
            status=BELOW_500,
            when=said_not_transient,
        ),
        Rule(
            ResponseAction.RETRY, "transient error (code {code})", status=BELOW_500, codes=S.TRANSIENT_CODES
        ),
        Rule(ResponseAction.RETRY, "transient error (code {code})", status=BELOW_500, when=said_transient),
        Rule(
            ResponseAction.FAIL,
            "access token refused (code {code}): check SOURCES__META_ADS__ACCESS_TOKEN",
            status=BELOW_500,
            codes=S.INVALID_TOKEN_CODES,
        ),
        Rule(
            ResponseAction.FAIL,
            "request refused (HTTP {status}, code {code}): {detail}",
            status=BELOW_500,
            codes=ANY_CODE,
        ),
        Rule(ResponseAction.FAIL, "request refused (HTTP {status}): {excerpt}", status=range(400, 500)),
        Rule(ResponseAction.SUCCESS, status=range(0, 400)),
    ),
)
