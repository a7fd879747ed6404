"""Errors of the attribution engine.

``attribution`` imports nothing of ours, so it has its own error type; the CLI treats any
``ValueError`` subclass raised here as a user error with a one-line message.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """An attribution configuration is missing, unreadable or invalid (one-line message)."""


class AttributionInputError(ValueError):
    """The run cannot read or use its inputs (missing tables, inverted date range): one-line message."""
