"""Errors of the attribution engine.

A bad configuration raises the core's :class:`~roi.core.errors.ConfigError`; the CLI reports
both as a one-line user error.
"""

from __future__ import annotations


class AttributionInputError(ValueError):
    """The run cannot read or use its inputs (missing tables, inverted date range): one-line message."""
