"""Product events from the S3/Kafka landing into ``raw_events`` (see docs/events.md).

Entry point: :func:`load_events`. File discovery (listing, manifest of files seen, bounded
batches, reading) lives in :mod:`connectors.product_events.discovery` for reuse by the
5-minute ops refresh.
"""

from connectors.product_events.discovery import batches, list_landing_files, new_files, read_batch
from connectors.product_events.pipeline import IngestSummary, load_events, seen_file_keys

__all__ = [
    "IngestSummary",
    "batches",
    "list_landing_files",
    "load_events",
    "new_files",
    "read_batch",
    "seen_file_keys",
]
