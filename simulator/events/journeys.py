"""User journeys of one simulated day, vectorised with numpy and polars.

One call of :func:`simulate_day` draws everyone who *converts* on that day (signs up, or for
app users without a sign-up, installs) together with their whole past: ad touches up to two
weeks back, installs, and their future: first ride or order, purchases, merges, SKAN
postbacks. It also draws the day's non-converting traffic (ad clicks that never sign up),
which gives the landing files their realistic volume. Every person belongs to exactly one
day's draw, so per-device rules (click spam) are complete inside a day.

Journey kinds (``kind``): 0 organic, 1 paid web (ad click -> landing -> sign-up), 2 paid app
seen by the MMP (``mmp_touch`` -> ``app_install`` -> sign-up), 3 paid iOS without tracking
consent (invisible touches; only ``skan_postback`` events show the campaign).

All times are int64 epoch milliseconds (UTC) until the landing writer formats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pyarrow as pa

from simulator.entities import APP_PLATFORMS, PLATFORMS, UTM_SOURCES, WEB_PLATFORMS, Entities
from simulator.events import ids
from simulator.events.config import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, EventsConfig

COUNTRIES = ("US", "GB", "DE", "FR")
COUNTRY_P = (0.5, 0.2, 0.15, 0.15)
CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR"}
DEVICE_PLATFORMS = ("web", "android", "ios")
# UTC hour weights: European evenings (17-22 UTC) and US evenings (23-04 UTC) are the peaks.
HOUR_WEIGHTS = np.array(
    [6, 5, 4, 3, 2, 1.5, 1.5, 2, 3, 4, 4.5, 5, 5.5, 6, 6, 6.5, 7, 8, 8.5, 8.5, 8, 7.5, 7, 6.5], dtype=float
)
HOUR_WEIGHTS /= HOUR_WEIGHTS.sum()
WEEKDAY_FACTOR = (0.92, 0.90, 0.93, 0.97, 1.0, 0.98, 0.95)  # Monday..Sunday; Friday is the peak day
WEB_SHARE = {"google_ads": 0.45, "meta_ads": 0.30, "tiktok_ads": 0.15, "impact": 0.10}
APP_SHARE = {"google_ads": 0.35, "meta_ads": 0.35, "tiktok_ads": 0.15, "apple_search_ads": 0.15}
WEB_OBJECTIVE_W = {"conversions": 3.0, "traffic": 3.0, "reach": 1.0, "app_installs": 0.3}
APP_OBJECTIVE_W = {"app_installs": 3.0, "conversions": 1.0, "traffic": 0.5, "reach": 1.5}
# SKAdNetwork ids of the networks that run SKAN campaigns (Apple Search Ads attributes through
# AdServices, which works without tracking consent, so its iOS installs stay MMP-visible).
SKAN_NETWORKS = {
    "google_ads": "cstr6suwn9.skadnetwork",
    "meta_ads": "v9wttpbfk9.skadnetwork",
    "tiktok_ads": "22mmun2rn5.skadnetwork",
}
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
BROWSER_OS_P = (0.35, 0.25, 0.40)  # ios, android, desktop


def source_identifier(campaign_id: pl.Series | str) -> pl.Series | str:
    """The SKAN source identifier StreamRide configures for a campaign: its id's last four digits."""
    if isinstance(campaign_id, str):
        return campaign_id[-4:]
    return campaign_id.str.slice(-4)


class Catalog:
    """The world's campaigns and ads as arrays, with the sampling pools the journeys draw from."""

    def __init__(self, ents: Entities) -> None:
        camp = ents.campaigns.with_row_index("ci")
        self.n = camp.height
        self.platform = camp["platform"]
        self.platform_np = camp["platform"].to_numpy()
        self.campaign_id = camp["campaign_id"]
        self.objective_np = camp["objective"].to_numpy()
        ads = (
            ents.ads.join(camp.select("campaign_id", "ci"), on="campaign_id")
            .sort(["ci", "ad_group_id", "ad_id"])
            .with_columns((pl.col("weight") / pl.col("weight").sum().over("ci")).alias("w"))
            .with_columns(pl.col("w").cum_sum().over("ci").alias("cw"))
        )
        ci = ads["ci"].to_numpy().astype(np.int64)
        cw = ads["cw"].to_numpy().copy()
        cw[np.r_[ci[1:] != ci[:-1], True]] = 1.0
        self.ad_key = ci + cw
        self.ad_group_id = ads["ad_group_id"]
        self.ad_id = ads["ad_id"]
        self.has_ads = np.zeros(self.n, dtype=bool)
        self.has_ads[np.unique(ci)] = True
        self.partner_ids = ents.media_partners["media_partner_id"]
        # SKAN runs only on campaigns whose source identifier is unique within their network,
        # so the documented mapping (last four digits of the campaign id) is never ambiguous.
        last4 = source_identifier(self.campaign_id)
        dup = pl.DataFrame({"p": self.platform, "s": last4}).select(pl.len().over("p", "s") > 1).to_series()
        self.skan_ok = np.isin(self.platform_np, list(SKAN_NETWORKS)) & ~dup.to_numpy()
        self.web_pool = self._pool(WEB_SHARE, WEB_OBJECTIVE_W)
        self.app_pool = self._pool(APP_SHARE, APP_OBJECTIVE_W)
        declined = {p: APP_SHARE[p] for p in APP_SHARE}
        self.declined_pool = self._pool(
            declined, APP_OBJECTIVE_W, mask=self.skan_ok | (self.platform_np == "apple_search_ads")
        )
        self.skan_pool = self._pool(APP_SHARE, APP_OBJECTIVE_W, mask=self.skan_ok)

    def _pool(
        self, shares: dict[str, float], objective_w: dict[str, float], mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        keep = np.isin(self.platform_np, list(shares))
        if mask is not None:
            keep &= mask
        idx = np.flatnonzero(keep)
        w = np.array([objective_w.get(o, 1.0) for o in self.objective_np[idx]], dtype=float)
        p = np.zeros(len(idx))
        for plat, share in shares.items():
            m = self.platform_np[idx] == plat
            if m.any():
                p[m] = share * w[m] / w[m].sum()
        if len(idx) == 0:
            raise ValueError("the world has no campaigns for this journey")
        return idx, p / p.sum()

    def pick(self, rng: np.random.Generator, pool: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
        """``n`` campaign indexes drawn from a pool."""
        idx, p = pool
        return idx[rng.choice(len(idx), size=n, p=p)]

    def pick_ads(self, rng: np.random.Generator, ci: np.ndarray) -> np.ndarray:
        """One ad index per campaign index (by the ads' weights), -1 for campaigns without ads (Impact)."""
        pos = np.searchsorted(self.ad_key, ci + rng.random(len(ci)), side="right")
        pos = np.minimum(pos, max(len(self.ad_key) - 1, 0))
        return np.where(self.has_ads[ci], pos, -1)


@dataclass(frozen=True)
class WorldCtx:
    """What every day's draw needs to know about the world."""

    seed: int
    scale: float
    start: date
    days: int
    cfg: EventsConfig
    catalog: Catalog

    @property
    def start_ms(self) -> int:
        """The world's first instant (UTC midnight of ``start``) in epoch ms."""
        return int(datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        """The world's end (exclusive) in epoch ms."""
        return self.start_ms + self.days * DAY_MS


@dataclass
class DayOutput:
    """One day's draw: events per type (with internal ``_ts``/``_trel`` columns) and truth pieces."""

    events: list[tuple[str, pl.DataFrame]]
    identities: pl.DataFrame  # every user_signup: user_id, signup_ts, device_platform, country, is_test, ...
    merges: pl.DataFrame  # from_user_id, to_user_id, merge_ts
    touches: pl.DataFrame  # every true touch of every person (converting or not)
    attribution: pl.DataFrame  # one row per original sign-up (not merge duplicates)
    skan: pl.DataFrame  # winning sequence-0 postbacks: install_date, platform, campaign_id, signed_up
    conversions: pl.DataFrame  # user_id, first conversion type/ts/revenue/currency


def _share(total: int, part: int, parts: int) -> int:
    """Part ``part`` of ``parts`` of an integer count (the parts sum to ``total``)."""
    return total // parts + (1 if part < total % parts else 0)


def _diurnal(rng: np.random.Generator, day0: int, n: int) -> np.ndarray:
    hours = rng.choice(24, size=n, p=HOUR_WEIGHTS)
    return day0 + hours.astype(np.int64) * HOUR_MS + rng.integers(0, HOUR_MS, n)


def _exp_ms(rng: np.random.Generator, mean_ms: float, n: int) -> np.ndarray:
    return rng.exponential(mean_ms, n).astype(np.int64)


def _group_rank(counts: np.ndarray) -> np.ndarray:
    """0..k-1 inside each group of a ``np.repeat(..., counts)`` expansion."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum())) - starts


def _strs(a: np.ndarray) -> pl.Series:
    """A numpy object/str array (None = null) as a String series, even when every value is null."""
    return pl.Series(pa.array(a, type=pa.string(), from_pandas=True))


def _str_or_null(series: pl.Series, idx: np.ndarray) -> pl.Series:
    """``series[idx]`` with nulls where ``idx`` is -1."""
    out = (
        series.gather(np.where(idx < 0, 0, idx))
        if len(series)
        else pl.Series([None] * len(idx), dtype=pl.String)
    )
    if not (idx < 0).any():
        return out
    return pl.select(pl.when(pl.Series(idx >= 0)).then(out)).to_series()


def day_signup_count(ctx: WorldCtx, d: int) -> tuple[int, int]:
    """(base sign-ups, promotion sign-ups) of day ``d``."""
    mix, promo = ctx.cfg.mix, ctx.cfg.promo
    wd = date.fromordinal(ctx.start.toordinal() + d).weekday()
    total = round(mix.signups_per_day * ctx.scale * WEEKDAY_FACTOR[wd])
    n_promo = 0
    if d == min(max(promo.day, 0), ctx.days - 1) and promo.minutes > 0:
        n_promo = min(total, round(promo.peak_per_minute * ctx.scale * promo.minutes / 2))
    return total - n_promo, n_promo


def _touch_expand(
    ctx: WorldCtx,
    rng: np.random.Generator,
    anchor: np.ndarray,
    kind: np.ndarray,
    main_ci: np.ndarray,
    pool_code: np.ndarray,
    stale: np.ndarray,
) -> dict[str, np.ndarray]:
    """The ad touches of paid persons: 1-6 each, the last close before ``anchor``."""
    cat = ctx.catalog
    n = len(anchor)
    k = np.minimum(rng.geometric(0.45, n), 6)
    pid = np.repeat(np.arange(n), k)
    rank = _group_rank(k)
    m = len(pid)
    is_view = (kind[pid] >= 2) & (rng.random(m) < 0.3)
    gap = np.where(is_view, _exp_ms(rng, 5 * HOUR_MS, m), _exp_ms(rng, 3 * HOUR_MS, m)) + MINUTE_MS
    gap = np.where(rank > 0, _exp_ms(rng, 1.5 * DAY_MS, m) + 10 * MINUTE_MS, gap)
    # A few paid users' touches all lie outside both windows: paid but not attributable.
    stale_first = stale[pid] & (rank == 0)
    gap = np.where(stale_first, rng.integers(7 * DAY_MS + HOUR_MS, 12 * DAY_MS, m), gap)
    # cumulative gaps within each person: subtract the running total before the person's first touch
    firsts = np.cumsum(k) - k
    before = np.concatenate([[0], np.cumsum(gap)])[firsts]
    offset = np.cumsum(gap) - np.repeat(before, k)
    ts = anchor[pid] - offset
    ci = main_ci[pid].copy()
    fresh = (rng.random(m) < 0.5) & (rank > 0) & (pool_code[pid] != 3)
    for code, pool in ((0, cat.web_pool), (1, cat.app_pool), (2, cat.skan_pool)):
        sel = fresh & (pool_code[pid] == code)
        if sel.any():
            ci[sel] = cat.pick(rng, pool, int(sel.sum()))
    return {"pid": pid, "rank": rank, "ts": ts, "is_view": is_view, "ci": ci}


def simulate_day(ctx: WorldCtx, d: int, part: int = 0, parts: int = 1) -> DayOutput:
    """Draw day ``d`` of the world (0-based): its converters' whole journeys and its other traffic.

    Large days are drawn in ``parts`` independent slices of people (each with its own random
    stream), which bounds memory; a slice is a self-contained population, so per-device and
    per-user rules still hold inside it.
    """
    cfg, mix, cat = ctx.cfg, ctx.cfg.mix, ctx.catalog
    rng = np.random.default_rng([ctx.seed, 7001, d] if parts == 1 else [ctx.seed, 7001, d, part])
    day0 = ctx.start_ms + d * DAY_MS
    wd_factor = WEEKDAY_FACTOR[date.fromordinal(ctx.start.toordinal() + d).weekday()]

    # ---- sign-ups of the day -------------------------------------------------------------
    n_base, n_promo = (_share(x, part, parts) for x in day_signup_count(ctx, d))
    promo_start = day0 + cfg.promo.start_minute * MINUTE_MS
    signup_ts = np.concatenate(
        [
            _diurnal(rng, day0, n_base),
            promo_start
            + (
                rng.triangular(0, cfg.promo.minutes / 2, max(cfg.promo.minutes, 1e-9), n_promo) * MINUTE_MS
            ).astype(np.int64),
        ]
    )
    signup_ts = np.minimum(signup_ts, day0 + DAY_MS - 1)
    n = len(signup_ts)
    devp = rng.choice(3, size=n, p=mix.device_split)
    # non-signing installers share the sign-ups' journey logic: append them as persons
    n_app = int((devp > 0).sum())
    nx = round(n_app * mix.non_signing_installs)
    devp = np.concatenate([devp, rng.choice([1, 2], size=nx, p=[0.45, 0.55])])
    is_signer = np.r_[np.ones(n, dtype=bool), np.zeros(nx, dtype=bool)]
    P = n + nx
    u = rng.random(P)
    consent = (devp == 1) | ((devp == 2) & (rng.random(P) < mix.ios_att_consent))
    kind = np.zeros(P, dtype=np.int8)
    kind[(devp == 0) & (u < mix.paid_web)] = 1
    app_paid = (devp > 0) & (u < mix.paid_app)
    kind[app_paid] = 2
    main_ci = np.full(P, -1, dtype=np.int64)
    pool_code = np.full(P, -1, dtype=np.int8)
    web_paid = kind == 1
    main_ci[web_paid] = cat.pick(rng, cat.web_pool, int(web_paid.sum()))
    pool_code[web_paid] = 0
    consented_paid = app_paid & consent
    main_ci[consented_paid] = cat.pick(rng, cat.app_pool, int(consented_paid.sum()))
    pool_code[consented_paid] = 1
    declined_paid = app_paid & ~consent
    main_ci[declined_paid] = cat.pick(rng, cat.declined_pool, int(declined_paid.sum()))
    is_asa = declined_paid & (cat.platform_np[np.maximum(main_ci, 0)] == "apple_search_ads")
    pool_code[is_asa] = 3  # AdServices: the MMP sees Apple Search Ads touches without consent
    kind[declined_paid & ~is_asa] = 3
    pool_code[declined_paid & ~is_asa] = 2

    install_ts = np.full(P, -1, dtype=np.int64)
    app = devp > 0
    delay = np.clip(_exp_ms(rng, 15 * MINUTE_MS, P), 30 * SECOND_MS, 12 * HOUR_MS)
    install_ts[:n][app[:n]] = signup_ts[app[:n]] - delay[:n][app[:n]]
    install_ts[n:] = _diurnal(rng, day0, nx)
    anchor_ts = np.where(app, install_ts, np.r_[signup_ts, np.zeros(nx, dtype=np.int64)])
    country = pl.Series(COUNTRIES).gather(rng.choice(4, size=P, p=COUNTRY_P))
    browser_os = np.where(devp == 0, rng.choice(3, size=P, p=BROWSER_OS_P), np.where(devp == 2, 0, 1))
    anon_id = ids.uuids(rng, P)
    device_id = pl.Series(
        np.where(devp == 2, ids.uuids(rng, P, upper=True).to_numpy(), ids.uuids(rng, P).to_numpy()),
        dtype=pl.String,
    )
    stale = rng.random(P) < mix.stale_touch

    # ---- ad touches of paid persons ---------------------------------------------------------
    paid_idx = np.flatnonzero(kind > 0)
    t = _touch_expand(
        ctx, rng, anchor_ts[paid_idx], kind[paid_idx], main_ci[paid_idx], pool_code[paid_idx], stale[paid_idx]
    )
    t_pid = paid_idx[t["pid"]]
    t_kind = kind[t_pid]
    t_ci = t["ci"]
    t_type_view = t["is_view"]
    t_ts = t["ts"]
    t_spam = np.zeros(len(t_pid), dtype=bool)

    # ---- click spam on MMP-matchable devices -------------------------------------------------
    matchable = app & (consent | (pool_code == 3)) & (kind != 3)
    spam1 = np.flatnonzero(matchable & (rng.random(P) < cfg.dirt.spam_install_click))
    s1_ts = install_ts[spam1] - rng.integers(SECOND_MS, 9_500, len(spam1))
    burst_dev = np.flatnonzero(matchable & (rng.random(P) < cfg.dirt.spam_burst))
    bk = rng.integers(6, 11, len(burst_dev))
    b_pid = np.repeat(burst_dev, bk)
    b_base = install_ts[burst_dev] - rng.integers(10 * MINUTE_MS, 2 * DAY_MS, len(burst_dev))
    b_ts = np.repeat(b_base, bk) + rng.integers(0, 50 * SECOND_MS, len(b_pid))
    b_ci = np.repeat(cat.pick(rng, cat.app_pool, len(burst_dev)), bk)
    t_pid = np.concatenate([t_pid, spam1, b_pid])
    t_kind = kind[t_pid]
    t_ci = np.concatenate([t_ci, cat.pick(rng, cat.app_pool, len(spam1)), b_ci])
    t_type_view = np.concatenate([t_type_view, np.zeros(len(spam1) + len(b_pid), dtype=bool)])
    t_ts = np.concatenate([t_ts, s1_ts, b_ts])
    t_spam = np.concatenate([t_spam, np.ones(len(spam1) + len(b_pid), dtype=bool)])
    t_ad = cat.pick_ads(rng, t_ci)
    m = len(t_pid)
    t_web = t_kind == 1
    ios_strip = t_web & (browser_os[t_pid] == 0) & (rng.random(m) < cfg.dirt.ios_missing_utm)
    t_visible = (t_kind != 3) & ~ios_strip
    t_event_id = ids.uuids(rng, m)
    t_channel = np.where(t_web, "web", np.where(t_kind == 3, "skan", "app"))
    t_platform = cat.platform.gather(t_ci)

    # ---- click spam as the contract defines it, recomputed from the visible MMP clicks ----------
    mmp_click = (~t_web) & t_visible & ~t_type_view
    t_spam_rule = _spam_rule(t_pid, t_ts, mmp_click, install_ts)

    # ---- sign-up identities, merges, test accounts ------------------------------------------------
    np.arange(n)
    is_test = rng.random(n) < mix.test_account
    user_id = ids.hex_ids(rng, n, 8, "usr_")
    email = ids.emails(rng, country[:n], is_test)
    phone = ids.phones(rng, country[:n], rng.random(n) < mix.local_phone)
    signup_event_id = ids.uuids(rng, n)
    merged = np.flatnonzero(~is_test & (rng.random(n) < mix.merge))
    chain = rng.random(len(merged)) < mix.merge_chain
    dup1_ts = signup_ts[merged] + rng.integers(2 * HOUR_MS, 2 * DAY_MS, len(merged))
    m1_ts = dup1_ts + rng.integers(MINUTE_MS, 6 * HOUR_MS, len(merged))
    dup2_ts = m1_ts + rng.integers(2 * HOUR_MS, 2 * DAY_MS, len(merged))
    m2_ts = dup2_ts + rng.integers(MINUTE_MS, 6 * HOUR_MS, len(merged))
    keep1 = m1_ts < ctx.end_ms
    keep2 = chain & keep1 & (m2_ts < ctx.end_ms)
    g1, g2 = merged[keep1], merged[keep2]
    dup_src = np.concatenate([g1, g2])
    dup_ts = np.concatenate([dup1_ts[keep1], dup2_ts[keep2]])
    nd = len(dup_src)
    dup_uid = ids.hex_ids(rng, nd, 8, "usr_")
    dup_devp = rng.choice(3, size=nd)
    dup_anon = ids.uuids(rng, nd)
    dup_dev = ids.uuids(rng, nd, upper=False)
    same_email = rng.random(nd) < 0.5
    dup_email = pl.Series(
        np.where(
            same_email,
            email.gather(dup_src).to_numpy(),
            ids.emails(rng, country.gather(dup_src), np.zeros(nd, bool)).to_numpy(),
        ),
        dtype=pl.String,
    )
    dup_event_id = ids.uuids(rng, nd)
    uid_of_dup1 = dup_uid[: len(g1)]
    # edges: original -> dup1 ; dup1 -> dup2 (a chain A -> B -> C)
    pos_in_g1 = np.searchsorted(g1, g2)
    merges = pl.DataFrame(
        {
            "from_user_id": pl.concat([user_id.gather(g1), uid_of_dup1.gather(pos_in_g1)]),
            "to_user_id": pl.concat([uid_of_dup1, dup_uid[len(g1) :]]),
            "merge_ts": np.concatenate([m1_ts[keep1], m2_ts[keep2]]),
        }
    )
    merges = merges.with_columns(event_id=ids.uuids(rng, merges.height))

    # ---- first rides / orders and purchases ----------------------------------------------------
    conv = rng.random(n) < mix.first_conversion
    late_conv = rng.random(n) < 0.05
    conv_delay = np.where(late_conv, rng.integers(30 * DAY_MS, 45 * DAY_MS, n), _exp_ms(rng, 1.5 * DAY_MS, n))
    conv_ts = signup_ts + conv_delay + 5 * MINUTE_MS
    is_ride = rng.random(n) < 0.7
    currency = country[:n].replace_strict(CURRENCY)
    fx_local = currency.replace_strict(
        {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}, return_dtype=pl.Float64
    ).to_numpy()
    revenue = np.round(
        np.where(is_ride, rng.lognormal(2.6, 0.45, n), rng.lognormal(3.1, 0.4, n)) * fx_local, 2
    )
    conv_i = np.flatnonzero(conv)
    n_purch = rng.poisson(1.2, len(conv_i))
    pur_src = np.repeat(conv_i, n_purch)
    pur_ts = conv_ts[pur_src] + _exp_ms(rng, 3 * DAY_MS, len(pur_src)) + MINUTE_MS
    pur_rev = np.round(rng.lognormal(2.7, 0.5, len(pur_src)) * fx_local[pur_src], 2)

    # ---- SKAN postbacks --------------------------------------------------------------------------------
    skan_p = np.flatnonzero(kind == 3)
    win_ci = main_ci[skan_p].copy()
    last = (t["rank"] == 0) & (kind[paid_idx[t["pid"]]] == 3)
    win_ci_by_pid = np.full(P, -1, dtype=np.int64)
    win_ci_by_pid[paid_idx[t["pid"]][last]] = t["ci"][last]
    win_ci = np.where(win_ci_by_pid[skan_p] >= 0, win_ci_by_pid[skan_p], win_ci)
    sk_signed = is_signer[skan_p]
    sk_conv_before = np.zeros(len(skan_p), dtype=bool)
    sk_rev = np.zeros(len(skan_p))
    sk_rx0 = install_ts[skan_p] + rng.integers(24 * HOUR_MS, 72 * HOUR_MS, len(skan_p))
    signer_mask = skan_p < n
    sp = skan_p[signer_mask]
    sk_conv_before[signer_mask] = conv[sp] & (conv_ts[sp] < sk_rx0[signer_mask] - 6 * HOUR_MS)
    sk_rev[signer_mask] = np.where(sk_conv_before[signer_mask], revenue[sp], 0.0)
    install_date_days = (install_ts[skan_p] // DAY_MS).astype(np.int64)
    cohort = (
        pl.DataFrame({"c": win_ci, "d": install_date_days})
        .select(pl.len().over("c", "d"))
        .to_series()
        .to_numpy()
    )
    thr = mix.skan_privacy_threshold
    cv = (
        sk_signed.astype(np.int64)
        | (sk_conv_before.astype(np.int64) << 1)
        | (np.minimum(15, (sk_rev // 5).astype(np.int64)) << 2)
    )
    cv_null = cohort < thr
    coarse = np.where(sk_conv_before, "high", np.where(sk_signed, "medium", "low"))
    coarse_null = cohort < max(1, thr // 2)
    n_sk = len(skan_p)
    seq1 = rng.random(n_sk) < 0.5
    seq2 = seq1 & (rng.random(n_sk) < 0.6)
    nonwin = rng.random(n_sk) < mix.skan_non_winning
    pb_rx = np.concatenate(
        [
            sk_rx0,
            install_ts[skan_p][seq1] + rng.integers(4 * DAY_MS, 8 * DAY_MS, int(seq1.sum())),
            install_ts[skan_p][seq2] + rng.integers(9 * DAY_MS, 36 * DAY_MS, int(seq2.sum())),
            install_ts[skan_p][nonwin] + rng.integers(24 * HOUR_MS, 72 * HOUR_MS, int(nonwin.sum())),
        ]
    )
    pb_ci = np.concatenate(
        [win_ci, win_ci[seq1], win_ci[seq2], cat.pick(rng, cat.skan_pool, int(nonwin.sum()))]
    )
    pb_seq = np.concatenate(
        [np.zeros(n_sk), np.ones(int(seq1.sum())), np.full(int(seq2.sum()), 2), np.zeros(int(nonwin.sum()))]
    ).astype(np.int64)
    pb_win = np.concatenate(
        [np.ones(n_sk + int(seq1.sum()) + int(seq2.sum()), bool), np.zeros(int(nonwin.sum()), bool)]
    )
    nn = int(nonwin.sum())
    pb_cv = np.concatenate([np.where(cv_null, -1, cv), np.full(int(seq1.sum()) + int(seq2.sum()) + nn, -1)])
    pb_coarse = np.concatenate(
        [
            np.where(coarse_null, None, coarse),
            np.where(coarse_null, None, coarse)[seq1],
            np.where(coarse_null, None, coarse)[seq2],
            np.full(nn, None),
        ]
    )
    pb_platform = cat.platform.gather(pb_ci)
    skan_events = pl.DataFrame(
        {
            "event_id": ids.uuids(rng, len(pb_rx)),
            "postback_id": ids.uuids(rng, len(pb_rx)),
            "ad_network_id": pb_platform.replace_strict(SKAN_NETWORKS),
            "platform": pb_platform,
            "source_identifier": source_identifier(cat.campaign_id.gather(pb_ci)),
            "conversion_value": pl.Series(pb_cv, dtype=pl.Int64).replace(-1, None),
            "coarse_conversion_value": _strs(pb_coarse),
            "postback_sequence": pb_seq,
            "did_win": pb_win,
            "_ts": pb_rx,
            "_trel": np.ones(len(pb_rx), dtype=bool),
        }
    )
    skan_truth = pl.DataFrame(
        {
            "install_ts": install_ts[skan_p],
            "platform": cat.platform.gather(win_ci),
            "campaign_id": cat.campaign_id.gather(win_ci),
            "signed_up": sk_signed,
            "received_ts": sk_rx0,
        }
    )

    # ---- non-converting traffic: web visitors and MMP devices that never install ---------------------
    conv_landings = int(t_web.sum()) + int((devp[:n] == 0).sum())
    n_land = max(0, round(mix.landings_per_day * ctx.scale * wd_factor / parts) - conv_landings)
    vk = np.minimum(rng.geometric(0.6, max(1, int(n_land / 1.67))), 5)
    v_n = len(vk)
    v_pid = np.repeat(np.arange(v_n), vk)
    vm = len(v_pid)
    v_paid = (rng.random(v_n) < mix.visitor_paid)[v_pid]
    v_ci = np.where(
        rng.random(vm) < 0.6, np.repeat(cat.pick(rng, cat.web_pool, v_n), vk), cat.pick(rng, cat.web_pool, vm)
    )
    v_ad = cat.pick_ads(rng, v_ci)
    v_ts = _diurnal(rng, day0, vm)
    v_os = rng.choice(3, size=v_n, p=BROWSER_OS_P)[v_pid]
    v_strip = v_paid & (v_os == 0) & (rng.random(vm) < cfg.dirt.ios_missing_utm)
    v_anon = ids.uuids(rng, v_n).gather(v_pid)

    conv_mmp = int(((~t_web) & t_visible).sum())
    n_mmp = max(0, round(mix.mmp_touches_per_day * ctx.scale * wd_factor / parts) - conv_mmp)
    dk = np.minimum(rng.geometric(0.5, max(1, n_mmp // 2)), 5)
    d_n = len(dk)
    d_pid = np.repeat(np.arange(d_n), dk)
    dm = len(d_pid)
    d_ios = rng.random(d_n) < 0.45
    d_dev = pl.Series(
        np.where(d_ios, ids.uuids(rng, d_n, upper=True).to_numpy(), ids.uuids(rng, d_n).to_numpy()),
        dtype=pl.String,
    )
    d_ci = np.where(
        rng.random(dm) < 0.6, np.repeat(cat.pick(rng, cat.app_pool, d_n), dk), cat.pick(rng, cat.app_pool, dm)
    )
    d_ts = np.repeat(_diurnal(rng, day0, d_n), dk) - _group_rank(dk) * rng.integers(
        MINUTE_MS, 6 * HOUR_MS, dm
    )
    d_view = rng.random(dm) < mix.device_view_share
    d_spam = np.zeros(dm, dtype=bool)
    dburst = np.flatnonzero(rng.random(d_n) < cfg.dirt.spam_burst)
    dbk = rng.integers(6, 11, len(dburst))
    db_pid = np.repeat(dburst, dbk)
    db_ts = np.repeat(_diurnal(rng, day0, len(dburst)), dbk) + rng.integers(0, 50 * SECOND_MS, len(db_pid))
    d_pid = np.concatenate([d_pid, db_pid])
    d_ci = np.concatenate([d_ci, np.repeat(cat.pick(rng, cat.app_pool, len(dburst)), dbk)])
    d_ts = np.concatenate([d_ts, db_ts])
    d_view = np.concatenate([d_view, np.zeros(len(db_pid), bool)])
    d_spam = np.concatenate([d_spam, np.ones(len(db_pid), bool)])
    d_ad = cat.pick_ads(rng, d_ci)

    # ---- events -----------------------------------------------------------------------------------
    events: list[tuple[str, pl.DataFrame]] = []
    web_t = np.flatnonzero(t_web)
    events.append(
        (
            "landing",
            _landings(
                ctx,
                rng,
                cat,
                anon_id.gather(t_pid[web_t]),
                t_ts[web_t],
                t_ci[web_t],
                t_ad[web_t],
                ios_strip[web_t],
                browser_os[t_pid[web_t]],
                t_event_id.gather(web_t),
                np.ones(len(web_t), bool),
                np.ones(len(web_t), bool),
            ),
        )
    )
    events.append(
        (
            "landing",
            _landings(
                ctx,
                rng,
                cat,
                v_anon,
                v_ts,
                v_ci,
                v_ad,
                v_strip,
                v_os,
                ids.uuids(rng, vm),
                v_paid,
                np.zeros(vm, bool),
            ),
        )
    )
    # direct (non-ad) landings right before web sign-ups: organic users, and 30% of paid users returning
    web_signers = np.flatnonzero((devp[:n] == 0) & ((kind[:n] == 0) | (rng.random(n) < 0.3)))
    nw = len(web_signers)
    events.append(
        (
            "landing",
            _landings(
                ctx,
                rng,
                cat,
                anon_id.gather(web_signers),
                signup_ts[web_signers] - rng.integers(20 * SECOND_MS, 20 * MINUTE_MS, nw),
                np.zeros(nw, np.int64),
                np.full(nw, -1),
                np.zeros(nw, bool),
                browser_os[web_signers],
                ids.uuids(rng, nw),
                np.zeros(nw, bool),
                np.ones(nw, bool),
            ),
        )
    )
    app_t = np.flatnonzero((~t_web) & t_visible)
    events.append(
        (
            "mmp_touch",
            _mmp_touches(
                rng,
                cat,
                device_id.gather(t_pid[app_t]),
                t_ts[app_t],
                t_ci[app_t],
                t_ad[app_t],
                t_type_view[app_t],
                t_event_id.gather(app_t),
                np.ones(len(app_t), bool),
            ),
        )
    )
    events.append(
        (
            "mmp_touch",
            _mmp_touches(
                rng,
                cat,
                d_dev.gather(d_pid),
                d_ts,
                d_ci,
                d_ad,
                d_view,
                ids.uuids(rng, len(d_pid)),
                np.zeros(len(d_pid), bool),
            ),
        )
    )
    inst = np.flatnonzero(app)
    events.append(
        (
            "app_install",
            pl.DataFrame(
                {
                    "event_id": ids.uuids(rng, len(inst)),
                    "device_id": device_id.gather(inst),
                    "device_platform": pl.Series(DEVICE_PLATFORMS).gather(devp[inst]),
                    "_ts": install_ts[inst],
                    "_trel": np.ones(len(inst), bool),
                }
            ),
        )
    )
    dev_platform = pl.Series(DEVICE_PLATFORMS).gather(devp[:n])
    sign = pl.DataFrame(
        {
            "event_id": signup_event_id,
            "user_id": user_id,
            "anonymous_id": anon_id[:n],
            "device_id": device_id[:n],
            "device_platform": dev_platform,
            "country": country[:n],
            "email": email,
            "phone": phone,
            "is_test_account": is_test,
            "_ts": signup_ts,
            "_trel": np.ones(n, bool),
            "_web": devp[:n] == 0,
        }
    )
    dup_country = country.gather(dup_src)
    dup_sign = pl.DataFrame(
        {
            "event_id": dup_event_id,
            "user_id": dup_uid,
            "anonymous_id": dup_anon,
            "device_id": dup_dev,
            "device_platform": pl.Series(DEVICE_PLATFORMS).gather(dup_devp),
            "country": dup_country,
            "email": dup_email,
            "phone": phone.gather(dup_src),
            "is_test_account": np.zeros(nd, bool),
            "_ts": dup_ts,
            "_trel": np.ones(nd, bool),
            "_web": dup_devp == 0,
        }
    )
    all_sign = pl.concat([sign, dup_sign])
    events.append(("user_signup", all_sign.filter("_web").drop("device_id", "_web")))
    events.append(("user_signup", all_sign.filter(~pl.col("_web")).drop("anonymous_id", "_web")))
    dup_app = np.flatnonzero(dup_devp > 0)
    events.append(
        (
            "app_install",
            pl.DataFrame(
                {
                    "event_id": ids.uuids(rng, len(dup_app)),
                    "device_id": dup_dev.gather(dup_app),
                    "device_platform": pl.Series(DEVICE_PLATFORMS).gather(dup_devp[dup_app]),
                    "_ts": dup_ts[dup_app] - rng.integers(MINUTE_MS, 30 * MINUTE_MS, len(dup_app)),
                    "_trel": np.ones(len(dup_app), bool),
                }
            ),
        )
    )
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
    for etype, mask in (("first_ride", conv & is_ride), ("first_order", conv & ~is_ride)):
        i = np.flatnonzero(mask)
        events.append(
            (
                etype,
                pl.DataFrame(
                    {
                        "event_id": ids.uuids(rng, len(i)),
                        "user_id": user_id.gather(i),
                        "revenue": revenue[i],
                        "currency": currency.gather(i),
                        "_ts": conv_ts[i],
                        "_trel": np.ones(len(i), bool),
                    }
                ),
            )
        )
    events.append(
        (
            "purchase",
            pl.DataFrame(
                {
                    "event_id": ids.uuids(rng, len(pur_src)),
                    "user_id": user_id.gather(pur_src),
                    "revenue": pur_rev,
                    "currency": currency.gather(pur_src),
                    "_ts": pur_ts,
                    "_trel": np.ones(len(pur_src), bool),
                }
            ),
        )
    )
    events.append(("skan_postback", skan_events))

    # ---- truth pieces ---------------------------------------------------------------------------
    identities = pl.concat(
        [
            sign.select(
                "user_id",
                "event_id",
                "device_platform",
                "country",
                "email",
                "phone",
                pl.col("is_test_account").alias("is_test"),
                pl.col("_ts").alias("signup_ts"),
            ),
            dup_sign.select(
                "user_id",
                "event_id",
                "device_platform",
                "country",
                "email",
                "phone",
                pl.col("is_test_account").alias("is_test"),
                pl.col("_ts").alias("signup_ts"),
            ),
        ]
    )
    t_ad_safe = np.where(t_ad < 0, 0, t_ad)
    touches = pl.DataFrame(
        {
            "person": t_pid.astype(np.int64),
            "user_id": _str_or_null(user_id, np.where(t_pid < n, t_pid, -1)),
            "touch_ts": t_ts,
            "touch_type": np.where(t_type_view, "view", "click"),
            "platform": t_platform,
            "campaign_id": cat.campaign_id.gather(t_ci),
            "ad_group_id": _str_or_null(cat.ad_group_id, np.where(t_ad < 0, -1, t_ad_safe)),
            "ad_id": _str_or_null(cat.ad_id, np.where(t_ad < 0, -1, t_ad_safe)),
            "channel": t_channel,
            "visible": t_visible,
            "is_spam": t_spam_rule | t_spam,
            "event_id": _str_or_null(t_event_id, np.where(t_visible, np.arange(m), -1)),
        }
    )
    attribution = _last_touch(
        touches.filter(pl.col("person") < n), signup_ts, user_id, kind[:n], ctx.start_ms
    )
    conversions = pl.DataFrame(
        {
            "user_id": user_id.gather(conv_i),
            "first_conversion_type": np.where(is_ride[conv_i], "first_ride", "first_order"),
            "first_conversion_ts": conv_ts[conv_i],
            "first_revenue": revenue[conv_i],
            "first_revenue_currency": currency.gather(conv_i),
        }
    )
    extra_touches = {
        "web_visitors": (v_ts, v_ci, v_ad, v_paid & ~v_strip, v_anon),
        "devices": (d_ts, d_ci, d_ad, d_view, d_spam, d_dev.gather(d_pid)),
    }
    out = DayOutput(
        events,
        identities,
        merges.select("from_user_id", "to_user_id", "merge_ts"),
        touches,
        attribution,
        skan_truth,
        conversions,
    )
    out.extra = extra_touches  # type: ignore[attr-defined]  # for the benchmark Parquet output
    return out


def _spam_rule(pid: np.ndarray, ts: np.ndarray, mmp_click: np.ndarray, install_ts: np.ndarray) -> np.ndarray:
    """CONTRACTS click spam: a click < 10 s before its device's install, or 6+ clicks within 60 s."""
    out = np.zeros(len(pid), dtype=bool)
    idx = np.flatnonzero(mmp_click)
    if len(idx) == 0:
        return out
    inst = install_ts[pid[idx]]
    before = inst - ts[idx]
    out[idx[(inst >= 0) & (before >= 0) & (before < 10 * SECOND_MS)]] = True
    order = np.lexsort((ts[idx], pid[idx]))
    sp, st = pid[idx][order], ts[idx][order]
    if len(sp) > 5:
        hit = (sp[5:] == sp[:-5]) & (st[5:] - st[:-5] < 60 * SECOND_MS)
        mark = np.zeros(len(sp) + 1, dtype=np.int64)
        h = np.flatnonzero(hit)
        np.add.at(mark, h, 1)
        np.add.at(mark, h + 6, -1)
        burst = np.cumsum(mark)[:-1] > 0
        out[idx[order[burst]]] = True
    return out


def _last_touch(
    touches: pl.DataFrame, signup_ts: np.ndarray, user_id: pl.Series, kind: np.ndarray, start_ms: int
) -> pl.DataFrame:
    """The correct last-touch answer per sign-up, from the touches a pipeline can see.

    Eligible: visible, not spam, at or after the world's start, before the sign-up; clicks up to
    7 days before it, views up to 1 day. Any eligible click beats every view; among the winners
    the latest ``touch_ts`` wins and a tie goes to the smallest touch ``event_id``.
    """
    n = len(signup_ts)
    s = pl.DataFrame({"person": np.arange(n, dtype=np.int64), "signup_ts": signup_ts})
    el = (
        touches.join(s, on="person")
        .with_columns(age=pl.col("signup_ts") - pl.col("touch_ts"))
        .filter(
            pl.col("visible")
            & ~pl.col("is_spam")
            & (pl.col("touch_ts") >= start_ms)
            & (pl.col("age") > 0)
            & (pl.col("age") <= pl.when(pl.col("touch_type") == "click").then(7 * DAY_MS).otherwise(DAY_MS))
        )
        .sort(["person", "touch_type", "touch_ts", "event_id"], descending=[False, False, True, False])
        .unique("person", keep="first", maintain_order=True)
    )
    reason = np.where(kind == 0, "organic", np.where(kind == 3, "skan_only", "no_touch_in_window"))
    base = pl.DataFrame({"person": np.arange(n, dtype=np.int64), "user_id": user_id, "reason": reason})
    res = base.join(
        el.select(
            "person",
            "platform",
            "campaign_id",
            "ad_group_id",
            "ad_id",
            "touch_ts",
            "touch_type",
            pl.col("event_id").alias("touch_event_id"),
        ),
        on="person",
        how="left",
    )
    return res.with_columns(
        reason=pl.when(pl.col("campaign_id").is_not_null()).then(pl.lit("attributed")).otherwise("reason")
    ).sort("person")


def _landings(
    ctx: WorldCtx,
    rng: np.random.Generator,
    cat: Catalog,
    anon: pl.Series,
    ts: np.ndarray,
    ci: np.ndarray,
    ad: np.ndarray,
    strip: np.ndarray,
    browser_os: np.ndarray,
    event_id: pl.Series,
    paid: np.ndarray,
    trel: np.ndarray,
) -> pl.DataFrame:
    """``landing`` events; UTMs and click ids where ``paid`` and not stripped (iOS link tracking protection)."""
    k = len(ts)
    tagged = paid & ~strip
    platform = cat.platform.gather(ci).to_numpy() if k else np.array([], dtype=object)
    src = np.full(k, None, dtype=object)
    click = {name: np.full(k, None, dtype=object) for name, _ in CLICK_ID.values()}
    for plat in WEB_PLATFORMS:
        sel = tagged & (platform == plat)
        cnt = int(sel.sum())
        if not cnt:
            continue
        variants = UTM_SOURCES[plat]
        src[sel] = np.array(variants, dtype=object)[rng.integers(0, len(variants), cnt)]
        if plat in CLICK_ID:
            name, prefix = CLICK_ID[plat]
            click[name][sel] = ids.token(rng, cnt, 40, prefix).to_numpy()
    has_click = tagged & np.isin(platform, list(CLICK_ID))
    src[has_click & (rng.random(k) < ctx.cfg.dirt.missing_utm_source)] = None
    medium_arr = (
        pl.Series(platform if k else [], dtype=pl.String)
        .replace_strict({p: UTM_MEDIUM[p] for p in WEB_PLATFORMS}, default=None)
        .to_numpy()
    )
    content = _str_or_null(cat.ad_id, ad).to_numpy() if k else np.array([], dtype=object)
    impact = platform == "impact"
    if impact.any():
        content = np.where(
            impact, cat.partner_ids.gather(rng.integers(0, len(cat.partner_ids), k)).to_numpy(), content
        )
    term = np.where(platform == "google_ads", "streamride", None)
    campaign = cat.campaign_id.gather(ci).to_numpy() if k else np.array([], dtype=object)

    def nul(a: np.ndarray) -> pl.Series:
        return _strs(np.where(tagged, a, None))

    return pl.DataFrame(
        {
            "event_id": event_id,
            "anonymous_id": anon,
            "utm_source": _strs(src),
            "utm_medium": nul(medium_arr),
            "utm_campaign": nul(campaign),
            "utm_content": nul(content),
            "utm_term": nul(term),
            "gclid": _strs(click["gclid"]),
            "fbclid": _strs(click["fbclid"]),
            "ttclid": _strs(click["ttclid"]),
            "user_agent": pl.Series(USER_AGENTS).gather(browser_os),
            "_ts": ts,
            "_trel": trel,
        }
    )


def _mmp_touches(
    rng: np.random.Generator,
    cat: Catalog,
    device: pl.Series,
    touch_ts: np.ndarray,
    ci: np.ndarray,
    ad: np.ndarray,
    view: np.ndarray,
    event_id: pl.Series,
    trel: np.ndarray,
) -> pl.DataFrame:
    """``mmp_touch`` callbacks: the MMP emits each touch 1-90 s after it happened."""
    k = len(touch_ts)
    emit = touch_ts + rng.integers(SECOND_MS, 90 * SECOND_MS, k)
    return pl.DataFrame(
        {
            "event_id": event_id,
            "device_id": device,
            "platform": cat.platform.gather(ci),
            "campaign_id": cat.campaign_id.gather(ci),
            "ad_group_id": _str_or_null(cat.ad_group_id, ad),
            "ad_id": _str_or_null(cat.ad_id, ad),
            "touch_type": np.where(view, "view", "click"),
            "touch_ts": touch_ts,
            "_ts": emit,
            "_trel": trel,
        }
    )


__all__ = ["APP_PLATFORMS", "PLATFORMS", "Catalog", "DayOutput", "WorldCtx", "simulate_day"]
