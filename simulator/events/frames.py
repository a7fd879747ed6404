"""A drawn day as event frames, one per event type and source, in the order the writer gets them.

Frames hold the events' public fields plus ``_ts`` (event time) and ``_trel`` (part of a
converting person's journey). Building them draws event ids, click ids and emit delays from
the slice's random stream, so the order of the frames here is part of the world's bytes.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from simulator import incidents as inc
from simulator.entities import UTM_SOURCES, WEB_PLATFORMS
from simulator.events import ids
from simulator.events.catalog import Catalog
from simulator.events.config import MINUTE_MS, SECOND_MS
from simulator.events.day import DEVICE_PLATFORMS, ORGANIC, WEB, DaySlice, DrawnDay

CLICK_ID = {
    "google_ads": ("gclid", "Cj0KCQjw"),
    "meta_ads": ("fbclid", "IwAR"),
    "tiktok_ads": ("ttclid", "E.C.P."),
}
UTM_MEDIUM = {
    "google_ads": "cpc",
    "meta_ads": "paid_social",
    "tiktok_ads": "paid_social",
    "impact": "affiliate",
}
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
)
# Share of direct landings right before a paid web sign-up: the user comes back without the ad.
RETURNING_DIRECT_SHARE = 0.3

Events = list[tuple[str, pl.DataFrame]]
NULL = np.array(None, dtype=object)
"""A missing value for ``np.where`` on object arrays (what it makes of a bare ``None``)."""


def strings(a: np.ndarray) -> pl.Series:
    """A numpy object/str array (None = null) as a String series, even when every value is null."""
    return pl.Series(pa.array(a, type=pa.string(), from_pandas=True))


def gather_or_null(series: pl.Series, idx: np.ndarray) -> pl.Series:
    """``series[idx]`` with nulls where ``idx`` is -1."""
    out = (
        series.gather(np.where(idx < 0, 0, idx))
        if len(series)
        else pl.Series([None] * len(idx), dtype=pl.String)
    )
    if not (idx < 0).any():
        return out
    return pl.select(pl.when(pl.Series(idx >= 0)).then(out)).to_series()


def day_events(s: DaySlice, day: DrawnDay, signups: pl.DataFrame) -> Events:
    """Every event of a drawn slice; ``signups`` is :func:`signup_frame` of it."""
    events: Events = []
    events += _landing_events(s, day)
    events += _mmp_touch_events(s, day)
    events.append(("app_install", _install_frame(s, day)))
    events.append(("user_signup", signups.filter("_web").drop("device_id", "_web")))
    events.append(("user_signup", signups.filter(~pl.col("_web")).drop("anonymous_id", "_web")))
    events.append(("app_install", _duplicate_install_frame(s, day)))
    merges = day.accounts.duplicates.merges
    events.append(
        (
            "user_merged",
            merges.select(
                "event_id",
                "from_user_id",
                "to_user_id",
                pl.col("merge_ts").alias("_ts"),
                pl.lit(True).alias("_trel"),
            ),
        )
    )
    events += _conversion_events(s, day)
    events.append(("skan_postback", day.skan.postbacks))
    return break_tracking(s.ctx.incidents, s.ctx.catalog, events)


LANDING_TRACKING = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "gclid",
    "fbclid",
    "ttclid",
)


def break_tracking(incidents: tuple[inc.Incident, ...], cat: Catalog, events: Events) -> Events:
    """Events with the ``tracking_break`` incidents applied (unchanged without them).

    Inside an incident's window, its platform's landings lose their UTM fields and click ids and
    its MMP touches their device id. The events stay (nothing is lost but the ids), and the
    touches were marked invisible when drawn, so the truth leaves them unattributed. Applied after
    every frame is built, so the slice's random draws are those of the world without incidents.
    """
    breaks = inc.of_kind(incidents, "tracking_break")
    if not breaks:
        return events
    platform_of = dict(zip(cat.campaign_id.to_list(), cat.platform.to_list(), strict=True))
    out: Events = []
    for etype, df in events:
        if etype == "landing" and df.height:
            plat = df["utm_campaign"].replace_strict(platform_of, default=None, return_dtype=pl.String)
            lost = lost_in_breaks(breaks, plat.to_numpy(), df["_ts"].to_numpy())
            df = df.with_columns(
                pl.when(pl.Series(lost)).then(None).otherwise(pl.col(c)).alias(c) for c in LANDING_TRACKING
            )
        elif etype == "mmp_touch" and df.height:
            lost = lost_in_breaks(breaks, df["platform"].to_numpy(), df["touch_ts"].to_numpy())
            df = df.with_columns(
                pl.when(pl.Series(lost)).then(None).otherwise(pl.col("device_id")).alias("device_id")
            )
        out.append((etype, df))
    return out


def lost_in_breaks(breaks: list[inc.Incident], platform: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Which (platform, epoch ms) pairs fall inside a tracking break of that platform."""
    lost = np.zeros(len(ts), dtype=bool)
    for brk in breaks:
        lost |= (platform == brk.platform) & inc.window_mask_ms([brk], ts)
    return lost


def _landing_events(s: DaySlice, day: DrawnDay) -> Events:
    """Landings of ad clicks, of non-converting visitors, and direct ones right before web sign-ups."""
    rng, cat, missing_source = s.rng, s.ctx.catalog, s.ctx.cfg.dirt.missing_utm_source
    people, t, v = day.people, day.touches, day.visitors
    web = np.flatnonzero(t.is_web)
    ads = landing_frame(
        rng,
        cat,
        missing_source,
        anonymous_id=people.anonymous_id.gather(t.person[web]),
        ts=t.ts[web],
        campaign=t.campaign[web],
        ad=t.ad[web],
        utm_stripped=t.utm_stripped[web],
        browser_os=people.browser_os[t.person[web]],
        event_id=t.event_id.gather(web),
        paid=np.ones(len(web), bool),
        of_converter=np.ones(len(web), bool),
    )
    n_visits = len(v.ts)
    visitor_event_id = ids.uuids(rng, n_visits)
    visitors = landing_frame(
        rng,
        cat,
        missing_source,
        anonymous_id=v.anonymous_id,
        ts=v.ts,
        campaign=v.campaign,
        ad=v.ad,
        utm_stripped=v.utm_stripped,
        browser_os=v.browser_os,
        event_id=visitor_event_id,
        paid=v.paid,
        of_converter=np.zeros(n_visits, bool),
    )
    return [("landing", ads), ("landing", visitors), ("landing", _direct_landings(s, day))]


def _direct_landings(s: DaySlice, day: DrawnDay) -> pl.DataFrame:
    """Direct (non-ad) landings before web sign-ups: organic users, and some paid users returning."""
    rng, people = s.rng, day.people
    n = people.n_signups
    returning = rng.random(n) < RETURNING_DIRECT_SHARE
    signers = np.flatnonzero((people.device[:n] == WEB) & ((people.kind[:n] == ORGANIC) | returning))
    k = len(signers)
    ts = people.signup_ts[signers] - rng.integers(20 * SECOND_MS, 20 * MINUTE_MS, k)
    event_id = ids.uuids(rng, k)
    return landing_frame(
        rng,
        s.ctx.catalog,
        s.ctx.cfg.dirt.missing_utm_source,
        anonymous_id=people.anonymous_id.gather(signers),
        ts=ts,
        campaign=np.zeros(k, np.int64),
        ad=np.full(k, -1),
        utm_stripped=np.zeros(k, bool),
        browser_os=people.browser_os[signers],
        event_id=event_id,
        paid=np.zeros(k, bool),
        of_converter=np.ones(k, bool),
    )


def landing_frame(
    rng: np.random.Generator,
    cat: Catalog,
    missing_utm_source: float,
    *,
    anonymous_id: pl.Series,
    ts: np.ndarray,
    campaign: np.ndarray,
    ad: np.ndarray,
    utm_stripped: np.ndarray,
    browser_os: np.ndarray,
    event_id: pl.Series,
    paid: np.ndarray,
    of_converter: np.ndarray,
) -> pl.DataFrame:
    """``landing`` events; UTMs and click ids where ``paid`` and not stripped (iOS link tracking protection)."""
    k = len(ts)
    tagged = paid & ~utm_stripped
    platform = cat.platform.gather(campaign).to_numpy() if k else np.array([], dtype=object)
    source, click = _utm_sources_and_click_ids(rng, platform, tagged)
    has_click = tagged & np.isin(platform, list(CLICK_ID))
    source[has_click & (rng.random(k) < missing_utm_source)] = None
    medium = (
        pl.Series(platform if k else [], dtype=pl.String)
        .replace_strict({p: UTM_MEDIUM[p] for p in WEB_PLATFORMS}, default=None)
        .to_numpy()
    )
    content = gather_or_null(cat.ad_id, ad).to_numpy() if k else np.array([], dtype=object)
    impact = platform == "impact"
    if impact.any():
        # Impact links carry the media partner in utm_content
        partner = cat.partner_ids.gather(rng.integers(0, len(cat.partner_ids), k)).to_numpy()
        content = np.where(impact, partner, content)
    term = np.where(platform == "google_ads", "streamride", NULL)
    utm_campaign = cat.campaign_id.gather(campaign).to_numpy() if k else np.array([], dtype=object)

    def if_tagged(a: np.ndarray) -> pl.Series:
        return strings(np.where(tagged, a, NULL))

    return pl.DataFrame(
        {
            "event_id": event_id,
            "anonymous_id": anonymous_id,
            "utm_source": strings(source),
            "utm_medium": if_tagged(medium),
            "utm_campaign": if_tagged(utm_campaign),
            "utm_content": if_tagged(content),
            "utm_term": if_tagged(term),
            "gclid": strings(click["gclid"]),
            "fbclid": strings(click["fbclid"]),
            "ttclid": strings(click["ttclid"]),
            "user_agent": pl.Series(USER_AGENTS).gather(browser_os),
            "_ts": ts,
            "_trel": of_converter,
        }
    )


def _utm_sources_and_click_ids(
    rng: np.random.Generator, platform: np.ndarray, tagged: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A ``utm_source`` variant of its platform per tagged landing, and the platform's click id."""
    k = len(platform)
    source = np.full(k, None, dtype=object)
    click = {name: np.full(k, None, dtype=object) for name, _ in CLICK_ID.values()}
    for plat in WEB_PLATFORMS:
        sel = tagged & (platform == plat)
        cnt = int(sel.sum())
        if not cnt:
            continue
        variants = UTM_SOURCES[plat]
        source[sel] = np.array(variants, dtype=object)[rng.integers(0, len(variants), cnt)]
        if plat in CLICK_ID:
            name, prefix = CLICK_ID[plat]
            click[name][sel] = ids.token(rng, cnt, 40, prefix).to_numpy()
    return source, click


def _mmp_touch_events(s: DaySlice, day: DrawnDay) -> Events:
    """MMP callbacks for the visible app touches of the slice's people, then for other devices."""
    rng, cat, t, d = s.rng, s.ctx.catalog, day.touches, day.devices
    # a touch whose device id a tracking break stripped is still called back (without the id)
    app = np.flatnonzero(~t.is_web & (t.visible | t.tracking_lost))
    people = mmp_touch_frame(
        rng,
        cat,
        device_id=day.people.device_id.gather(t.person[app]),
        touch_ts=t.ts[app],
        campaign=t.campaign[app],
        ad=t.ad[app],
        is_view=t.is_view[app],
        event_id=t.event_id.gather(app),
        of_converter=np.ones(len(app), bool),
    )
    device_event_id = ids.uuids(rng, len(d.ts))
    devices = mmp_touch_frame(
        rng,
        cat,
        device_id=d.device_id,
        touch_ts=d.ts,
        campaign=d.campaign,
        ad=d.ad,
        is_view=d.is_view,
        event_id=device_event_id,
        of_converter=np.zeros(len(d.ts), bool),
    )
    return [("mmp_touch", people), ("mmp_touch", devices)]


def mmp_touch_frame(
    rng: np.random.Generator,
    cat: Catalog,
    *,
    device_id: pl.Series,
    touch_ts: np.ndarray,
    campaign: np.ndarray,
    ad: np.ndarray,
    is_view: np.ndarray,
    event_id: pl.Series,
    of_converter: np.ndarray,
) -> pl.DataFrame:
    """``mmp_touch`` callbacks: the MMP emits each touch 1-90 s after it happened."""
    emit = touch_ts + rng.integers(SECOND_MS, 90 * SECOND_MS, len(touch_ts))
    return pl.DataFrame(
        {
            "event_id": event_id,
            "device_id": device_id,
            "platform": cat.platform.gather(campaign),
            "campaign_id": cat.campaign_id.gather(campaign),
            "ad_group_id": gather_or_null(cat.ad_group_id, ad),
            "ad_id": gather_or_null(cat.ad_id, ad),
            "touch_type": np.where(is_view, "view", "click"),
            "touch_ts": touch_ts,
            "_ts": emit,
            "_trel": of_converter,
        }
    )


def _install_frame(s: DaySlice, day: DrawnDay) -> pl.DataFrame:
    """``app_install`` of every app person (sign-ups and non-signing installers)."""
    people = day.people
    inst = np.flatnonzero(people.is_app)
    return pl.DataFrame(
        {
            "event_id": ids.uuids(s.rng, len(inst)),
            "device_id": people.device_id.gather(inst),
            "device_platform": pl.Series(DEVICE_PLATFORMS).gather(people.device[inst]),
            "_ts": people.install_ts[inst],
            "_trel": np.ones(len(inst), bool),
        }
    )


def _duplicate_install_frame(s: DaySlice, day: DrawnDay) -> pl.DataFrame:
    """``app_install`` of duplicate accounts made on an app, 1-30 min before their sign-up."""
    dup = day.accounts.duplicates
    app = np.flatnonzero(dup.device > WEB)
    event_id = ids.uuids(s.rng, len(app))
    ts = dup.signup_ts[app] - s.rng.integers(MINUTE_MS, 30 * MINUTE_MS, len(app))
    return pl.DataFrame(
        {
            "event_id": event_id,
            "device_id": dup.device_id.gather(app),
            "device_platform": pl.Series(DEVICE_PLATFORMS).gather(dup.device[app]),
            "_ts": ts,
            "_trel": np.ones(len(app), bool),
        }
    )


def signup_frame(day: DrawnDay) -> pl.DataFrame:
    """Every ``user_signup`` of the slice (originals, then duplicates) with a ``_web`` flag."""
    people, acc, dup = day.people, day.accounts, day.accounts.duplicates
    n, nd = people.n_signups, len(dup.source)
    originals = pl.DataFrame(
        {
            "event_id": acc.event_id,
            "user_id": acc.user_id,
            "anonymous_id": people.anonymous_id[:n],
            "device_id": people.device_id[:n],
            "device_platform": pl.Series(DEVICE_PLATFORMS).gather(people.device[:n]),
            "country": people.country[:n],
            "email": acc.email,
            "phone": acc.phone,
            "is_test_account": acc.is_test,
            "_ts": people.signup_ts,
            "_trel": np.ones(n, bool),
            "_web": people.device[:n] == WEB,
        }
    )
    duplicates = pl.DataFrame(
        {
            "event_id": dup.event_id,
            "user_id": dup.user_id,
            "anonymous_id": dup.anonymous_id,
            "device_id": dup.device_id,
            "device_platform": pl.Series(DEVICE_PLATFORMS).gather(dup.device),
            "country": people.country.gather(dup.source),
            "email": dup.email,
            "phone": acc.phone.gather(dup.source),
            "is_test_account": np.zeros(nd, bool),
            "_ts": dup.signup_ts,
            "_trel": np.ones(nd, bool),
            "_web": dup.device == WEB,
        }
    )
    return pl.concat([originals, duplicates])


def _conversion_events(s: DaySlice, day: DrawnDay) -> Events:
    """``first_ride``, ``first_order`` and ``purchase`` events of the slice's sign-ups."""
    conv, user_id = day.conversions, day.accounts.user_id
    events: Events = []
    for etype, mask in (
        ("first_ride", conv.converted & conv.is_ride),
        ("first_order", conv.converted & ~conv.is_ride),
    ):
        i = np.flatnonzero(mask)
        frame = _revenue_frame(s, user_id.gather(i), conv.revenue[i], conv.currency.gather(i), conv.ts[i])
        events.append((etype, frame))
    of = conv.purchase_of
    purchases = _revenue_frame(
        s, user_id.gather(of), conv.purchase_revenue, conv.currency.gather(of), conv.purchase_ts
    )
    events.append(("purchase", purchases))
    return events


def _revenue_frame(
    s: DaySlice, user_id: pl.Series, revenue: np.ndarray, currency: pl.Series, ts: np.ndarray
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": ids.uuids(s.rng, len(ts)),
            "user_id": user_id,
            "revenue": revenue,
            "currency": currency,
            "_ts": ts,
            "_trel": np.ones(len(ts), bool),
        }
    )
