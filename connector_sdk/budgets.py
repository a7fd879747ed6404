"""Campaign budgets in the one shape every ad platform's campaigns land in.

A connector whose platform has budgets lists :data:`~connector_sdk.specs.BUDGETED_CAMPAIGNS`
(the campaign columns plus :data:`~connector_sdk.specs.BUDGET_COLUMNS`) and fills, per campaign:

- ``budget_period``: ``daily`` | ``lifetime`` | ``none`` (no limit, or none known);
- ``daily_budget`` / ``lifetime_budget``: decimal text in the account currency's units, only the
  one matching the period (the platforms' micros and minor units are converted by the connector);
- ``budget_currency``: the currency of the amount (the account's, unless the wire names one).

All entity columns land as text (dlt scd2), so a budget change opens a new campaign version.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

DAILY, LIFETIME, NONE = "daily", "lifetime", "none"
PERIODS = (DAILY, LIFETIME, NONE)


def units(amount: Any, per_unit: int = 1) -> str | None:
    """``amount`` (a number or numeric string) divided by ``per_unit`` as plain decimal text
    (``"123450000"``, 1_000_000 -> ``"123.45"``); None when empty or not a number."""
    if amount is None or amount == "":
        return None
    try:
        value = Decimal(str(amount)) / Decimal(per_unit)
    except InvalidOperation:
        return None
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def settled(row: Mapping[str, Any]) -> dict[str, Any]:
    """A campaign row whose budget columns agree: the amount of the other period dropped, a
    period without an amount (or a zero one) is ``none``, no currency without an amount. A row
    without a period takes the period of the amount it has (daily first)."""
    out = dict(row)
    daily, lifetime = out.get("daily_budget"), out.get("lifetime_budget")
    period = out.get("budget_period")
    if period is None:
        period = DAILY if _positive(daily) else LIFETIME if _positive(lifetime) else NONE
        out["budget_period"] = period
    if period == DAILY and _positive(daily):
        out["lifetime_budget"] = None
    elif period == LIFETIME and _positive(lifetime):
        out["daily_budget"] = None
    else:
        out.update(budget_period=NONE, daily_budget=None, lifetime_budget=None, budget_currency=None)
    return out


def _positive(amount: Any) -> bool:
    try:
        return amount is not None and Decimal(str(amount)) > 0
    except InvalidOperation:
        return False
