"""Which report dates a run pulls, and how they are cut into requests.

"Now" is the run's logical time, never the wall clock: the same run asked twice pulls the
same dates. Dates are in the account's time zone, because that is where the platform's day
boundaries are (a US account's Monday ends five hours after a UTC Monday); the current day
is partial and is pulled again by the next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector_sdk.exceptions import ConnectorConfigError, InvalidRunError

Mode = Literal["hourly", "lookback", "backfill"]
MODES: tuple[str, ...] = ("hourly", "lookback", "backfill")


@dataclass(frozen=True)
class DateWindow:
    """An inclusive range of report dates sent in one request (``first`` .. ``last``)."""

    first: date
    last: date

    def dates(self) -> list[date]:
        """Every date of the window, in order."""
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def as_utc(ts: datetime) -> datetime:
    """An aware UTC datetime (naive input is taken as UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def zone(tz: str) -> ZoneInfo:
    """The ZoneInfo of an IANA name, or a one-line config error."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConnectorConfigError(f"unknown account time zone {tz!r}") from None


def local_date(logical_time: datetime, tz: str) -> date:
    """The calendar date in ``tz`` at the run's logical time."""
    return as_utc(logical_time).astimezone(zone(tz)).date()


def report_dates(
    mode: str,
    logical_time: datetime,
    tz: str,
    *,
    lookback_days: int,
    start: date | None = None,
    end: date | None = None,
) -> list[date]:
    """The report dates (in ``tz``) a run pulls for one account.

    - ``hourly``: today and yesterday (late data and the partial current day).
    - ``lookback``: today and the ``lookback_days + 1`` days before it. A platform restates a
      day for ``lookback_days`` after the day *ends*, so a daily lookback at local time t
      sees the oldest day of its window still open (age < window); one more day back is the
      first pull at which that day is final, and only then does the raw table hold the
      platform's last word on it.
    - ``backfill``: ``start`` .. ``end`` inclusive, clipped to today (the future has no data).
    """
    today = local_date(logical_time, tz)
    if mode == "hourly":
        return [today - timedelta(days=1), today]
    if mode == "lookback":
        if lookback_days < 0:
            raise InvalidRunError(f"lookback_days must be >= 0, got {lookback_days}")
        return [today - timedelta(days=i) for i in range(lookback_days + 1, -1, -1)]
    if mode == "backfill":
        if start is None or end is None:
            raise InvalidRunError("a backfill needs both start and end dates")
        if end < start:
            raise InvalidRunError(f"inverted range: start {start} is after end {end}")
        last = min(end, today)
        return [start + timedelta(days=i) for i in range((last - start).days + 1)]
    raise InvalidRunError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")


def split_windows(dates: list[date], max_span_days: int) -> Iterator[DateWindow]:
    """Cut sorted dates into windows of consecutive days, each at most ``max_span_days`` long."""
    if max_span_days < 1:
        raise ValueError("max_span_days must be >= 1")
    run: list[date] = []
    for d in sorted(set(dates)):
        if run and ((d - run[-1]).days != 1 or len(run) >= max_span_days):
            yield DateWindow(run[0], run[-1])
            run = []
        run.append(d)
    if run:
        yield DateWindow(run[0], run[-1])
