"""Knobs of the event side of the simulated world: volumes, journey mix and dirt rates.

Volumes are per day at scale 1.0 (a StreamRide peak day); every count is multiplied by the
world's ``scale``. Rates are fractions of the events (or users) they apply to.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
SECOND_MS = 1_000
# Events (except SKAN postbacks) stop at the world's end; arrivals may trail it by this much
# (late events, SKAN postbacks 24-72 h after install), so a test can publish past the end.
TAIL_MS = 3 * DAY_MS


@dataclass(frozen=True)
class DirtRates:
    """How dirty the landing files are. Every rate is a fraction; ``DirtRates.clean()`` is all zeros."""

    duplicate: float = 0.01  # client retries: the same event (same event_id) re-sent with a later received_at
    out_of_order: float = 0.02  # received 1-30 min after the event: lines out of event-time order
    late: float = 0.005  # received 2-72 h after the event: a new part file inside an old hour folder
    malformed: float = 0.001  # extra broken lines: truncated JSON, wrong types, missing fields, unknown types
    # share of client events on schema_version 2 by the last day (ramps up from 0)
    schema_v2_final: float = 0.5
    ios_missing_utm: float = 0.3  # paid web clicks from iOS browsers that lose their UTMs and click id
    # click-id landings without utm_source (the click id decides the platform)
    missing_utm_source: float = 0.03
    spam_install_click: float = 0.03  # app installs preceded by a click less than 10 s before the install
    spam_burst: float = 0.01  # MMP devices with a burst of 6-10 clicks inside 60 s
    double_click: float = 0.01  # click-id landings sent twice (same click id, new event_id, seconds apart)

    @classmethod
    def clean(cls) -> DirtRates:
        """No dirt at all: every rate zero (journeys, merges and test accounts still happen)."""
        return cls(**{f.name: 0.0 for f in fields(cls)})


@dataclass(frozen=True)
class Promo:
    """A short promotion burst: sign-ups ramp linearly up to ``peak_per_minute`` and back down."""

    day: int = 0  # day offset inside the world (clipped to the world's length)
    start_minute: int = 18 * 60  # UTC minute of the day the burst starts
    minutes: int = 20
    peak_per_minute: float = 20_000.0  # at scale 1.0


@dataclass(frozen=True)
class Mix:
    """Daily volumes at scale 1.0 and the journey mix."""

    signups_per_day: float = 800_000.0
    landings_per_day: float = 4_600_000.0  # every `landing` event, converting or not
    mmp_touches_per_day: float = 4_700_000.0  # every mmp_touch event (clicks and views)
    visitor_paid: float = 0.95  # non-converting web visitors who arrive from an ad click (the rest: direct)
    device_view_share: float = 0.42  # non-installing MMP devices' touches that are views (the rest: clicks)
    device_split: tuple[float, float, float] = (0.45, 0.25, 0.30)  # web, android, ios sign-ups
    paid_web: float = 0.6  # web sign-ups that clicked an ad
    paid_app: float = 0.65  # app sign-ups that touched an ad
    ios_att_consent: float = 0.3  # iOS users who allow tracking (MMP-visible); the rest: SKAN only
    non_signing_installs: float = 0.5  # extra installs without a sign-up, per app sign-up
    first_conversion: float = 0.55  # sign-ups with a first ride or first order
    merge: float = 0.02  # sign-ups who sign up again later and get merged (user_merged)
    merge_chain: float = 0.25  # of those, the share merged twice (A -> B -> C)
    test_account: float = 0.005
    local_phone: float = 0.2  # phones in national format (no country code; country given)
    stale_touch: float = 0.03  # paid users whose touches all fall outside the attribution windows
    # installs per (campaign, install day) below which conversion_value is null
    skan_privacy_threshold: int = 10
    skan_non_winning: float = 0.15  # installs that also get a did_win=false postback from another network


@dataclass(frozen=True)
class EventsConfig:
    """Everything that shapes the event side; the defaults describe StreamRide."""

    dirt: DirtRates = field(default_factory=DirtRates)
    promo: Promo = field(default_factory=Promo)
    mix: Mix = field(default_factory=Mix)
