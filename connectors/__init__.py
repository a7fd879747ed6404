"""Connectors: one package per source. Importing this package registers every API connector.

``run_connector(name, pipeline, ...)`` runs one by platform name; each package also has a
plain entry point ``load_<platform>(pipeline, ...)``.
"""

from __future__ import annotations

import importlib
import pkgutil

from connector_sdk.registry import connector_names, get_connector, run_connector

# Sources that are not API connectors on the SDK (landing files) are loaded by their own flows.
NOT_SDK_CONNECTORS = frozenset({"product_events"})


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.ispkg and mod.name not in NOT_SDK_CONNECTORS and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


_discover()

__all__ = ["connector_names", "get_connector", "run_connector"]
