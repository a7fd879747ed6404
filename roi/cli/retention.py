"""``roi retention``: the daily retention run, by hand (docs/privacy.md "Retention").

The scheduled flow (03:15 UTC under ``roi serve``) takes its scheduled time as "now"; by hand,
"now" is ``--as-of`` or the data's logical now (the latest succeeded run's window end), never
the wall clock. A time ahead of the data is refused: it would delete data that has not expired.
The flow is imported when the command runs (start-up time, as in roi/cli/pipeline.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from roi.cli.common import console, parse_ts, warehouse_turn
from roi.core.errors import UserInputError
from roi.core.runs import last_succeeded_window_end


def retention(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Logical now (ISO-8601, UTC if no zone); default: the latest succeeded run's window end.",
        ),
    ] = None,
) -> None:
    """Delete raw event-level data older than ROI_RAW_RETENTION_MONTHS before the logical now."""
    asked = parse_ts(as_of, "--as-of") if as_of is not None else None
    with warehouse_turn("retention") as warehouse:
        warehouse.bootstrap()
    data_now = last_succeeded_window_end()
    if asked is None and data_now is None:
        raise UserInputError("no succeeded run is recorded to take the logical now from: pass --as-of")
    if asked is not None and data_now is not None and asked.replace(tzinfo=None) > data_now:
        raise UserInputError(
            f"--as-of {as_of} is after the data's logical now ({data_now:%Y-%m-%dT%H:%M}Z): "
            "retention never runs ahead of the data; leave --as-of out"
        )
    from flows.retention import retention as retention_flow  # start-up time (module docstring)

    result = retention_flow(now=asked if asked is not None else data_now)
    deleted = ", ".join(f"{name} {n}" for name, n in result["deleted"].items() if n) or "nothing"
    console.print(f"retention: data before {result['cutoff']} deleted: {deleted}")
