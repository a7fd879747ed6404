"""Connector SDK: a base class that owns HTTP, retries, rate limits, windows, keys and landing.

A platform connector subclasses :class:`Connector` and declares its particulars; see
``docs/connectors.md``. This package imports nothing of the project's own.
"""

from connector_sdk.base import (
    AD_GROUPS,
    ADS,
    CAMPAIGNS,
    Account,
    Connector,
    EntitySpec,
    LoadSummary,
    ReportSpec,
)
from connector_sdk.exceptions import ConnectorError
from connector_sdk.http import RetryPolicy, Verdict
from connector_sdk.registry import connector_names, get_connector, register, run_connector
from connector_sdk.windows import DateWindow

__all__ = [
    "ADS",
    "AD_GROUPS",
    "CAMPAIGNS",
    "Account",
    "Connector",
    "ConnectorError",
    "DateWindow",
    "EntitySpec",
    "LoadSummary",
    "ReportSpec",
    "RetryPolicy",
    "Verdict",
    "connector_names",
    "get_connector",
    "register",
    "run_connector",
]
