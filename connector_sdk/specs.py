"""What a connector declares: its run settings, report, field map and metadata tables.

Everything here is data. A connector module fills these in for its platform; the rest of the
SDK reads them (extraction assembles pages from the field map, landing names the tables from
the report and entity specs, the contract suite checks them for consistency).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from typing import Any, Final, TypeVar

import pyarrow as pa

_T = TypeVar("_T")


class _Marker:
    """A named sentinel, so a field declaration prints readably."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


REQUIRED: Final = _Marker("REQUIRED")
"""``Field.default``: the wire value must be present (a missing key is an error)."""

PAGE: Final = _Marker("PAGE")
"""``Field.default``: when the wire value is empty, the page's value of the column (by default the account's)."""

META_COLUMNS: tuple[str, ...] = ("_row_key", "_load_id", "_extracted_at")
"""Columns the SDK adds to every report row (a connector must not declare them)."""

TOMBSTONE = "_tombstone"
"""dlt's ``hard_delete`` column of the current report table (one tombstone row per pulled slice)."""

EXTRACTED_AT_TYPE = pa.timestamp("us", tz="UTC")
TEXT = pa.string()


@dataclass(frozen=True)
class ConnectorSettings:
    """The limits of a connector's runs, declared once in its ``settings.py``.

    A run may override ``lookback_days``, ``page_size``, ``requests_per_second``,
    ``max_concurrency`` and ``api_version`` (constructor arguments; the version also from dlt
    config ``sources.<platform>.api_version``); the connector instance then holds the
    effective values in ``self.settings`` under the same names.

    ``max_wait_seconds``: the longest wait the platform may ask for (a ``Retry-After``, a quota
    delay) that a run sleeps through; a longer one defers the platform's pull
    (:class:`~connector_sdk.exceptions.PullDeferred`). ``api_version``: the platform API
    version the connector calls (its ``settings.py`` declares ``API_VERSION``);
    ``sunsets``: known switch-off dates by version (``SUNSETS``), judged at the run's logical
    time: a warning 60 days before, a refusal from that date.
    """

    lookback_days: int = 7
    max_span_days: int = 30
    page_size: int = 1000
    requests_per_second: float = 20.0
    burst: int = 10
    max_concurrency: int = 4
    max_wait_seconds: float = 300.0
    api_version: str | None = None
    sunsets: Mapping[str, date] = field(default_factory=dict, hash=False)

    def overridden(
        self,
        *,
        lookback_days: int | None = None,
        page_size: int | None = None,
        requests_per_second: float | None = None,
        max_concurrency: int | None = None,
        api_version: str | None = None,
    ) -> ConnectorSettings:
        """These settings with a run's overrides (None keeps the declared value)."""
        return replace(
            self,
            lookback_days=_given(lookback_days, self.lookback_days),
            page_size=_given(page_size, self.page_size),
            requests_per_second=_given(requests_per_second, self.requests_per_second),
            max_concurrency=_given(max_concurrency, self.max_concurrency),
            api_version=_given(api_version, self.api_version),
        )


def _given(value: _T | None, declared: _T) -> _T:
    return declared if value is None else value


@dataclass(frozen=True)
class Account:
    """One ad account as the platform describes it (ids without prefixes)."""

    account_id: str
    time_zone: str = "UTC"
    currency: str | None = None


@dataclass(frozen=True)
class Field:
    """One column of a report page or metadata row, and where it comes from on the wire.

    ``path`` is a dotted key path into one wire row (``"metrics.spend"``); a tuple of paths
    takes the first that holds a value (``("effective_status", "status")``). Without a path the
    value is the page's (``account_id``, ``currency`` and ``time_zone`` come from the account;
    a connector passes others), else ``default``.

    ``default`` stands in for a missing, null or empty wire value (platforms leave zeros out of
    rows); it is converted like a wire value. :data:`REQUIRED` makes a missing key an error,
    :data:`PAGE` falls back to the page's value. ``convert`` turns a present wire value into the
    column's Python value; ``type`` is the column's Arrow type (text by default).
    """

    column: str
    path: str | tuple[str, ...] | None = None
    convert: Callable[[Any], Any] | None = None
    default: Any = REQUIRED
    type: pa.DataType = TEXT


@dataclass(frozen=True)
class ReportSpec:
    """The performance report of a platform: raw table, field map, natural grain, spend column.

    ``fields`` list the platform columns in order (the SDK appends ``_row_key``, ``_load_id``,
    ``_extracted_at``). ``slice_columns`` name the (account, date) slice a pull replaces.
    ``spend_column`` / ``spend_divisor`` turn the raw money column into account currency
    (Google reports micros).
    """

    table: str
    fields: tuple[Field, ...]
    grain: tuple[str, ...]
    slice_columns: tuple[str, str] = ("account_id", "report_date")
    spend_column: str = "spend"
    spend_divisor: float = 1.0
    full_name: str | None = None  # a table named other than <platform>__<table> (fx_rates)

    @cached_property
    def schema(self) -> pa.Schema:
        """The Arrow schema of a report page (the fields' columns and types, in order)."""
        return pa.schema([(f.column, f.type) for f in self.fields])


@dataclass(frozen=True)
class EntitySpec:
    """A metadata table (campaigns, ad groups, ads) kept with history (scd2)."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]


# The metadata tables every ad platform maps onto, in one shape (dim_campaign reads these
# columns): a connector lists the ones its platform has.
CAMPAIGNS = EntitySpec(
    "campaigns",
    ("account_id", "campaign_id"),
    ("account_id", "campaign_id", "name", "status", "objective", "currency", "time_zone"),
)
AD_GROUPS = EntitySpec(
    "ad_groups",
    ("account_id", "ad_group_id"),
    ("account_id", "campaign_id", "ad_group_id", "name", "status", "currency", "time_zone"),
)
ADS = EntitySpec(
    "ads",
    ("account_id", "ad_id"),
    ("account_id", "campaign_id", "ad_group_id", "ad_id", "name", "status", "currency", "time_zone"),
)

# The budget columns of a platform whose campaigns carry budgets (Google, Meta, TikTok, Apple):
# see connector_sdk/budgets.py. A separate spec, so a platform without budgets (Impact) keeps
# its campaign rows (and their version hashes) as they were.
BUDGET_COLUMNS: tuple[str, ...] = ("budget_period", "daily_budget", "lifetime_budget", "budget_currency")
BUDGETED_CAMPAIGNS = EntitySpec("campaigns", CAMPAIGNS.key, CAMPAIGNS.columns + BUDGET_COLUMNS)
