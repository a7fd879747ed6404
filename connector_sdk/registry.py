"""Connectors by platform name, and the one generic entry point the flows call.

Connector modules register their class with :func:`register` (a decorator); the
``connectors`` package imports them all, so importing it fills the registry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from connector_sdk.base import Connector, DestinationAccess, LoadSummary, PipelineOrFactory
from connector_sdk.exceptions import UnknownConnectorError

_REGISTRY: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(
            f"two connectors claim the name {cls.name!r}: {existing.__qualname__}, {cls.__qualname__}"
        )
    _REGISTRY[cls.name] = cls
    return cls


def connector_names() -> list[str]:
    """Registered platform names, sorted."""
    return sorted(_REGISTRY)


def get_connector(name: str) -> type[Connector]:
    """The connector class of ``name``, or a one-line error listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(connector_names()) or "none registered"
        raise UnknownConnectorError(f"unknown platform {name!r}: use one of {known}") from None


def run_connector(
    name: str,
    pipeline: PipelineOrFactory,
    *,
    mode: str,
    logical_time: datetime,
    start: date | None = None,
    end: date | None = None,
    base_url: str | None = None,
    lookback_days: int | None = None,
    reopen: Sequence[tuple[str, date]] = (),
    access: DestinationAccess = contextlib.nullcontext,
    **options: Any,
) -> LoadSummary:
    """Run the connector registered as ``name`` into ``pipeline``; see :meth:`Connector.load`.

    ``reopen``: (account_id, report_date) slices an earlier run left partial or deferred.
    ``access``: held around each use of the destination, released while the API is pulled.
    ``options`` go to the connector's constructor (``credentials``, ``retry``, ``page_size``,
    ``max_concurrency``, ``requests_per_second``, ``api_version``).
    """
    cls = get_connector(name)
    connector = cls(base_url=base_url, lookback_days=lookback_days, **options)
    return connector.load(
        pipeline, mode=mode, logical_time=logical_time, start=start, end=end, reopen=reopen, access=access
    )
