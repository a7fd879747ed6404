"""What one day's draw works on and what it produces, as plain dataclasses of numpy arrays.

A slice of a day draws *people*: everyone who converts that day (sign-ups at indexes
``[:n_signups]``) followed by app users who install without signing up. Person-level arrays
are indexed by person; touch-level arrays by touch, with ``person`` pointing back. Campaign
and ad values are indexes into the world's :class:`~simulator.events.catalog.Catalog`
(``-1``: none). All times are int64 epoch milliseconds (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from simulator import incidents as inc
from simulator.events.catalog import Catalog
from simulator.events.config import DAY_MS, EventsConfig

# Journey kinds (``People.kind``).
ORGANIC = 0
PAID_WEB = 1  # ad click -> landing -> sign-up
PAID_APP = 2  # seen by the MMP: mmp_touch -> app_install -> sign-up
SKAN_ONLY = 3  # paid iOS without tracking consent: touches invisible, only skan_postback shows the campaign

# The pool a paid person's later touches draw fresh campaigns from (``People.pool``).
POOL_WEB = 0
POOL_APP = 1
POOL_SKAN = 2
POOL_ADSERVICES = 3  # Apple Search Ads without consent: MMP-visible, and its touches keep the campaign

# Devices (``People.device``), the index into DEVICE_PLATFORMS.
DEVICE_PLATFORMS = ("web", "android", "ios")
WEB, ANDROID, IOS = 0, 1, 2


@dataclass(frozen=True)
class WorldCtx:
    """What every day's draw needs to know about the world."""

    seed: int
    scale: float
    start: date
    days: int
    cfg: EventsConfig
    catalog: Catalog
    incidents: tuple[inc.Incident, ...] = ()  # see simulator.incidents (the event-side kinds)

    @property
    def start_ms(self) -> int:
        """The world's first instant (UTC midnight of ``start``) in epoch ms."""
        return int(datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        """The world's end (exclusive) in epoch ms."""
        return self.start_ms + self.days * DAY_MS

    def weekday(self, day: int) -> int:
        """The weekday (Monday = 0) of day ``day`` of the world."""
        return date.fromordinal(self.start.toordinal() + day).weekday()


@dataclass
class DaySlice:
    """One slice of one day being drawn: the world, which slice, and the slice's random stream.

    Every step of the draw takes its random numbers from ``rng`` in a fixed order, which is
    what makes a world a pure function of its seed.
    """

    ctx: WorldCtx
    day: int
    part: int
    parts: int
    rng: np.random.Generator

    @property
    def day_start_ms(self) -> int:
        """UTC midnight starting the day."""
        return self.ctx.start_ms + self.day * DAY_MS


@dataclass
class People:
    """Everyone the slice draws: its sign-ups, then the app users who install but never sign up."""

    n_signups: int
    signup_ts: np.ndarray  # per sign-up
    device: np.ndarray  # WEB, ANDROID or IOS
    is_signer: np.ndarray
    consent: np.ndarray  # tracking allowed (always on Android)
    kind: np.ndarray  # ORGANIC, PAID_WEB, PAID_APP or SKAN_ONLY
    campaign: np.ndarray  # the campaign that won them (-1: organic)
    pool: np.ndarray  # POOL_* for paid persons, -1 for organic ones
    install_ts: np.ndarray  # -1 on the web
    anchor_ts: np.ndarray  # the moment their last touch leads to: install on apps, sign-up on the web
    country: pl.Series
    browser_os: np.ndarray  # index into USER_AGENTS: 0 iOS, 1 Android, 2 desktop
    anonymous_id: pl.Series
    device_id: pl.Series
    stale: np.ndarray  # paid, but every touch lies outside the attribution windows

    @property
    def is_app(self) -> np.ndarray:
        """Persons on a phone app (they install)."""
        return self.device > WEB


@dataclass
class Touches:
    """Every true touch of the slice's people: their ad touches, then injected click spam."""

    person: np.ndarray
    rank: np.ndarray  # 0 = a person's last ad touch, 1 the one before, ...; -1 for injected spam
    ts: np.ndarray
    campaign: np.ndarray
    ad: np.ndarray
    is_view: np.ndarray
    injected_spam: np.ndarray  # spam clicks added on purpose (the rest may still meet the spam rule)
    is_web: np.ndarray  # a web click (landing), else an app touch (MMP or SKAN)
    utm_stripped: np.ndarray  # web click from an iOS browser whose UTMs and click id were removed
    visible: np.ndarray  # a pipeline can see it (a landing with UTMs, or an mmp_touch)
    event_id: pl.Series  # of the landing or mmp_touch event carrying it
    is_spam: np.ndarray  # injected, or caught by the click-spam rule
    # would be visible, but a tracking_break incident stripped its click id / device id
    tracking_lost: np.ndarray


@dataclass
class Duplicates:
    """Second (and third) accounts of sign-ups who sign up again and get merged into them."""

    source: np.ndarray  # the original sign-up (person index) of each duplicate account
    signup_ts: np.ndarray
    user_id: pl.Series
    device: np.ndarray
    anonymous_id: pl.Series
    device_id: pl.Series
    email: pl.Series
    event_id: pl.Series
    merges: pl.DataFrame  # event_id, from_user_id, to_user_id, merge_ts


@dataclass
class Accounts:
    """The accounts the slice's sign-ups create."""

    is_test: np.ndarray
    user_id: pl.Series
    email: pl.Series
    phone: pl.Series
    event_id: pl.Series  # of the user_signup event
    duplicates: Duplicates


@dataclass
class Conversions:
    """First rides or orders of sign-ups, and their later purchases (local currency)."""

    converted: np.ndarray  # per sign-up
    ts: np.ndarray
    is_ride: np.ndarray
    currency: pl.Series
    revenue: np.ndarray
    purchase_of: np.ndarray  # the sign-up each purchase belongs to
    purchase_ts: np.ndarray
    purchase_revenue: np.ndarray

    @property
    def converters(self) -> np.ndarray:
        """Indexes of the sign-ups that converted."""
        return np.flatnonzero(self.converted)


@dataclass
class Skan:
    """SKAN postbacks (events) and the installs behind their winning first postbacks (truth)."""

    postbacks: pl.DataFrame
    installs: pl.DataFrame  # install_ts, platform, campaign_id, signed_up, received_ts


@dataclass
class WebVisitors:
    """Landings of web visitors who never sign up (one row per landing)."""

    ts: np.ndarray
    campaign: np.ndarray
    ad: np.ndarray
    paid: np.ndarray  # arrived from an ad (the rest: direct)
    utm_stripped: np.ndarray
    browser_os: np.ndarray
    anonymous_id: pl.Series

    @property
    def tagged(self) -> np.ndarray:
        """Landings that carry their ad's UTMs."""
        tagged: np.ndarray = self.paid & ~self.utm_stripped
        return tagged


@dataclass
class DeviceTraffic:
    """MMP touches of devices that never install (one row per touch)."""

    device_id: pl.Series
    ts: np.ndarray
    campaign: np.ndarray
    ad: np.ndarray
    is_view: np.ndarray
    is_spam: np.ndarray  # click bursts


@dataclass
class DrawnDay:
    """Everything one slice drew, before it is turned into events and truth."""

    people: People
    touches: Touches
    accounts: Accounts
    conversions: Conversions
    skan: Skan
    visitors: WebVisitors
    devices: DeviceTraffic


@dataclass
class DayOutput:
    """One slice's result: events per type and the truth pieces.

    Event frames carry internal columns: ``_ts`` (event time) and ``_trel`` (the event belongs to a
    converting person's journey; non-converting traffic is where malformed lines are made from).
    """

    events: list[tuple[str, pl.DataFrame]]
    identities: pl.DataFrame  # every user_signup: user_id, signup_ts, device_platform, country, is_test, ...
    merges: pl.DataFrame  # from_user_id, to_user_id, merge_ts
    touches: pl.DataFrame  # every true touch of every person (converting or not)
    attribution: pl.DataFrame  # one row per original sign-up (not merge duplicates)
    skan: pl.DataFrame  # winning sequence-0 postbacks: install_ts, platform, campaign_id, signed_up
    conversions: pl.DataFrame  # user_id, first conversion type/ts/revenue/currency
    visitors: WebVisitors  # non-converting traffic, for the benchmark Parquet output
    devices: DeviceTraffic
