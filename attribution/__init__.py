"""Attribution engine: versioned multi-touch attribution of sign-ups to ad touches (Polars).

Of ours it imports only the core's error types: it takes Polars frames, and for persistence a
DB-API/DuckDB connection passed in by the caller (it reads no settings).
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

__all__ = [
    "AttributionConfig",
    "allocate_skan",
    "attribute",
    "attribute_batches",
    "deterministic_credit",
    "eligible_touches",
    "load_config",
    "skan_allocation",
]
