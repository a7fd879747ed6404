"""The write slot of the flows: two flows writing at once take turns step by step, neither fails."""

from __future__ import annotations

import threading
import time

from prefect import flow, task

from flows.locks import holds_warehouse, warehouse_step
from roi.core.warehouse import get_warehouse

SPANS: list[tuple[str, float, float]] = []


@task
@holds_warehouse
def _write(name: str) -> None:
    start = time.monotonic()
    get_warehouse().connection().execute("select 1").fetchone()
    time.sleep(0.5)
    SPANS.append((name, start, time.monotonic()))


@flow
def _writer(name: str) -> None:
    # two steps that hand off through the warehouse share one turn; the third is a step of its own
    with warehouse_step("pair"):
        _write(name)
        _write(name)
    _write(name)


def test_concurrent_flows_take_turns_on_the_warehouse(prefect_harness, fresh_warehouse) -> None:
    SPANS.clear()
    threads = [threading.Thread(target=_writer, args=(n,)) for n in ("hourly", "backfill")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(SPANS) == 6, "every write ran: the second flow waited, it did not fail"
    spans = sorted(SPANS, key=lambda s: s[1])
    for (_, _, end), (_, start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.01, f"writes overlapped: {spans}"
    # a pair held in one turn is never split by the other flow
    names = [s[0] for s in spans]
    for name in ("hourly", "backfill"):
        first = names.index(name)
        assert names[first + 1] == name, names
