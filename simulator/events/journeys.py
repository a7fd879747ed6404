"""User journeys of one simulated day, vectorised with numpy and polars.

One call of :func:`simulate_day` draws everyone who *converts* on that day (signs up, or for
app users without a sign-up, installs) together with their whole past: ad touches up to two
weeks back, installs, and their future: first ride or order, purchases, merges, SKAN
postbacks. It also draws the day's non-converting traffic (ad clicks that never sign up),
which gives the landing files their realistic volume. Every person belongs to exactly one
day's draw, so per-device rules (click spam) are complete inside a day.

The draw is a fixed sequence of steps over one random stream; each step reads what earlier
steps drew (:mod:`simulator.events.day`) and takes its random numbers in a fixed order.
Reordering draws changes every world, so a restructure must keep them in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from simulator import incidents as inc
from simulator.events import ids
from simulator.events.catalog import SKAN_NETWORKS, source_identifier
from simulator.events.config import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS
from simulator.events.day import (
    ANDROID,
    IOS,
    ORGANIC,
    PAID_APP,
    PAID_WEB,
    POOL_ADSERVICES,
    POOL_APP,
    POOL_SKAN,
    POOL_WEB,
    SKAN_ONLY,
    WEB,
    Accounts,
    Conversions,
    DayOutput,
    DaySlice,
    DeviceTraffic,
    DrawnDay,
    Duplicates,
    People,
    Skan,
    Touches,
    WebVisitors,
    WorldCtx,
)
from simulator.events.frames import NULL, day_events, gather_or_null, lost_in_breaks, signup_frame, strings
from simulator.events.rules import click_spam, last_touch

COUNTRIES = ("US", "GB", "DE", "FR")
COUNTRY_P = (0.5, 0.2, 0.15, 0.15)
CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR"}
FX_PER_USD = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}
# UTC hour weights: European evenings (17-22 UTC) and US evenings (23-04 UTC) are the peaks.
HOUR_WEIGHTS = np.array(
    [6, 5, 4, 3, 2, 1.5, 1.5, 2, 3, 4, 4.5, 5, 5.5, 6, 6, 6.5, 7, 8, 8.5, 8.5, 8, 7.5, 7, 6.5], dtype=float
)
HOUR_WEIGHTS /= HOUR_WEIGHTS.sum()
WEEKDAY_FACTOR = (0.92, 0.90, 0.93, 0.97, 1.0, 0.98, 0.95)  # Monday..Sunday; Friday is the peak day
BROWSER_OS_P = (0.35, 0.25, 0.40)  # ios, android, desktop
MAX_AD_TOUCHES = 6  # per paid person
MAX_BACKGROUND_TOUCHES = 5  # per non-converting visitor or device


def day_signup_count(ctx: WorldCtx, d: int) -> tuple[int, int]:
    """(base sign-ups, promotion sign-ups) of day ``d``."""
    mix, promo = ctx.cfg.mix, ctx.cfg.promo
    total = round(mix.signups_per_day * ctx.scale * WEEKDAY_FACTOR[ctx.weekday(d)])
    n_promo = 0
    if d == min(max(promo.day, 0), ctx.days - 1) and promo.minutes > 0:
        n_promo = min(total, round(promo.peak_per_minute * ctx.scale * promo.minutes / 2))
    return total - n_promo, n_promo


def simulate_day(ctx: WorldCtx, d: int, part: int = 0, parts: int = 1) -> DayOutput:
    """Draw day ``d`` of the world (0-based): its converters' whole journeys and its other traffic.

    Large days are drawn in ``parts`` independent slices of people (each with its own random
    stream), which bounds memory; a slice is a self-contained population, so per-device and
    per-user rules still hold inside it.
    """
    rng = np.random.default_rng([ctx.seed, 7001, d] if parts == 1 else [ctx.seed, 7001, d, part])
    s = DaySlice(ctx, d, part, parts, rng)
    people = _draw_people(s)
    touches = _draw_touches(s, people)
    accounts = _draw_accounts(s, people)
    conversions = _draw_conversions(s, people)
    skan = _draw_skan(s, people, touches, conversions)
    visitors = _draw_web_visitors(s, people, touches)
    devices = _draw_device_traffic(s, touches)
    day = DrawnDay(people, touches, accounts, conversions, skan, visitors, devices)
    signups = signup_frame(day)
    return _day_output(s, day, day_events(s, day, signups), signups)


# ---- helpers --------------------------------------------------------------------------------


def _share(total: int, part: int, parts: int) -> int:
    """Part ``part`` of ``parts`` of an integer count (the parts sum to ``total``)."""
    return total // parts + (1 if part < total % parts else 0)


def _diurnal(rng: np.random.Generator, day0: int, n: int) -> np.ndarray:
    """``n`` instants of the day starting at ``day0``, spread by HOUR_WEIGHTS."""
    hours = rng.choice(24, size=n, p=HOUR_WEIGHTS)
    return day0 + hours.astype(np.int64) * HOUR_MS + rng.integers(0, HOUR_MS, n)


def _exp_ms(rng: np.random.Generator, mean_ms: float, n: int) -> np.ndarray:
    return rng.exponential(mean_ms, n).astype(np.int64)


def _group_rank(counts: np.ndarray) -> np.ndarray:
    """0..k-1 inside each group of a ``np.repeat(..., counts)`` expansion."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    rank: np.ndarray = np.arange(int(counts.sum())) - starts
    return rank


def _device_ids(rng: np.random.Generator, is_ios: np.ndarray) -> pl.Series:
    """A device id per device: upper-case on iOS (IDFA/IDFV), lower-case elsewhere."""
    n = len(is_ios)
    upper, lower = ids.uuids(rng, n, upper=True).to_numpy(), ids.uuids(rng, n).to_numpy()
    return pl.Series(np.where(is_ios, upper, lower), dtype=pl.String)


# ---- people -----------------------------------------------------------------------------------


def _draw_people(s: DaySlice) -> People:
    """The slice's sign-ups and non-signing installers: devices, journeys, installs, identifiers."""
    rng, mix = s.rng, s.ctx.cfg.mix
    signup_ts = _signup_times(s)
    n = len(signup_ts)
    device = rng.choice(3, size=n, p=mix.device_split)
    # non-signing installers share the sign-ups' journey logic: append them as persons
    n_installers = round(int((device > WEB).sum()) * mix.non_signing_installs)
    device = np.concatenate([device, rng.choice([ANDROID, IOS], size=n_installers, p=[0.45, 0.55])])
    is_signer = np.r_[np.ones(n, dtype=bool), np.zeros(n_installers, dtype=bool)]
    consent, kind, campaign, pool = _journeys(s, device)
    install_ts = _install_times(s, signup_ts, device)
    is_app = device > WEB
    anchor_ts = np.where(is_app, install_ts, np.r_[signup_ts, np.zeros(n_installers, dtype=np.int64)])
    n_people = len(device)
    country = pl.Series(COUNTRIES).gather(rng.choice(4, size=n_people, p=COUNTRY_P))
    browser_os = np.where(
        device == WEB, rng.choice(3, size=n_people, p=BROWSER_OS_P), np.where(device == IOS, 0, 1)
    )
    anonymous_id = ids.uuids(rng, n_people)
    device_id = _device_ids(rng, device == IOS)
    stale = rng.random(n_people) < mix.stale_touch
    return People(
        n_signups=n,
        signup_ts=signup_ts,
        device=device,
        is_signer=is_signer,
        consent=consent,
        kind=kind,
        campaign=campaign,
        pool=pool,
        install_ts=install_ts,
        anchor_ts=anchor_ts,
        country=country,
        browser_os=browser_os,
        anonymous_id=anonymous_id,
        device_id=device_id,
        stale=stale,
    )


def _signup_times(s: DaySlice) -> np.ndarray:
    """The slice's sign-up times: its share of the day's diurnal sign-ups, then of the promotion's."""
    rng, promo = s.rng, s.ctx.cfg.promo
    n_base, n_promo = (_share(x, s.part, s.parts) for x in day_signup_count(s.ctx, s.day))
    promo_start = s.day_start_ms + promo.start_minute * MINUTE_MS
    base_ts = _diurnal(rng, s.day_start_ms, n_base)
    # the promotion ramps linearly up to its peak at half-time and back down
    promo_minute = rng.triangular(0, promo.minutes / 2, max(promo.minutes, 1e-9), n_promo)
    promo_ts = promo_start + (promo_minute * MINUTE_MS).astype(np.int64)
    signup_ts: np.ndarray = np.minimum(np.concatenate([base_ts, promo_ts]), s.day_start_ms + DAY_MS - 1)
    return _app_bug(s.ctx.incidents, signup_ts)


# the golden ratio's fraction: i * PHI mod 1 spreads any run of indexes evenly over [0, 1)
PHI = 0.6180339887498949


def _app_bug(incidents: tuple[inc.Incident, ...], signup_ts: np.ndarray) -> np.ndarray:
    """The sign-ups that still happen during ``app_bug`` incidents: their factor's share (web and app alike).

    Chosen by index, not drawn, so the slice's random stream is not touched here; the rest of
    the slice is then drawn for fewer people (other days are unchanged).
    """
    bugs = inc.of_kind(incidents, "app_bug")
    if not bugs:
        return signup_ts
    keep = np.ones(len(signup_ts), dtype=bool)
    u = (np.arange(len(signup_ts)) * PHI) % 1.0
    for bug in bugs:
        keep &= ~(inc.window_mask_ms([bug], signup_ts) & (u >= bug.effective_factor))
    kept: np.ndarray = signup_ts[keep]
    return kept


def tracking_lost_mask(
    incidents: tuple[inc.Incident, ...], platform: np.ndarray, ts: np.ndarray
) -> np.ndarray:
    """Touches (platform, epoch ms) inside a ``tracking_break`` of their platform."""
    return lost_in_breaks(inc.of_kind(incidents, "tracking_break"), platform, ts)


def _journeys(s: DaySlice, device: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(consent, kind, campaign, pool) per person: who is paid, and which campaign won them."""
    rng, mix, cat = s.rng, s.ctx.cfg.mix, s.ctx.catalog
    n = len(device)
    u = rng.random(n)
    consent = (device == ANDROID) | ((device == IOS) & (rng.random(n) < mix.ios_att_consent))
    kind = np.zeros(n, dtype=np.int8)
    kind[(device == WEB) & (u < mix.paid_web)] = PAID_WEB
    app_paid = (device > WEB) & (u < mix.paid_app)
    kind[app_paid] = PAID_APP
    campaign = np.full(n, -1, dtype=np.int64)
    pool = np.full(n, -1, dtype=np.int8)
    web_paid = kind == PAID_WEB
    campaign[web_paid] = cat.pick(rng, cat.web_pool, int(web_paid.sum()))
    pool[web_paid] = POOL_WEB
    consented = app_paid & consent
    campaign[consented] = cat.pick(rng, cat.app_pool, int(consented.sum()))
    pool[consented] = POOL_APP
    declined = app_paid & ~consent
    campaign[declined] = cat.pick(rng, cat.declined_pool, int(declined.sum()))
    # AdServices: the MMP sees Apple Search Ads touches without consent
    adservices = declined & (cat.platform_np[np.maximum(campaign, 0)] == "apple_search_ads")
    pool[adservices] = POOL_ADSERVICES
    kind[declined & ~adservices] = SKAN_ONLY
    pool[declined & ~adservices] = POOL_SKAN
    return consent, kind, campaign, pool


def _install_times(s: DaySlice, signup_ts: np.ndarray, device: np.ndarray) -> np.ndarray:
    """Installs: minutes before an app sign-up, or any time of the day for non-signing installers."""
    rng = s.rng
    n, n_people = len(signup_ts), len(device)
    install_ts = np.full(n_people, -1, dtype=np.int64)
    app = device[:n] > WEB
    delay = np.clip(_exp_ms(rng, 15 * MINUTE_MS, n_people), 30 * SECOND_MS, 12 * HOUR_MS)
    install_ts[:n][app] = signup_ts[app] - delay[:n][app]
    install_ts[n:] = _diurnal(rng, s.day_start_ms, n_people - n)
    return install_ts


# ---- touches ----------------------------------------------------------------------------------


@dataclass
class _TouchDraw:
    person: np.ndarray
    rank: np.ndarray
    ts: np.ndarray
    campaign: np.ndarray
    is_view: np.ndarray


def _draw_touches(s: DaySlice, people: People) -> Touches:
    """The paid persons' ad touches plus injected click spam, with ads, visibility and event ids."""
    rng, dirt, cat = s.rng, s.ctx.cfg.dirt, s.ctx.catalog
    ad_touches = _ad_touches(s, people)
    spam = _spam_clicks(s, people)
    person = np.concatenate([ad_touches.person, spam.person])
    campaign = np.concatenate([ad_touches.campaign, spam.campaign])
    ts = np.concatenate([ad_touches.ts, spam.ts])
    is_view = np.concatenate([ad_touches.is_view, spam.is_view])
    injected = np.concatenate([np.zeros(len(ad_touches.person), bool), np.ones(len(spam.person), bool)])
    ad = cat.pick_ads(rng, campaign)
    m = len(person)
    kind = people.kind[person]
    is_web = kind == PAID_WEB
    utm_stripped = is_web & (people.browser_os[person] == 0) & (rng.random(m) < dirt.ios_missing_utm)
    visible = (kind != SKAN_ONLY) & ~utm_stripped
    event_id = ids.uuids(rng, m)
    # a tracking break hides the touch from the pipeline (no click id / device id): not visible
    lost = visible & tracking_lost_mask(s.ctx.incidents, cat.platform_np[campaign], ts)
    visible &= ~lost
    # the click-spam rule applied to the MMP clicks a pipeline sees, so truth is what it can compute
    mmp_click = ~is_web & visible & ~is_view
    is_spam = click_spam(person, ts, mmp_click, people.install_ts) | injected
    return Touches(
        person=person,
        rank=np.concatenate([ad_touches.rank, spam.rank]),
        ts=ts,
        campaign=campaign,
        ad=ad,
        is_view=is_view,
        injected_spam=injected,
        is_web=is_web,
        utm_stripped=utm_stripped,
        visible=visible,
        event_id=event_id,
        is_spam=is_spam,
        tracking_lost=lost,
    )


def _ad_touches(s: DaySlice, people: People) -> _TouchDraw:
    """The ad touches of paid persons: 1-6 each, the last shortly before their anchor."""
    rng, cat = s.rng, s.ctx.catalog
    paid = np.flatnonzero(people.kind > ORGANIC)
    kind, pool = people.kind[paid], people.pool[paid]
    k = np.minimum(rng.geometric(0.45, len(paid)), MAX_AD_TOUCHES)
    pid = np.repeat(np.arange(len(paid)), k)
    rank = _group_rank(k)
    m = len(pid)
    is_view = (kind[pid] >= PAID_APP) & (rng.random(m) < 0.3)  # only app journeys have view touches
    gap = np.where(is_view, _exp_ms(rng, 5 * HOUR_MS, m), _exp_ms(rng, 3 * HOUR_MS, m)) + MINUTE_MS
    gap = np.where(rank > 0, _exp_ms(rng, 1.5 * DAY_MS, m) + 10 * MINUTE_MS, gap)
    # A few paid users' touches all lie outside both windows: paid but not attributable.
    stale_first = people.stale[paid][pid] & (rank == 0)
    gap = np.where(stale_first, rng.integers(7 * DAY_MS + HOUR_MS, 12 * DAY_MS, m), gap)
    # cumulative gaps within each person: subtract the running total before the person's first touch
    firsts = np.cumsum(k) - k
    before = np.concatenate([[0], np.cumsum(gap)])[firsts]
    offset = np.cumsum(gap) - np.repeat(before, k)
    ts = people.anchor_ts[paid][pid] - offset
    campaign = people.campaign[paid][pid].copy()
    # earlier touches come from a fresh campaign half of the time (AdServices keeps its campaign)
    fresh = (rng.random(m) < 0.5) & (rank > 0) & (pool[pid] != POOL_ADSERVICES)
    for code, from_pool in ((POOL_WEB, cat.web_pool), (POOL_APP, cat.app_pool), (POOL_SKAN, cat.skan_pool)):
        sel = fresh & (pool[pid] == code)
        if sel.any():
            campaign[sel] = cat.pick(rng, from_pool, int(sel.sum()))
    return _TouchDraw(paid[pid], rank, ts, campaign, is_view)


def _spam_clicks(s: DaySlice, people: People) -> _TouchDraw:
    """Click spam on MMP-matchable devices: single clicks seconds before install, and click bursts."""
    rng, dirt, cat = s.rng, s.ctx.cfg.dirt, s.ctx.catalog
    n_people = len(people.device)
    matchable = (
        people.is_app & (people.consent | (people.pool == POOL_ADSERVICES)) & (people.kind != SKAN_ONLY)
    )
    single = np.flatnonzero(matchable & (rng.random(n_people) < dirt.spam_install_click))
    single_ts = people.install_ts[single] - rng.integers(SECOND_MS, 9_500, len(single))
    burst_device = np.flatnonzero(matchable & (rng.random(n_people) < dirt.spam_burst))
    burst_size = rng.integers(6, 11, len(burst_device))
    burst_person = np.repeat(burst_device, burst_size)
    burst_start = people.install_ts[burst_device] - rng.integers(
        10 * MINUTE_MS, 2 * DAY_MS, len(burst_device)
    )
    burst_ts = np.repeat(burst_start, burst_size) + rng.integers(0, 50 * SECOND_MS, len(burst_person))
    burst_campaign = np.repeat(cat.pick(rng, cat.app_pool, len(burst_device)), burst_size)
    # drawn after the bursts' campaigns: the order of draws is part of every world's bytes
    single_campaign = cat.pick(rng, cat.app_pool, len(single))
    n = len(single) + len(burst_person)
    return _TouchDraw(
        person=np.concatenate([single, burst_person]),
        rank=np.full(n, -1),
        ts=np.concatenate([single_ts, burst_ts]),
        campaign=np.concatenate([single_campaign, burst_campaign]),
        is_view=np.zeros(n, dtype=bool),
    )


# ---- accounts, conversions ---------------------------------------------------------------------


def _draw_accounts(s: DaySlice, people: People) -> Accounts:
    """The sign-ups' accounts (test accounts, ids, PII), then their duplicates and merges."""
    rng, mix = s.rng, s.ctx.cfg.mix
    n = people.n_signups
    is_test = rng.random(n) < mix.test_account
    user_id = ids.hex_ids(rng, n, 8, "usr_")
    email = ids.emails(rng, people.country[:n], is_test)
    phone = ids.phones(rng, people.country[:n], rng.random(n) < mix.local_phone)
    event_id = ids.uuids(rng, n)
    duplicates = _draw_duplicates(s, people, is_test, user_id, email)
    return Accounts(is_test, user_id, email, phone, event_id, duplicates)


def _draw_duplicates(
    s: DaySlice, people: People, is_test: np.ndarray, user_id: pl.Series, email: pl.Series
) -> Duplicates:
    """Sign-ups who sign up again 2 h-2 d later and get merged (some twice: A -> B -> C)."""
    rng, mix, end_ms = s.rng, s.ctx.cfg.mix, s.ctx.end_ms
    merged = np.flatnonzero(~is_test & (rng.random(people.n_signups) < mix.merge))
    chain = rng.random(len(merged)) < mix.merge_chain
    dup1_ts = people.signup_ts[merged] + rng.integers(2 * HOUR_MS, 2 * DAY_MS, len(merged))
    merge1_ts = dup1_ts + rng.integers(MINUTE_MS, 6 * HOUR_MS, len(merged))
    dup2_ts = merge1_ts + rng.integers(2 * HOUR_MS, 2 * DAY_MS, len(merged))
    merge2_ts = dup2_ts + rng.integers(MINUTE_MS, 6 * HOUR_MS, len(merged))
    keep1 = merge1_ts < end_ms
    keep2 = chain & keep1 & (merge2_ts < end_ms)
    first, second = merged[keep1], merged[keep2]
    source = np.concatenate([first, second])
    nd = len(source)
    dup_user_id = ids.hex_ids(rng, nd, 8, "usr_")
    device = rng.choice(3, size=nd)
    anonymous_id = ids.uuids(rng, nd)
    device_id = ids.uuids(rng, nd, upper=False)
    same_email = rng.random(nd) < 0.5
    other_email = ids.emails(rng, people.country.gather(source), np.zeros(nd, bool))
    dup_email = pl.Series(
        np.where(same_email, email.gather(source).to_numpy(), other_email.to_numpy()), dtype=pl.String
    )
    event_id = ids.uuids(rng, nd)
    first_dup_user_id = dup_user_id[: len(first)]
    # edges: original -> first duplicate; first duplicate -> second duplicate
    merges = pl.DataFrame(
        {
            "from_user_id": pl.concat(
                [user_id.gather(first), first_dup_user_id.gather(np.searchsorted(first, second))]
            ),
            "to_user_id": pl.concat([first_dup_user_id, dup_user_id[len(first) :]]),
            "merge_ts": np.concatenate([merge1_ts[keep1], merge2_ts[keep2]]),
        }
    )
    merges = merges.with_columns(event_id=ids.uuids(rng, merges.height))
    signup_ts = np.concatenate([dup1_ts[keep1], dup2_ts[keep2]])
    return Duplicates(
        source, signup_ts, dup_user_id, device, anonymous_id, device_id, dup_email, event_id, merges
    )


def _draw_conversions(s: DaySlice, people: People) -> Conversions:
    """First rides (70%) or orders of about half the sign-ups, a few late, and later purchases."""
    rng, mix = s.rng, s.ctx.cfg.mix
    n = people.n_signups
    converted = rng.random(n) < mix.first_conversion
    late = rng.random(n) < 0.05
    delay = np.where(late, rng.integers(30 * DAY_MS, 45 * DAY_MS, n), _exp_ms(rng, 1.5 * DAY_MS, n))
    ts = people.signup_ts + delay + 5 * MINUTE_MS
    is_ride = rng.random(n) < 0.7
    currency = people.country[:n].replace_strict(CURRENCY)
    fx_local = currency.replace_strict(FX_PER_USD, return_dtype=pl.Float64).to_numpy()
    revenue = np.round(
        np.where(is_ride, rng.lognormal(2.6, 0.45, n), rng.lognormal(3.1, 0.4, n)) * fx_local, 2
    )
    converters = np.flatnonzero(converted)
    purchase_of = np.repeat(converters, rng.poisson(1.2, len(converters)))
    purchase_ts = ts[purchase_of] + _exp_ms(rng, 3 * DAY_MS, len(purchase_of)) + MINUTE_MS
    purchase_revenue = np.round(rng.lognormal(2.7, 0.5, len(purchase_of)) * fx_local[purchase_of], 2)
    return Conversions(converted, ts, is_ride, currency, revenue, purchase_of, purchase_ts, purchase_revenue)


# ---- SKAN -------------------------------------------------------------------------------------


def _draw_skan(s: DaySlice, people: People, touches: Touches, conversions: Conversions) -> Skan:
    """SKAN postbacks of SKAN-only installs: the winning first one, later ones, and non-winning ones."""
    rng, mix, cat = s.rng, s.ctx.cfg.mix, s.ctx.catalog
    installers = np.flatnonzero(people.kind == SKAN_ONLY)
    winner = _skan_winners(people, touches, installers)
    install_ts = people.install_ts[installers]
    signed_up = people.is_signer[installers]
    received_ts = install_ts + rng.integers(24 * HOUR_MS, 72 * HOUR_MS, len(installers))
    cv, coarse = _skan_conversion_values(
        people, conversions, installers, winner, received_ts, mix.skan_privacy_threshold
    )
    n = len(installers)
    seq1 = rng.random(n) < 0.5
    seq2 = seq1 & (rng.random(n) < 0.6)
    losing = rng.random(n) < mix.skan_non_winning
    n1, n2, n_losing = int(seq1.sum()), int(seq2.sum()), int(losing.sum())
    postbacks = _skan_postback_frame(
        s,
        received_ts=np.concatenate(
            [
                received_ts,
                install_ts[seq1] + rng.integers(4 * DAY_MS, 8 * DAY_MS, n1),
                install_ts[seq2] + rng.integers(9 * DAY_MS, 36 * DAY_MS, n2),
                install_ts[losing] + rng.integers(24 * HOUR_MS, 72 * HOUR_MS, n_losing),
            ]
        ),
        campaign=np.concatenate([winner, winner[seq1], winner[seq2], cat.pick(rng, cat.skan_pool, n_losing)]),
        sequence=np.concatenate([np.zeros(n), np.ones(n1), np.full(n2, 2), np.zeros(n_losing)]).astype(
            np.int64
        ),
        did_win=np.concatenate([np.ones(n + n1 + n2, bool), np.zeros(n_losing, bool)]),
        conversion_value=np.concatenate([cv, np.full(n1 + n2 + n_losing, -1)]),
        coarse_value=np.concatenate([coarse, coarse[seq1], coarse[seq2], np.full(n_losing, None)]),
    )
    installs = pl.DataFrame(
        {
            "install_ts": install_ts,
            "platform": cat.platform.gather(winner),
            "campaign_id": cat.campaign_id.gather(winner),
            "signed_up": signed_up,
            "received_ts": received_ts,
        }
    )
    return Skan(postbacks, installs)


def _skan_winners(people: People, touches: Touches, installers: np.ndarray) -> np.ndarray:
    """The campaign each SKAN install credits: its last ad touch's (else the one that won it)."""
    last = (touches.rank == 0) & (people.kind[touches.person] == SKAN_ONLY)
    last_campaign = np.full(len(people.device), -1, dtype=np.int64)
    last_campaign[touches.person[last]] = touches.campaign[last]
    by_install = last_campaign[installers]
    winner: np.ndarray = np.where(by_install >= 0, by_install, people.campaign[installers])
    return winner


def _skan_conversion_values(
    people: People,
    conversions: Conversions,
    installers: np.ndarray,
    winner: np.ndarray,
    received_ts: np.ndarray,
    threshold: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(fine value or -1, coarse value or None) of each first postback, null below Apple's privacy threshold.

    Fine value bits: 1 signed up, 2 converted 6 h before the postback, 4-60 revenue in 5-unit steps.
    """
    n = len(installers)
    signed_up = people.is_signer[installers]
    converted_before = np.zeros(n, dtype=bool)
    revenue = np.zeros(n)
    is_signup = installers < people.n_signups
    signup = installers[is_signup]
    converted_before[is_signup] = conversions.converted[signup] & (
        conversions.ts[signup] < received_ts[is_signup] - 6 * HOUR_MS
    )
    revenue[is_signup] = np.where(converted_before[is_signup], conversions.revenue[signup], 0.0)
    install_day = (people.install_ts[installers] // DAY_MS).astype(np.int64)
    cohort = (
        pl.DataFrame({"c": winner, "d": install_day}).select(pl.len().over("c", "d")).to_series().to_numpy()
    )
    cv = (
        signed_up.astype(np.int64)
        | (converted_before.astype(np.int64) << 1)
        | (np.minimum(15, (revenue // 5).astype(np.int64)) << 2)
    )
    coarse = np.where(converted_before, "high", np.where(signed_up, "medium", "low"))
    fine_value = np.where(cohort < threshold, -1, cv)
    coarse_value = np.where(cohort < max(1, threshold // 2), NULL, coarse)
    return fine_value, coarse_value


def _skan_postback_frame(
    s: DaySlice,
    *,
    received_ts: np.ndarray,
    campaign: np.ndarray,
    sequence: np.ndarray,
    did_win: np.ndarray,
    conversion_value: np.ndarray,
    coarse_value: np.ndarray,
) -> pl.DataFrame:
    cat = s.ctx.catalog
    platform = cat.platform.gather(campaign)
    return pl.DataFrame(
        {
            "event_id": ids.uuids(s.rng, len(received_ts)),
            "postback_id": ids.uuids(s.rng, len(received_ts)),
            "ad_network_id": platform.replace_strict(SKAN_NETWORKS),
            "platform": platform,
            "source_identifier": source_identifier(cat.campaign_id.gather(campaign)),
            "conversion_value": pl.Series(conversion_value, dtype=pl.Int64).replace(-1, None),
            "coarse_conversion_value": strings(coarse_value),
            "postback_sequence": sequence,
            "did_win": did_win,
            "_ts": received_ts,
            "_trel": np.ones(len(received_ts), dtype=bool),
        }
    )


# ---- non-converting traffic ------------------------------------------------------------------


def _background_count(s: DaySlice, per_day: float, converting: int) -> int:
    """How many of the day's ``per_day`` events (at scale 1.0) the slice adds beyond its converters'."""
    weekday_factor = WEEKDAY_FACTOR[s.ctx.weekday(s.day)]
    return max(0, round(per_day * s.ctx.scale * weekday_factor / s.parts) - converting)


def _draw_web_visitors(s: DaySlice, people: People, touches: Touches) -> WebVisitors:
    """Web visitors who never sign up: 1-5 landings each, mostly from ads."""
    rng, mix, dirt, cat = s.rng, s.ctx.cfg.mix, s.ctx.cfg.dirt, s.ctx.catalog
    n = people.n_signups
    converting = int(touches.is_web.sum()) + int((people.device[:n] == WEB).sum())
    n_landings = _background_count(s, mix.landings_per_day, converting)
    per_visitor = np.minimum(rng.geometric(0.6, max(1, int(n_landings / 1.67))), MAX_BACKGROUND_TOUCHES)
    n_visitors = len(per_visitor)
    visitor = np.repeat(np.arange(n_visitors), per_visitor)
    m = len(visitor)
    paid = (rng.random(n_visitors) < mix.visitor_paid)[visitor]
    # 60% of a visitor's landings come from the same campaign
    campaign = np.where(
        rng.random(m) < 0.6,
        np.repeat(cat.pick(rng, cat.web_pool, n_visitors), per_visitor),
        cat.pick(rng, cat.web_pool, m),
    )
    ad = cat.pick_ads(rng, campaign)
    ts = _diurnal(rng, s.day_start_ms, m)
    browser_os = rng.choice(3, size=n_visitors, p=BROWSER_OS_P)[visitor]
    utm_stripped = paid & (browser_os == 0) & (rng.random(m) < dirt.ios_missing_utm)
    anonymous_id = ids.uuids(rng, n_visitors).gather(visitor)
    return WebVisitors(ts, campaign, ad, paid, utm_stripped, browser_os, anonymous_id)


def _draw_device_traffic(s: DaySlice, touches: Touches) -> DeviceTraffic:
    """MMP touches of devices that never install: 1-5 each, hours apart, and a few click bursts."""
    rng, mix, cat = s.rng, s.ctx.cfg.mix, s.ctx.catalog
    # the MMP still calls back touches a tracking break stripped: they count as its traffic
    converting = int((~touches.is_web & (touches.visible | touches.tracking_lost)).sum())
    n_touches = _background_count(s, mix.mmp_touches_per_day, converting)
    per_device = np.minimum(rng.geometric(0.5, max(1, n_touches // 2)), MAX_BACKGROUND_TOUCHES)
    n_devices = len(per_device)
    device = np.repeat(np.arange(n_devices), per_device)
    m = len(device)
    device_ids = _device_ids(rng, rng.random(n_devices) < 0.45)
    campaign = np.where(
        rng.random(m) < 0.6,
        np.repeat(cat.pick(rng, cat.app_pool, n_devices), per_device),
        cat.pick(rng, cat.app_pool, m),
    )
    last_ts = np.repeat(_diurnal(rng, s.day_start_ms, n_devices), per_device)
    ts = last_ts - _group_rank(per_device) * rng.integers(MINUTE_MS, 6 * HOUR_MS, m)
    is_view = rng.random(m) < mix.device_view_share
    burst = _device_bursts(s, n_devices)
    device = np.concatenate([device, burst.person])
    campaign = np.concatenate([campaign, burst.campaign])
    return DeviceTraffic(
        device_id=device_ids.gather(device),
        ts=np.concatenate([ts, burst.ts]),
        campaign=campaign,
        ad=cat.pick_ads(rng, campaign),
        is_view=np.concatenate([is_view, burst.is_view]),
        is_spam=np.concatenate([np.zeros(m, dtype=bool), np.ones(len(burst.person), bool)]),
    )


def _device_bursts(s: DaySlice, n_devices: int) -> _TouchDraw:
    """Click bursts (6-10 clicks within 50 s) on a few of the non-installing devices."""
    rng, cat = s.rng, s.ctx.catalog
    bursting = np.flatnonzero(rng.random(n_devices) < s.ctx.cfg.dirt.spam_burst)
    size = rng.integers(6, 11, len(bursting))
    device = np.repeat(bursting, size)
    ts = np.repeat(_diurnal(rng, s.day_start_ms, len(bursting)), size) + rng.integers(
        0, 50 * SECOND_MS, len(device)
    )
    campaign = np.repeat(cat.pick(rng, cat.app_pool, len(bursting)), size)
    n = len(device)
    return _TouchDraw(device, np.full(n, -1), ts, campaign, np.zeros(n, bool))


# ---- truth ------------------------------------------------------------------------------------


def _day_output(
    s: DaySlice, day: DrawnDay, events: list[tuple[str, pl.DataFrame]], signups: pl.DataFrame
) -> DayOutput:
    """The slice's events with its truth pieces (no random draws: everything is drawn by now)."""
    people, acc, conv = day.people, day.accounts, day.conversions
    n = people.n_signups
    identities = signups.select(
        "user_id",
        "event_id",
        "device_platform",
        "country",
        "email",
        "phone",
        pl.col("is_test_account").alias("is_test"),
        pl.col("_ts").alias("signup_ts"),
    )
    touches = _touch_truth(s, day)
    attribution = last_touch(
        touches.filter(pl.col("person") < n), people.signup_ts, acc.user_id, people.kind[:n], s.ctx.start_ms
    )
    converters = conv.converters
    conversions = pl.DataFrame(
        {
            "user_id": acc.user_id.gather(converters),
            "first_conversion_type": np.where(conv.is_ride[converters], "first_ride", "first_order"),
            "first_conversion_ts": conv.ts[converters],
            "first_revenue": conv.revenue[converters],
            "first_revenue_currency": conv.currency.gather(converters),
        }
    )
    return DayOutput(
        events=events,
        identities=identities,
        merges=acc.duplicates.merges.select("from_user_id", "to_user_id", "merge_ts"),
        touches=touches,
        attribution=attribution,
        skan=day.skan.installs,
        conversions=conversions,
        visitors=day.visitors,
        devices=day.devices,
    )


def _touch_truth(s: DaySlice, day: DrawnDay) -> pl.DataFrame:
    """Every true touch of the slice's people, with what a pipeline can see of it."""
    cat, t, n = s.ctx.catalog, day.touches, day.people.n_signups
    kind = day.people.kind[t.person]
    return pl.DataFrame(
        {
            "person": t.person.astype(np.int64),
            "user_id": gather_or_null(day.accounts.user_id, np.where(t.person < n, t.person, -1)),
            "touch_ts": t.ts,
            "touch_type": np.where(t.is_view, "view", "click"),
            "platform": cat.platform.gather(t.campaign),
            "campaign_id": cat.campaign_id.gather(t.campaign),
            "ad_group_id": gather_or_null(cat.ad_group_id, t.ad),
            "ad_id": gather_or_null(cat.ad_id, t.ad),
            "channel": np.where(t.is_web, "web", np.where(kind == SKAN_ONLY, "skan", "app")),
            "visible": t.visible,
            "is_spam": t.is_spam,
            "event_id": gather_or_null(t.event_id, np.where(t.visible, np.arange(len(t.person)), -1)),
        }
    )
