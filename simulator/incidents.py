"""Labelled incidents a world can carry: what breaks, where, from when to when.

An incident is a stretch of time in which one thing goes wrong in the world (a campaign
overspends, a platform's tracking breaks, the landing sink stalls, an API fails...). The
generators and the API server read the incident list and change the world's data, its truth
and the served APIs consistently; ``truth/incidents.parquet`` labels them for detection
benchmarks (what happened, when, and which monitoring rules should fire).

A world without incidents is the world as before: the schedule is drawn from its own random
stream (``[seed, 16]``) and nothing else reads it, so switching incidents off leaves every
file byte-identical. See docs/simulator.md, "Incidents", for the effect of each kind.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from simulator.ads.common import CELL_PLATFORMS, to_epoch
from simulator.ads.fx import is_business_day
from simulator.entities import Entities

KINDS: tuple[str, ...] = (
    "runaway_campaign",
    "campaign_stall",
    "tracking_break",
    "landing_outage",
    "api_outage",
    "revoked_token",
    "app_bug",
    "missing_fx",
)
# The rules of flows/alert_rules.yaml each kind should make fire (missing_fx: none; the
# close's FX gate holds the day instead).
EXPECTED_RULES: dict[str, tuple[str, ...]] = {
    "runaway_campaign": ("spend_spike", "overspend", "cac_spike"),
    "campaign_stall": ("spend_drop",),
    "tracking_break": ("tracking_break", "signups_drop"),
    "landing_outage": ("landing_stall",),
    "api_outage": ("pull_failing",),
    "revoked_token": ("pull_failing",),
    "app_bug": ("signups_drop",),
    "missing_fx": (),
}
DEFAULT_FACTOR = {"runaway_campaign": 5.0, "campaign_stall": 0.1, "app_bug": 0.5}
CAMPAIGN_KINDS = ("runaway_campaign", "campaign_stall")
PLATFORM_KINDS = ("tracking_break", "api_outage", "revoked_token")
# Tracking breaks hit web click ids and MMP device ids: platforms with both (Apple is app-only).
TRACKING_PLATFORMS = ("google_ads", "meta_ads", "tiktok_ads")
CLEAN_DAYS = 7  # the first week has no incident: rules need a baseline
# Start hours where each kind's signal flows (UTC hours; the campaign kinds: the account's
# local hours, spend being shaped by local time). Night starts are included where the signal
# still flows at night; sign-ups and landings are thin at 04-07 UTC, spend at local 02-06.
START_HOURS: dict[str, tuple[int, ...]] = {
    "runaway_campaign": (0, 1, 22, 23, *range(7, 20)),
    "campaign_stall": tuple(range(8, 20)),
    "tracking_break": (0, 1, 2, 3, *range(9, 21)),
    "app_bug": (0, 1, 2, 3, *range(9, 21)),
    "landing_outage": (0, 1, 2, 3, *range(8, 21)),
    "api_outage": tuple(range(0, 21)),
    "revoked_token": tuple(range(0, 21)),
}
LAST_UTC_START_HOUR = 20  # + at most 4 h: an incident ends inside its UTC day (one per day: no overlap)

SCHEMA: dict[str, pl.DataType] = {
    "incident_id": pl.String(),
    "kind": pl.String(),
    "platform": pl.String(),
    "account_id": pl.String(),
    "campaign_id": pl.String(),
    "start_ts": pl.Datetime("ms", "UTC"),
    "end_ts": pl.Datetime("ms", "UTC"),
    "factor": pl.Float64(),
    "expected_rules": pl.List(pl.String),
}


@dataclass(frozen=True)
class Incident:
    """One incident: ``kind`` from ``start`` (inclusive) to ``end`` (exclusive), aware UTC datetimes.

    ``platform`` is set for the platform kinds and the campaign kinds, ``account_id`` and
    ``campaign_id`` for the campaign kinds; ``factor`` multiplies delivery (campaign kinds) or
    sign-ups (``app_bug``, default 0.5). A ``missing_fx`` incident covers one UTC day: the
    business day whose rate is never published.
    """

    incident_id: str
    kind: str
    start: datetime
    end: datetime
    platform: str | None = None
    account_id: str | None = None
    campaign_id: str | None = None
    factor: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown incident kind {self.kind!r}; one of {KINDS}")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("incident start and end must be timezone-aware")
        if not self.start < self.end:
            raise ValueError(f"incident {self.incident_id}: start must be before end")
        if self.kind in CAMPAIGN_KINDS and not (self.platform and self.campaign_id):
            raise ValueError(f"{self.kind} needs platform and campaign_id")
        if self.kind in PLATFORM_KINDS and not self.platform:
            raise ValueError(f"{self.kind} needs a platform")

    @property
    def start_s(self) -> int:
        """Start in epoch seconds."""
        return to_epoch(self.start)

    @property
    def end_s(self) -> int:
        """End in epoch seconds."""
        return to_epoch(self.end)

    @property
    def effective_factor(self) -> float:
        """``factor``, or the kind's default."""
        return self.factor if self.factor is not None else DEFAULT_FACTOR.get(self.kind, 1.0)

    def covers(self, ts_s: int) -> bool:
        """Whether epoch second ``ts_s`` lies in [start, end)."""
        return self.start_s <= ts_s < self.end_s


def of_kind(incidents: Iterable[Incident], *kinds: str) -> list[Incident]:
    """The incidents of the given kinds."""
    return [i for i in incidents if i.kind in kinds]


def active(incidents: Iterable[Incident], kind: str, platform: str, ts_s: int) -> Incident | None:
    """The incident of ``kind`` on ``platform`` covering epoch second ``ts_s``, if any."""
    for inc in incidents:
        if inc.kind == kind and inc.platform == platform and inc.covers(ts_s):
            return inc
    return None


def window_mask_ms(incidents: Iterable[Incident], ts_ms: np.ndarray) -> np.ndarray:
    """Which epoch-ms times fall in any of ``incidents``' windows."""
    out = np.zeros(len(ts_ms), dtype=bool)
    for inc in incidents:
        out |= (ts_ms >= inc.start_s * 1000) & (ts_ms < inc.end_s * 1000)
    return out


# ---- the schedule ---------------------------------------------------------------------------


def schedule(seed: int, start: date, days: int, ents: Entities, changes: pl.DataFrame) -> list[Incident]:
    """The incidents of a world with incidents switched on, drawn from ``[seed, 16]``.

    One incident a day from day 8 on (the first week is clean); every block of eight days holds
    each kind once in a shuffled order (so a world of 7 + 24 days has three of each), a
    ``missing_fx`` always on a business day (swapped within its block; dropped from a final
    partial block without one). Starts are at varied hours where the kind's signal flows;
    durations 1-4 h; every incident ends inside its UTC day, so none overlap.
    """
    rng = np.random.default_rng([seed, 16])
    slots = [start + timedelta(days=d) for d in range(CLEAN_DAYS, days)]
    out: list[Incident] = []
    for b in range(0, len(slots), len(KINDS)):
        block = slots[b : b + len(KINDS)]
        drawn = [KINDS[int(i)] for i in rng.permutation(len(KINDS))][: len(block)]
        for day, kind in zip(block, _fx_on_business_day(block, drawn), strict=True):
            if kind is None:
                continue
            inc = _draw(rng, f"inc-{len(out) + 1:03d}", kind, day, ents, changes, start, days)
            if inc is not None:
                out.append(inc)
    return out


def _fx_on_business_day(block: list[date], kinds: list[str]) -> list[str | None]:
    """``kinds`` with ``missing_fx`` moved onto a business day of the block (None when there is none)."""
    out: list[str | None] = list(kinds)
    if "missing_fx" not in kinds:
        return out
    i = kinds.index("missing_fx")
    if is_business_day(block[i]):
        return out
    j = next((k for k, d in enumerate(block) if is_business_day(d)), None)
    if j is None:
        out[i] = None
        return out
    out[i], out[j] = out[j], out[i]
    return out


def _draw(
    rng: np.random.Generator,
    incident_id: str,
    kind: str,
    day: date,
    ents: Entities,
    changes: pl.DataFrame,
    start: date,
    days: int,
) -> Incident | None:
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if kind == "missing_fx":
        return Incident(incident_id, kind, midnight, midnight + timedelta(days=1))
    if kind in CAMPAIGN_KINDS:
        return _campaign_incident(rng, incident_id, kind, day, ents, changes, start, days)
    hour = int(rng.choice(START_HOURS[kind]))
    begin = midnight + timedelta(hours=hour, minutes=5 * int(rng.integers(0, 12)))
    duration = timedelta(minutes=15 * int(rng.integers(4, 17)))  # 1-4 h in quarter hours
    platform = None
    if kind in PLATFORM_KINDS:
        choices = TRACKING_PLATFORMS if kind == "tracking_break" else CELL_PLATFORMS
        platform = str(choices[int(rng.integers(len(choices)))])
    factor = DEFAULT_FACTOR.get(kind)
    return Incident(incident_id, kind, begin, begin + duration, platform=platform, factor=factor)


def _campaign_incident(
    rng: np.random.Generator,
    incident_id: str,
    kind: str,
    day: date,
    ents: Entities,
    changes: pl.DataFrame,
    start: date,
    days: int,
) -> Incident | None:
    """A runaway or stalled campaign: one of a platform's three biggest budgets, at whole UTC hours
    where the account's local hour is in START_HOURS, avoiding the campaign's pauses and the
    platform's voided account-day (whose spend never reaches the final numbers)."""
    platform = str(CELL_PLATFORMS[int(rng.integers(len(CELL_PLATFORMS)))])
    camps = ents.campaigns.filter(pl.col("platform") == platform).sort(
        "daily_budget", "campaign_id", descending=[True, False]
    )
    top = camps.head(3).rows(named=True)
    order = rng.permutation(len(top))
    duration = int(rng.integers(1, 5))
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    accounts = ents.accounts.filter(pl.col("platform") == platform)
    for i in order:
        camp = top[int(i)]
        acc = accounts.filter(pl.col("account_id") == camp["account_id"]).row(0, named=True)
        if acc["account_id"] == accounts["account_id"][-1] and day == start + timedelta(days=days // 2):
            continue
        zone = ZoneInfo(acc["time_zone"])
        hours = [
            h
            for h in range(LAST_UTC_START_HOUR + 1)
            if (midnight + timedelta(hours=h)).astimezone(zone).hour in START_HOURS[kind]
        ]
        hours = [h for h in hours if not _paused(changes, camp["campaign_id"], midnight, h, duration)]
        if not hours:
            continue
        begin = midnight + timedelta(hours=int(rng.choice(hours)))
        return Incident(
            incident_id,
            kind,
            begin,
            begin + timedelta(hours=duration),
            platform=platform,
            account_id=acc["account_id"],
            campaign_id=camp["campaign_id"],
            factor=DEFAULT_FACTOR[kind],
        )
    return None


def _paused(changes: pl.DataFrame, campaign_id: str, midnight: datetime, hour: int, duration: int) -> bool:
    """Whether the campaign is paused at any time in [midnight + hour, + duration) (it delivers nothing then)."""
    lo = to_epoch(midnight) + hour * 3600
    hi = lo + duration * 3600
    events = (
        changes.filter(
            (pl.col("entity_id") == campaign_id)
            & (pl.col("entity_type") == "campaign")
            & (pl.col("field") == "status")
        )
        .sort("effective_ts")
        .select("value", "effective_ts")
        .rows()
    )
    since: int | None = None
    for value, ts in [*events, ("ENABLED", math.inf)]:
        if value == "PAUSED" and since is None:
            since = ts
        elif value != "PAUSED" and since is not None:
            if since < hi and ts > lo:
                return True
            since = None
    return False


# ---- the truth file ------------------------------------------------------------------------


def incidents_frame(incidents: Sequence[Incident]) -> pl.DataFrame:
    """``truth/incidents.parquet``: one row per incident, sorted by start."""
    rows = [
        {
            "incident_id": i.incident_id,
            "kind": i.kind,
            "platform": i.platform,
            "account_id": i.account_id,
            "campaign_id": i.campaign_id,
            "start_ts": i.start,
            "end_ts": i.end,
            "factor": i.factor if i.factor is not None else DEFAULT_FACTOR.get(i.kind),
            "expected_rules": list(EXPECTED_RULES[i.kind]),
        }
        for i in sorted(incidents, key=lambda x: (x.start, x.incident_id))
    ]
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def write_incidents(path: Path, incidents: Sequence[Incident]) -> None:
    """Write ``truth/incidents.parquet``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    incidents_frame(incidents).write_parquet(path)


def read_incidents(world: Path) -> list[Incident]:
    """The incidents of a world (none when it has no ``truth/incidents.parquet``)."""
    path = Path(world) / "truth" / "incidents.parquet"
    if not path.is_file():
        return []
    out = []
    for r in pl.read_parquet(path).iter_rows(named=True):
        out.append(
            Incident(
                r["incident_id"],
                r["kind"],
                r["start_ts"].astimezone(UTC),
                r["end_ts"].astimezone(UTC),
                platform=r["platform"],
                account_id=r["account_id"],
                campaign_id=r["campaign_id"],
                factor=r["factor"],
            )
        )
    return out
