"""The write slot of the flows: a turn on the warehouse per step (``roi.core.turns``).

DuckDB allows one process to open the file, and ``roi serve`` runs every flow run in a process
of its own (Prefect's runner spawns one per run): ops every 5 minutes, hourly at :05, a backfill
started by hand. Each task of a flow holds the warehouse for its own call only
(:func:`holds_warehouse`) and closes the file when it returns, so the flows take turns step by
step: a five-minute ops refresh waits at most one step of each run ahead of it, never a whole
backfill. Turns are served in order of arrival (see ``roi.core.turns``).

Why no Prefect concurrency limit any more: its slot is a lease that a background thread renews
through the Prefect API. On a loaded machine a renewal can come late, the lease lapses and a
second writer gets in while the first still writes; cancelling the first cannot interrupt a
DuckDB statement in time. The turn is an OS file lock: it cannot expire while its holder
lives and is dropped by the kernel when the holder dies (a kill included). It needs no API,
and costs microseconds instead of ~1.6 s per acquisition, so it can be taken per step.

Interleaving steps of two flows leaves their results unchanged: every step rebuilds whole date
slices from what the steps before it left, and each flow rebuilds the days it loads after
loading them. On Snowflake the turn is a no-op (no one-process limit).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from prefect.runtime import flow_run

from roi.core.warehouse import Warehouse, get_warehouse

F = TypeVar("F", bound=Callable[..., Any])


def _holder(step: str) -> str:
    name = flow_run.name
    return f"{flow_run.flow_name}/{name}: {step}" if name else step


@contextmanager
def warehouse_step(step: str) -> Iterator[Warehouse]:
    """Hold the warehouse for one step of a flow run (waits while another process has its turn)."""
    with get_warehouse().session(_holder(step)) as warehouse:
        yield warehouse


def holds_warehouse(fn: F) -> F:
    """Run ``fn`` (a task's function) as one step holding the warehouse."""

    @functools.wraps(fn)
    def step(*args: Any, **kwargs: Any) -> Any:
        with warehouse_step(fn.__name__):
            return fn(*args, **kwargs)

    return step  # type: ignore[return-value]
