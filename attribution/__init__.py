"""Attribution engine: versioned multi-touch attribution of sign-ups to ad touches (Polars).

Imports nothing else of ours: it takes Polars frames, and for persistence a DB-API/DuckDB
connection passed in by the caller.
"""

from attribution.config import AttributionConfig, load_config
from attribution.engine import (
    allocate_skan,
    attribute,
    attribute_batches,
    deterministic_credit,
    eligible_touches,
    skan_allocation,
)
from attribution.errors import ConfigError

__all__ = [
    "AttributionConfig",
    "ConfigError",
    "allocate_skan",
    "attribute",
    "attribute_batches",
    "deterministic_credit",
    "eligible_touches",
    "load_config",
    "skan_allocation",
]
