"""What every command shares: the consoles, parsing of dates and timestamps, the ROI table, the warehouse turn."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

from rich.console import Console

from connector_sdk.windows import as_utc
from flows.report import roi_table
from roi.core.errors import UserInputError
from roi.core.warehouse import Warehouse, get_warehouse

console = Console()
err_console = Console(stderr=True)


# Dates a command accepts: the pipeline's data lives in this century; a date far outside it is
# a typo (and 9999-12-31 or 0001-01-01 overflow the moment a day is added or a zone applied).
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)


def _in_range(day: date, value: str, option: str) -> None:
    if not EARLIEST <= day <= LATEST:
        raise UserInputError(f"{option} {value!r} is out of range: use a date from {EARLIEST} to {LATEST}")


def parse_ts(value: str, option: str) -> datetime:
    """ISO-8601 timestamp or date (``Z`` allowed; naive means UTC) in range, or a one-line error."""
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        _in_range(ts.date(), value, option)
        return as_utc(ts)
    except (ValueError, OverflowError):
        raise UserInputError(
            f"{option} {value!r} is not a timestamp: use e.g. 2026-11-20T06:00:00Z"
        ) from None


def parse_date(value: str, option: str) -> date:
    """A ``YYYY-MM-DD`` date in range, or a one-line error naming the option."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise UserInputError(f"{option} {value!r} is not a date: use YYYY-MM-DD") from None
    _in_range(day, value, option)
    return day


def print_roi(report_date: date) -> None:
    """Print the day's ROI table by platform and campaign."""
    # Piped or in CI the console is 80 columns; the ROI table needs ~130 to stay readable.
    out = console if console.is_terminal else Console(width=140)
    out.print(roi_table(report_date))


@contextmanager
def warehouse_turn(command: str) -> Iterator[Warehouse]:
    """The warehouse for one command, in its turn (``roi.core.turns``).

    Every command that reads or writes the warehouse goes through here: while ``roi serve``
    runs, a flow step may hold the embedded file, and the command waits for that step (saying
    so) instead of failing on DuckDB's lock. A long read takes a turn per query instead.
    """

    def waiting(holder: str) -> None:
        err_console.print(
            f"waiting for the warehouse: held by {holder or 'another process'}", highlight=False
        )

    with get_warehouse().session(f"roi {command}", on_wait=waiting) as warehouse:
        yield warehouse
