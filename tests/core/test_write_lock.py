"""The warehouse-writer limit: two flows writing at once take turns, neither fails."""

from __future__ import annotations

import threading
import time

from prefect import flow, task

from flows.locks import WRITE_LIMIT, warehouse_write

SPANS: list[tuple[str, float, float]] = []


@task
def _write(name: str) -> None:
    start = time.monotonic()
    time.sleep(0.5)
    SPANS.append((name, start, time.monotonic()))


@flow
def _writer(name: str) -> None:
    with warehouse_write():
        _write(name)
        _write(name)


def test_concurrent_flows_wait_for_the_write_slot(prefect_harness) -> None:
    SPANS.clear()
    threads = [threading.Thread(target=_writer, args=(n,)) for n in ("hourly", "backfill")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(SPANS) == 4, "every write ran: the second flow waited, it did not fail"
    spans = sorted(SPANS, key=lambda s: s[1])
    # each flow's two writes are consecutive: the other flow never wrote in between
    assert spans[0][0] == spans[1][0] and spans[2][0] == spans[3][0], spans
    for (_, _, end), (_, start, _) in zip(spans, spans[1:]):
        assert start >= end - 0.01, f"writes overlapped: {spans}"


def test_the_limit_exists_with_one_slot(prefect_harness) -> None:
    """A limit that does not exist would make concurrency() a no-op: it is created with one slot."""
    from prefect.client.orchestration import get_client

    with warehouse_write():
        pass
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(WRITE_LIMIT)
    assert limit.limit == 1
