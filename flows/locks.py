"""The one write lock: a Prefect global concurrency limit, ``warehouse-writer`` (limit 1).

DuckDB allows one writing process and dbt runs one invocation at a time, so the writing
tasks of a flow run hold one slot of ``warehouse-writer``. A second flow (a backfill beside
the hourly run) waits for the slot instead of failing or double writing.

Granularity: a flow takes the slot around its group of writing tasks (the hourly run's
load-transform sequence, one day of a backfill), not around each task. In Prefect 3.9 every
acquisition starts a lease-renewal thread with its own API client, measured here at ~1.6 s
per acquisition (a tagged task with a tag limit costs ~1 s, the same lease underneath),
and an hourly run has a dozen writing tasks. One slot per group gives the same guarantee:
no two flows write at once, and a group never interleaves with another flow's writes.

Prefect's ``concurrency()`` silently does nothing for a limit that does not exist, so the
limit is created up front and taken with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

WRITE_LIMIT = "warehouse-writer"
# Prefect renews a held lease in the background; a killed process stops renewing, and its
# slot frees itself when the lease lapses, so keep it short.
LEASE_SECONDS = 120
_ensured: set[str] = set()


def ensure_write_limit(name: str = WRITE_LIMIT, limit: int = 1) -> None:
    """Create the global concurrency limit if the Prefect API does not have it yet."""
    if name in _ensured:
        return
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
    _ensured.add(name)


@contextmanager
def warehouse_write(name: str = WRITE_LIMIT) -> Iterator[None]:
    """Hold the warehouse write slot for the block (waits for it while another flow holds it)."""
    ensure_write_limit(name)
    with concurrency(name, occupy=1, strict=True, lease_duration=LEASE_SECONDS):
        yield
