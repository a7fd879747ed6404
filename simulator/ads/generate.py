"""Generate the ad side of a world: hourly delivery per ad, Impact actions, FX, metadata changes.

Everything is drawn per account with its own random stream, vectorised over (unit x hour)
grids, so a scale-1.0 day is ~750K cells drawn in a few numpy calls. The files written are
the *final* values plus what the server needs to derive every earlier version of a report
(row kinds and row ids feeding a deterministic hash), see :mod:`simulator.ads.state`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from simulator import incidents as inc
from simulator.ads.budgets import world_budgets, write_budgets
from simulator.ads.common import (
    CELL_PLATFORMS,
    CENT_MICROS,
    DEFAULT_RESTATEMENT_DAYS,
    KIND_INVALID,
    KIND_NORMAL,
    KIND_VOIDED,
    local_midnight_utc,
    to_epoch,
)
from simulator.ads.fx import generate_fx
from simulator.entities import Entities, build_entities

# Share of the world's daily impressions per platform, and per-platform unit economics (USD).
# Scale 1.0 totals: ~150M impressions, ~6M clicks, ~200K conversions a day.
IMPRESSIONS_PER_DAY = 150_000_000
PLATFORM_SHARE = {"google_ads": 0.40, "meta_ads": 0.32, "tiktok_ads": 0.20, "apple_search_ads": 0.08}
CTR = {"google_ads": 0.044, "meta_ads": 0.025, "tiktok_ads": 0.021, "apple_search_ads": 0.064}
CVR = {"google_ads": 0.028, "meta_ads": 0.026, "tiktok_ads": 0.022, "apple_search_ads": 0.040}
# Google and Apple bill per click, Meta and TikTok per thousand impressions.
CPC_USD = {"google_ads": 1.15, "apple_search_ads": 1.60}
CPM_USD = {"meta_ads": 7.5, "tiktok_ads": 4.2}
USD_TO_LOCAL = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}
IMPACT_ACTIONS_PER_DAY = 8_000
MARKET_SHARE_US = 0.6

# Local-hour shape (peaks at the morning commute and evening) and weekday shape (Mon..Sun).
HOUR_SHAPE = np.array(
    [
        0.35,
        0.25,
        0.18,
        0.15,
        0.15,
        0.2,
        0.4,
        0.7,
        1.0,
        1.05,
        1.0,
        1.05,
        1.15,
        1.1,
        1.05,
        1.05,
        1.15,
        1.35,
        1.55,
        1.65,
        1.6,
        1.4,
        1.0,
        0.6,
    ]
)
HOUR_SHAPE = HOUR_SHAPE / HOUR_SHAPE.sum()
WEEK_SHAPE = np.array([0.92, 0.94, 0.97, 1.0, 1.1, 1.12, 1.0])
WEEK_SHAPE = WEEK_SHAPE / WEEK_SHAPE.mean()

INVALID_RATE = 0.004  # cells later refunded as invalid traffic (vanish from later versions)
# Share of a TikTok advertiser's ads deleted during the world (at least one per advertiser):
# a deleted ad stops delivering; what it spent before stays spent (and in the truth), but
# TikTok's reports leave its statistics out unless asked for ad_status STATUS_ALL.
DELETED_AD_SHARE = {"tiktok_ads": 0.05}


def platform_tables(ents: Entities, platform: str) -> dict[str, pl.DataFrame]:
    """The entity tables of one platform, in ``build_entities`` order (row index = *_idx in state)."""
    return {
        "accounts": ents.accounts.filter(pl.col("platform") == platform),
        "campaigns": ents.campaigns.filter(pl.col("platform") == platform),
        "ad_groups": ents.ad_groups.filter(pl.col("platform") == platform)
        if ents.ad_groups.height
        else ents.ad_groups,
        "ads": ents.ads.filter(pl.col("platform") == platform) if ents.ads.height else ents.ads,
    }


def world_window(start: date, days: int, ents: Entities) -> tuple[int, int]:
    """(first, end) epoch seconds covering every account's local days [start, start + days)."""
    tzs = ents.accounts["time_zone"].unique().to_list()
    first = min(local_midnight_utc(start, tz) for tz in tzs)
    end = max(local_midnight_utc(start + timedelta(days=days), tz) for tz in tzs)
    return first, end


def entity_changes(ents: Entities, seed: int, start: date, days: int) -> pl.DataFrame:
    """Metadata changes during the world: campaign renames, pauses/resumes, ad groups moved.

    Columns: platform, account_id, entity_type (campaign|ad_group|ad), entity_id, field
    (name|status|campaign_id), value, effective_ts (epoch seconds, whole UTC hours).
    A paused campaign delivers nothing until resumed; a moved ad group's later spend is
    reported under its new campaign; a deleted ad (status DELETED, TikTok only) delivers
    nothing after its deletion.
    """
    rng = np.random.default_rng([seed, 11])
    w0 = to_epoch(datetime(start.year, start.month, start.day, tzinfo=UTC))
    span_h = max(days * 24, 2)
    rows: list[dict[str, object]] = []
    for acc in ents.accounts.iter_rows(named=True):
        platform, account = acc["platform"], acc["account_id"]
        camps = ents.campaigns.filter(pl.col("account_id") == account)["campaign_id"].to_list()
        names = ents.campaigns.filter(pl.col("account_id") == account)["campaign_name"].to_list()
        if len(camps) < 2:
            continue
        order = rng.permutation(len(camps))
        t_rename = w0 + 3600 * int(rng.integers(1, span_h))
        c = int(order[0])
        rows.append(_chg(platform, account, "campaign", camps[c], "name", names[c] + "_v2", t_rename))
        if platform == "impact":
            continue
        c = int(order[1])
        t_pause = w0 + 3600 * int(rng.integers(1, max(2, span_h // 2)))
        t_resume = t_pause + 3600 * int(rng.integers(6, 31))
        rows.append(_chg(platform, account, "campaign", camps[c], "status", "PAUSED", t_pause))
        rows.append(_chg(platform, account, "campaign", camps[c], "status", "ENABLED", t_resume))
        groups = ents.ad_groups.filter(pl.col("account_id") == account)
        g = int(rng.integers(groups.height))
        old = groups["campaign_id"][g]
        new = (
            camps[int(order[2 % len(camps)])]
            if camps[int(order[2 % len(camps)])] != old
            else camps[int(order[0])]
        )
        if new == old:
            new = next(x for x in camps if x != old)
        t_move = w0 + 3600 * int(rng.integers(1, span_h))
        rows.append(_chg(platform, account, "ad_group", groups["ad_group_id"][g], "campaign_id", new, t_move))
    rows.extend(_ad_deletions(ents, seed, w0, span_h))
    schema = {
        "platform": pl.String,
        "account_id": pl.String,
        "entity_type": pl.String,
        "entity_id": pl.String,
        "field": pl.String,
        "value": pl.String,
        "effective_ts": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").sort(
        "effective_ts", "platform", "entity_id", "field"
    )


def _ad_deletions(ents: Entities, seed: int, w0: int, span_h: int) -> list[dict[str, object]]:
    """Ads deleted during the world (platforms in DELETED_AD_SHARE), after a quarter of it has passed.

    Drawn from their own random stream, so no other platform's draws change.
    """
    rng = np.random.default_rng([seed, 12])
    rows: list[dict[str, object]] = []
    for acc in ents.accounts.iter_rows(named=True):
        share = DELETED_AD_SHARE.get(acc["platform"])
        if share is None:
            continue
        ads = ents.ads.filter(pl.col("account_id") == acc["account_id"])["ad_id"].to_list()
        n = min(len(ads), max(1, round(share * len(ads))))
        for i in sorted(rng.choice(len(ads), size=n, replace=False).tolist()):
            ts = w0 + 3600 * int(rng.integers(max(1, span_h // 4), span_h))
            rows.append(_chg(acc["platform"], acc["account_id"], "ad", ads[i], "status", "DELETED", ts))
    return rows


def _chg(
    platform: str, account: str, etype: str, eid: str, field: str, value: str, ts: int
) -> dict[str, object]:
    return {
        "platform": platform,
        "account_id": account,
        "entity_type": etype,
        "entity_id": eid,
        "field": field,
        "value": value,
        "effective_ts": ts,
    }


def _hour_grid(tz: str, start: date, days: int) -> dict[str, np.ndarray]:
    """Local (date, hour) cells of local days [start, start+days) with their earliest UTC hour.

    Platforms report in the account's wall-clock hours: a spring-forward day has 23 cells,
    a fall-back day 24 cells of which the repeated hour covers two real hours (``n_hours``).
    """
    zone = ZoneInfo(tz)
    t0 = local_midnight_utc(start, tz)
    t1 = local_midnight_utc(start + timedelta(days=days), tz)
    seen: dict[tuple[int, int], int] = {}
    utc: list[int] = []
    nh: list[int] = []
    ld: list[int] = []
    lh: list[int] = []
    for t in range(t0, t1, 3600):
        loc = datetime.fromtimestamp(t, UTC).astimezone(zone)
        key = ((loc.date() - date(1970, 1, 1)).days, loc.hour)
        if key in seen:
            nh[seen[key]] += 1
            continue
        seen[key] = len(utc)
        utc.append(t)
        nh.append(1)
        ld.append(key[0])
        lh.append(key[1])
    return {
        "utc_start": np.array(utc, dtype=np.int64),
        "n_hours": np.array(nh, dtype=np.int8),
        "local_day": np.array(ld, dtype=np.int32),
        "local_hour": np.array(lh, dtype=np.int8),
    }


def _units(tables: dict[str, pl.DataFrame], platform: str, account: str) -> dict[str, np.ndarray]:
    """Delivery units of an account (ads; Apple: ad groups) with their entity indexes and weights."""
    camps = tables["campaigns"]
    c_index = {cid: i for i, cid in enumerate(camps["campaign_id"].to_list())}
    g_index = {gid: i for i, gid in enumerate(tables["ad_groups"]["ad_group_id"].to_list())}
    budget = dict(zip(camps["campaign_id"].to_list(), camps["daily_budget"].to_list(), strict=True))
    if platform == "apple_search_ads":
        groups = tables["ad_groups"].with_row_index("gidx").filter(pl.col("account_id") == account)
        camp_ids = groups["campaign_id"].to_list()
        weight = np.array([budget[c] for c in camp_ids]) / np.array(
            [sum(1 for x in camp_ids if x == c) for c in camp_ids]
        )
        return {
            "unit": groups["gidx"].to_numpy().astype(np.int32),
            "campaign_idx": np.array([c_index[c] for c in camp_ids], dtype=np.int32),
            "ad_group_idx": groups["gidx"].to_numpy().astype(np.int32),
            "weight": weight,
        }
    ads = tables["ads"].with_row_index("aidx").filter(pl.col("account_id") == account)
    camp_ids = ads["campaign_id"].to_list()
    per_campaign = {c: camp_ids.count(c) for c in set(camp_ids)}
    weight = np.array([budget[c] / per_campaign[c] for c in camp_ids]) * ads["weight"].to_numpy() * 8
    return {
        "unit": ads["aidx"].to_numpy().astype(np.int32),
        "campaign_idx": np.array([c_index[c] for c in camp_ids], dtype=np.int32),
        "ad_group_idx": np.array([g_index[g] for g in ads["ad_group_id"].to_list()], dtype=np.int32),
        "weight": weight,
    }


def _account_cells(
    platform: str,
    acc: dict[str, object],
    acc_idx: int,
    tables: dict[str, pl.DataFrame],
    changes: pl.DataFrame,
    seed: int,
    scale: float,
    start: date,
    days: int,
) -> pl.DataFrame:
    """Every (unit, local date, local hour) cell of one account, with final metrics."""
    account, tz, currency = str(acc["account_id"]), str(acc["time_zone"]), str(acc["currency"])
    rng = np.random.default_rng([seed, 20, acc_idx])
    units = _units(tables, platform, account)
    grid = _hour_grid(tz, start, days)
    n_u, n_h = len(units["unit"]), len(grid["utc_start"])
    # one row per (unit, hour): unit-major
    u_rep = np.repeat(np.arange(n_u), n_h)
    h_til = np.tile(np.arange(n_h), n_u)
    lam = _expected_impressions(rng, platform, acc, tables, units, grid, scale, u_rep, h_til)
    camp = units["campaign_idx"][u_rep]
    group = units["ad_group_idx"][u_rep]
    utc = grid["utc_start"][h_til]
    mine = changes.filter(pl.col("account_id") == account)
    camp = _apply_changes(mine, tables, lam, camp, group, utc)
    _apply_deletions(mine, tables, lam, units["unit"][u_rep], utc)
    imps, clicks, conv, spend_micros = _delivery(rng, platform, currency, lam, n_u, u_rep)
    df = pl.DataFrame(
        {
            "account_idx": np.full(n_u * n_h, acc_idx, dtype=np.int16),
            "unit_idx": units["unit"][u_rep],
            "campaign_idx": camp.astype(np.int32),
            "ad_group_idx": group.astype(np.int32),
            "local_day": grid["local_day"][h_til],
            "local_hour": grid["local_hour"][h_til],
            "utc_start": utc,
            "n_hours": grid["n_hours"][h_til],
            "impressions": imps.astype(np.int64),
            "clicks": clicks.astype(np.int64),
            "conversions": conv.astype(np.int64),
            "spend_micros": spend_micros,
        }
    ).filter((pl.col("impressions") > 0) | (pl.col("spend_micros") > 0))
    return df


def _expected_impressions(
    rng: np.random.Generator,
    platform: str,
    acc: dict[str, object],
    tables: dict[str, pl.DataFrame],
    units: dict[str, np.ndarray],
    grid: dict[str, np.ndarray],
    scale: float,
    u_rep: np.ndarray,
    h_til: np.ndarray,
) -> np.ndarray:
    """Expected impressions per (unit, hour): the account's market share, unit weights, day and hour shape."""
    share = MARKET_SHARE_US if acc["market"] == "US" else None
    if share is None:
        n_other = int((tables["accounts"]["market"] != "US").sum())
        share = (1 - MARKET_SHARE_US) / max(n_other, 1)
    daily_imps = IMPRESSIONS_PER_DAY * scale * PLATFORM_SHARE[platform] * share
    w = units["weight"] * rng.lognormal(0.0, 0.5, size=len(units["unit"]))
    w = w / w.sum()
    day_idx = (grid["local_day"] - grid["local_day"].min()).astype(np.int64)
    weekday = (grid["local_day"].astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    hour_factor = HOUR_SHAPE[grid["local_hour"]] * WEEK_SHAPE[weekday] * grid["n_hours"]
    n_camp = tables["campaigns"].height
    camp_day = rng.lognormal(0.0, 0.15, size=(n_camp, int(day_idx.max()) + 1))
    camp = units["campaign_idx"][u_rep]
    lam: np.ndarray = daily_imps * w[u_rep] * hour_factor[h_til] * camp_day[camp, day_idx[h_til]]
    return lam


def _apply_changes(
    mine: pl.DataFrame,
    tables: dict[str, pl.DataFrame],
    lam: np.ndarray,
    camp: np.ndarray,
    group: np.ndarray,
    utc: np.ndarray,
) -> np.ndarray:
    """Apply an account's metadata changes: zero ``lam`` while a campaign is paused (in place) and
    return the campaign index per cell after ad groups moved."""
    c_index = {c: i for i, c in enumerate(tables["campaigns"]["campaign_id"].to_list())}
    g_index = {g: i for i, g in enumerate(tables["ad_groups"]["ad_group_id"].to_list())}
    # A paused campaign delivers nothing until it is resumed.
    pauses = mine.filter((pl.col("entity_type") == "campaign") & (pl.col("field") == "status"))
    for cid, grp in pauses.group_by("entity_id", maintain_order=True):
        events = grp.sort("effective_ts").select("value", "effective_ts").rows()
        paused_since = None
        for value, ts in [*events, ("ENABLED", None)]:
            if value == "PAUSED" and paused_since is None:
                paused_since = ts
            elif value != "PAUSED" and paused_since is not None:
                stop = np.iinfo(np.int64).max if ts is None else ts
                lam[(camp == c_index[str(cid[0])]) & (utc >= paused_since) & (utc < stop)] = 0.0
                paused_since = None
    # Spend after an ad group moved is reported under its new campaign.
    for row in mine.filter(pl.col("field") == "campaign_id").iter_rows(named=True):
        sel = (group == g_index[row["entity_id"]]) & (utc >= row["effective_ts"])
        camp = np.where(sel, c_index[row["value"]], camp)
    return camp


def _apply_deletions(
    mine: pl.DataFrame, tables: dict[str, pl.DataFrame], lam: np.ndarray, ad: np.ndarray, utc: np.ndarray
) -> None:
    """A deleted ad delivers nothing from its deletion on: zero its ``lam`` (in place).

    ``ad`` is each cell's row index in the platform's ads table.
    """
    deleted = mine.filter(
        (pl.col("entity_type") == "ad") & (pl.col("field") == "status") & (pl.col("value") == "DELETED")
    )
    if deleted.is_empty():
        return
    a_index = {a: i for i, a in enumerate(tables["ads"]["ad_id"].to_list())}
    for ad_id, ts in deleted.select("entity_id", "effective_ts").iter_rows():
        lam[(ad == a_index[ad_id]) & (utc >= ts)] = 0.0


def _delivery(
    rng: np.random.Generator, platform: str, currency: str, lam: np.ndarray, n_u: int, u_rep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(impressions, clicks, conversions, spend micros) per cell, with per-unit CTR, CVR and price."""
    imps = rng.poisson(lam)
    ctr = np.clip(CTR[platform] * rng.lognormal(0.0, 0.3, size=n_u), 0.002, 0.3)
    clicks = rng.binomial(imps, ctr[u_rep])
    cvr = np.clip(CVR[platform] * rng.lognormal(0.0, 0.3, size=n_u), 0.001, 0.5)
    conv = rng.binomial(clicks, cvr[u_rep])
    fx = USD_TO_LOCAL[currency]
    noise = rng.lognormal(0.0, 0.1, size=len(lam))
    if platform in CPC_USD:
        price = CPC_USD[platform] * fx * rng.lognormal(0.0, 0.25, size=n_u)
        spend = clicks * price[u_rep] * noise
    else:
        price = CPM_USD[platform] * fx * rng.lognormal(0.0, 0.25, size=n_u)
        spend = imps * price[u_rep] / 1000.0 * noise
    spend_micros = np.round(spend * 100).astype(np.int64) * CENT_MICROS
    return imps, clicks, conv, spend_micros


def generate_cells(
    platform: str, ents: Entities, changes: pl.DataFrame, seed: int, scale: float, start: date, days: int
) -> pl.DataFrame:
    """All cells of a platform (see :func:`_account_cells`) with row ids and row kinds."""
    tables = platform_tables(ents, platform)
    frames = [
        _account_cells(platform, acc, i, tables, changes, seed, scale, start, days)
        for i, acc in enumerate(tables["accounts"].iter_rows(named=True))
    ]
    df = pl.concat(frames).with_columns(pl.col("local_day").cast(pl.Int32))
    df = df.sort("account_idx", "local_day", "local_hour", "unit_idx")
    n = df.height
    rng = np.random.default_rng([seed, 30, CELL_PLATFORMS.index(platform)])
    kind = np.where(rng.random(n) < INVALID_RATE, KIND_INVALID, KIND_NORMAL).astype(np.int8)
    if platform == "apple_search_ads":
        # Apple serves ad group x day: an invalid-traffic refund removes a whole group-day.
        gd = (df["unit_idx"].cast(pl.Int64) * 100_000 + df["local_day"].cast(pl.Int64)).to_numpy()
        uniq, inv = np.unique(gd, return_inverse=True)
        kind = np.where(rng.random(len(uniq)) < INVALID_RATE * 4, KIND_INVALID, KIND_NORMAL)[inv].astype(
            np.int8
        )
    # One (account, local day) slice per platform is voided later (a test/fraud account's day).
    if days >= 2:
        acc_v = len(tables["accounts"]) - 1
        day_v = (start - date(1970, 1, 1)).days + days // 2
        voided = (df["account_idx"] == acc_v) & (df["local_day"] == day_v)
        kind = np.where(voided.to_numpy(), KIND_VOIDED, kind).astype(np.int8)
    return df.with_columns(
        pl.Series("kind", kind),
        pl.Series("rid", np.arange(n, dtype=np.int64)),
    )


def campaign_incidents(
    platform: str, cells: pl.DataFrame, ents: Entities, incidents: Sequence[inc.Incident]
) -> pl.DataFrame:
    """Cells with the platform's runaway and stalled campaigns applied (unchanged without incidents).

    A runaway campaign's impressions, clicks and spend are multiplied by its factor in the cells
    starting in [start, end) (conversions stay: its CAC rises); a stalled one's impressions,
    clicks, conversions and spend. Values are rounded up (spend to the cent), so a cell never
    becomes empty and no row is added or removed: every later draw (row kinds, row ids) and
    the rest of the world stay as they were.
    """
    mine = [i for i in inc.of_kind(incidents, *inc.CAMPAIGN_KINDS) if i.platform == platform]
    if not mine:
        return cells
    camp_ids = platform_tables(ents, platform)["campaigns"]["campaign_id"].to_list()
    for i in mine:
        hit = (
            (pl.col("campaign_idx") == camp_ids.index(i.campaign_id))
            & (pl.col("utc_start") >= i.start_s)
            & (pl.col("utc_start") < i.end_s)
        )
        f = i.effective_factor
        metrics = ["impressions", "clicks"] + (["conversions"] if i.kind == "campaign_stall" else [])
        cells = cells.with_columns(
            *[
                pl.when(hit).then((pl.col(m) * f).round(6).ceil().cast(pl.Int64)).otherwise(pl.col(m))
                for m in metrics
            ],
            pl.when(hit)
            .then((pl.col("spend_micros") // CENT_MICROS * f).round(6).ceil().cast(pl.Int64) * CENT_MICROS)
            .otherwise(pl.col("spend_micros"))
            .alias("spend_micros"),
        )
    return cells


def generate_impact(
    ents: Entities, changes: pl.DataFrame, seed: int, scale: float, start: date, days: int, window_days: int
) -> pl.DataFrame:
    """Impact actions: one row per action with its state timeline (pending -> approved / reversed).

    Events follow the account's local days and hours (its time zone, daylight saving included).
    An action appears 5-60 minutes after its event, may have its payout adjusted or be reversed
    before it locks, and locks at a local midnight (as Impact's LockingDate examples are): the
    one starting the UTC date ``window_days`` after the event's UTC date, so every change to a
    UTC day's actions happens within ``window_days`` after that UTC day ends (the connectors'
    slices are UTC days of EventDate, and the truth must be reachable with that window).
    """
    rng = np.random.default_rng([seed, 50])
    camps = ents.campaigns.filter(pl.col("platform") == "impact")
    tz = str(ents.accounts.filter(pl.col("platform") == "impact")["time_zone"][0])
    n_c = camps.height
    n_p = ents.media_partners.height
    midnights = np.array([local_midnight_utc(start + timedelta(d), tz) for d in range(days)], dtype=np.int64)
    per_day = rng.poisson(
        IMPACT_ACTIONS_PER_DAY * scale * WEEK_SHAPE[[(start + timedelta(d)).weekday() for d in range(days)]]
    )
    n = int(per_day.sum())
    day = np.repeat(np.arange(days), per_day)
    hour = rng.choice(24, size=n, p=HOUR_SHAPE)
    event_ts = midnights[day] + hour * 3600 + rng.integers(0, 3600, size=n)
    camp_w = rng.dirichlet(np.ones(n_c) * 2)
    partner_w = rng.dirichlet(np.ones(n_p) * 1.5)
    camp = rng.choice(n_c, size=n, p=camp_w)
    partner = rng.choice(n_p, size=n, p=partner_w)
    amount = np.round(rng.lognormal(3.6, 0.5, size=n), 2)
    rate = np.array([0.08, 0.10, 0.12])[rng.integers(0, 3, size=n)]
    payout_final = np.round(amount * rate, 2)
    adjusted = rng.random(n) < 0.15
    payout_initial = np.where(
        adjusted, np.round(payout_final * rng.uniform(0.7, 1.3, size=n), 2), payout_final
    )
    creation = event_ts + rng.integers(300, 3600, size=n)
    locking = np.maximum(_impact_locking(event_ts, window_days, tz), creation + 3600)
    adjust_ts = np.where(
        adjusted, creation + (rng.random(n) * (locking - creation - 3600)).astype(np.int64), -1
    )
    reversed_ = rng.random(n) < 0.07
    reverse_ts = np.where(
        reversed_, creation + (rng.random(n) * (locking - creation - 3600)).astype(np.int64), -1
    )
    order = np.lexsort((partner, camp, event_ts))
    seq = np.arange(n)
    ids = [f"19816.{5000 + int(c)}.{100000 + int(s)}" for c, s in zip(camp[order], seq, strict=True)]
    return pl.DataFrame(
        {
            "action_id": ids,
            "campaign_idx": camp[order].astype(np.int32),
            "partner_idx": partner[order].astype(np.int32),
            "event_ts": event_ts[order].astype(np.int64),
            "creation_ts": creation[order].astype(np.int64),
            "locking_ts": locking[order].astype(np.int64),
            "amount_micros": np.round(amount[order] * 100).astype(np.int64) * CENT_MICROS,
            "payout_initial_micros": np.round(payout_initial[order] * 100).astype(np.int64) * CENT_MICROS,
            "payout_final_micros": np.round(payout_final[order] * 100).astype(np.int64) * CENT_MICROS,
            "adjust_ts": adjust_ts[order].astype(np.int64),
            "reverse_ts": reverse_ts[order].astype(np.int64),
        }
    )


def _impact_locking(event_ts: np.ndarray, window_days: int, tz: str) -> np.ndarray:
    """Epoch seconds of the local midnight starting UTC date (event's UTC date + ``window_days``)."""
    utc_days = event_ts // 86400
    days = np.unique(utc_days)
    lock = np.array(
        [local_midnight_utc(date(1970, 1, 1) + timedelta(int(d) + window_days), tz) for d in days],
        dtype=np.int64,
    )
    return lock[np.searchsorted(days, utc_days)]


def credentials(seed: int, ents: Entities) -> dict[str, str]:
    """The credentials the simulator accepts, derived from the seed (dlt config variable names)."""

    def tok(name: str, n: int = 32) -> str:
        return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()[:n]

    def ids(platform: str) -> str:
        return ",".join(ents.accounts.filter(pl.col("platform") == platform)["account_id"].to_list())

    impact_sid = ents.accounts.filter(pl.col("platform") == "impact")["account_id"][0]
    return {
        "SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN": tok("g-dev", 22),
        "SOURCES__GOOGLE_ADS__CLIENT_ID": f"{int(tok('g-cid', 12), 16) % 10**12:012d}-sim.apps.googleusercontent.com",
        "SOURCES__GOOGLE_ADS__CLIENT_SECRET": "GOCSPX-" + tok("g-secret", 28),
        "SOURCES__GOOGLE_ADS__REFRESH_TOKEN": "1//0" + tok("g-refresh", 40),
        "SOURCES__GOOGLE_ADS__LOGIN_CUSTOMER_ID": f"{int(tok('g-mcc', 12), 16) % 9 * 10**9 + 10**9 + 1234567:d}",
        "SOURCES__GOOGLE_ADS__CUSTOMER_IDS": ids("google_ads"),
        "SOURCES__META_ADS__ACCESS_TOKEN": "EAAB" + tok("m-token", 60),
        "SOURCES__META_ADS__ACCOUNT_IDS": ids("meta_ads"),
        "SOURCES__TIKTOK_ADS__ACCESS_TOKEN": tok("t-token", 40),
        "SOURCES__TIKTOK_ADS__ADVERTISER_IDS": ids("tiktok_ads"),
        "SOURCES__APPLE_SEARCH_ADS__CLIENT_ID": "SEARCHADS." + tok("a-cid", 8) + "-" + tok("a-cid2", 4),
        "SOURCES__APPLE_SEARCH_ADS__CLIENT_SECRET": "eyJhbGciOiJFUzI1NiJ9."
        + tok("a-jwt", 48)
        + "."
        + tok("a-sig", 43),
        "SOURCES__APPLE_SEARCH_ADS__AD_ACCOUNT_IDS": ids("apple_search_ads"),
        "SOURCES__IMPACT__ACCOUNT_SID": impact_sid,
        "SOURCES__IMPACT__AUTH_TOKEN": tok("i-token", 32),
    }


def spend_truth(ents: Entities, cells: dict[str, pl.DataFrame], actions: pl.DataFrame) -> pl.DataFrame:
    """Final spend at fact_ad_spend grain (see docs/simulator.md, "Ad side")."""
    frames = [_cell_spend(ents, platform, df) for platform, df in cells.items()]
    frames.append(_impact_spend(ents, actions))
    out = pl.concat(frames, how="vertical_relaxed")
    return out.sort(
        "platform",
        "account_id",
        "spend_date",
        "spend_hour",
        "campaign_id",
        "ad_group_id",
        "ad_id",
        nulls_last=True,
    )


def _cell_spend(ents: Entities, platform: str, df: pl.DataFrame) -> pl.DataFrame:
    """The final cells of a platform with ids and UTC date/hour (Apple: UTC day grain, no ad)."""
    t = platform_tables(ents, platform)
    acc = t["accounts"]["account_id"].to_numpy()
    cur = t["accounts"]["currency"].to_numpy()
    final = df.filter(pl.col("kind") == KIND_NORMAL)
    ad_ids: pl.Expr | pl.Series
    if platform == "apple_search_ads":
        final = (
            final.with_columns(pl.col("utc_start") // 86400 * 86400)
            .group_by("account_idx", "unit_idx", "campaign_idx", "ad_group_idx", "utc_start")
            .agg(pl.col("impressions", "clicks", "conversions", "spend_micros").sum())
        )
        ad_ids = pl.lit(None, dtype=pl.String)
        hour = pl.lit(None, dtype=pl.Int8)
    else:
        ad_ids = pl.Series(t["ads"]["ad_id"].to_numpy()[final["unit_idx"].to_numpy()])
        hour = (pl.col("utc_start") // 3600 % 24).cast(pl.Int8)
    ai = final["account_idx"].to_numpy()
    return final.select(
        pl.lit(platform).alias("platform"),
        pl.Series("account_id", acc[ai]),
        pl.Series("campaign_id", t["campaigns"]["campaign_id"].to_numpy()[final["campaign_idx"].to_numpy()]),
        pl.Series("ad_group_id", t["ad_groups"]["ad_group_id"].to_numpy()[final["ad_group_idx"].to_numpy()]),
        ad_ids.alias("ad_id"),
        pl.lit(None, dtype=pl.String).alias("keyword"),
        (pl.col("utc_start") * 1_000_000).cast(pl.Datetime("us", "UTC")).dt.date().alias("spend_date"),
        hour.alias("spend_hour"),
        pl.Series("currency", cur[ai]),
        "spend_micros",
        "impressions",
        "clicks",
        "conversions",
    )


def conversions_truth(ents: Entities, cells: pl.DataFrame) -> pl.DataFrame:
    """Meta's final conversions per ad x account-local day (its daily report's grain).

    Meta reports conversions only without the hourly breakdown, so they are checked against
    day totals; derived from the same final cells as the spend (no draws of its own).
    """
    t = platform_tables(ents, "meta_ads")
    keys = ("account_idx", "campaign_idx", "ad_group_idx", "unit_idx", "local_day")
    day = (
        cells.filter(pl.col("kind") == KIND_NORMAL).group_by(keys).agg(pl.col("conversions").sum()).sort(keys)
    )
    return day.select(
        pl.lit("meta_ads").alias("platform"),
        pl.Series("account_id", t["accounts"]["account_id"].to_numpy()[day["account_idx"].to_numpy()]),
        pl.Series("campaign_id", t["campaigns"]["campaign_id"].to_numpy()[day["campaign_idx"].to_numpy()]),
        pl.Series("ad_group_id", t["ad_groups"]["ad_group_id"].to_numpy()[day["ad_group_idx"].to_numpy()]),
        pl.Series("ad_id", t["ads"]["ad_id"].to_numpy()[day["unit_idx"].to_numpy()]),
        pl.col("local_day").cast(pl.Date).alias("local_date"),
        pl.col("conversions").cast(pl.Int64),
    )


def _impact_spend(ents: Entities, actions: pl.DataFrame) -> pl.DataFrame:
    """Final payouts of the Impact actions never reversed, per campaign, partner and UTC hour."""
    camps = ents.campaigns.filter(pl.col("platform") == "impact")
    acc = ents.accounts.filter(pl.col("platform") == "impact")
    live = actions.filter(pl.col("reverse_ts") < 0)
    imp = (
        live.with_columns(pl.col("event_ts") // 3600 * 3600)
        .group_by("campaign_idx", "partner_idx", "event_ts")
        .agg(pl.col("payout_final_micros").sum().alias("spend_micros"), pl.len().alias("conversions"))
    )
    return imp.select(
        pl.lit("impact").alias("platform"),
        pl.lit(acc["account_id"][0]).alias("account_id"),
        pl.Series("campaign_id", camps["campaign_id"].to_numpy()[imp["campaign_idx"].to_numpy()]),
        pl.Series(
            "ad_group_id",
            ents.media_partners["media_partner_id"].to_numpy()[imp["partner_idx"].to_numpy()],
        ),
        pl.lit(None, dtype=pl.String).alias("ad_id"),
        pl.lit(None, dtype=pl.String).alias("keyword"),
        (pl.col("event_ts") * 1_000_000).cast(pl.Datetime("us", "UTC")).dt.date().alias("spend_date"),
        (pl.col("event_ts") // 3600 % 24).cast(pl.Int8).alias("spend_hour"),
        pl.lit(acc["currency"][0]).alias("currency"),
        "spend_micros",
        pl.lit(0, dtype=pl.Int64).alias("impressions"),
        pl.lit(0, dtype=pl.Int64).alias("clicks"),
        pl.col("conversions").cast(pl.Int64),
    )


def generate_ads(
    out: Path,
    start: date,
    days: int,
    seed: int,
    scale: float,
    restatement_days: dict[str, int] | None = None,
    incidents: Sequence[inc.Incident] = (),
) -> None:
    """Write the ad side of a world: ``out/state/ads/*``, ``out/truth/spend_final.parquet`` and
    ``conversions_daily.parquet``, ``out/sim.env``.

    ``restatement_days`` overrides the per-platform restatement window (default 7 days each).
    ``incidents``: the campaign incidents scale their campaign's cells, ``missing_fx`` removes
    its day's rate (see :mod:`simulator.incidents`); the others do not touch the ad state.
    """
    out = Path(out)
    state = out / "state" / "ads"
    state.mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    windows = {**DEFAULT_RESTATEMENT_DAYS, **(restatement_days or {})}
    ents = build_entities(seed, scale)
    changes = entity_changes(ents, seed, start, days)
    clean = {p: generate_cells(p, ents, changes, seed, scale, start, days) for p in CELL_PLATFORMS}
    # budgets are sized on the delivery as drawn, before the injected incidents (a runaway overspends)
    budgets = world_budgets(vars(ents), changes, clean, seed)
    cells = {p: campaign_incidents(p, c, ents, incidents) for p, c in clean.items()}
    actions = generate_impact(ents, changes, seed, scale, start, days, windows["impact"])
    first, end = world_window(start, days, ents)
    fx = generate_fx(seed, start - timedelta(days=21), start + timedelta(days=days + 14))
    missing = [i.start.date() for i in inc.of_kind(incidents, "missing_fx")]
    if missing:  # the rate of that business day is never published: the API answers as on a holiday
        fx = fx.filter(~pl.col("rate_date").is_in(missing))

    def write(df: pl.DataFrame, path: Path) -> None:
        df.write_parquet(path, compression="zstd", statistics=False)

    for name in ("accounts", "campaigns", "ad_groups", "ads", "keywords", "media_partners"):
        write(getattr(ents, name), state / f"entities_{name}.parquet")
    write(changes, state / "entity_changes.parquet")
    for p, df in cells.items():
        write(df, state / f"cells_{p}.parquet")
    write(actions, state / "impact_actions.parquet")
    write(fx, state / "fx_rates.parquet")
    write(spend_truth(ents, cells, actions), out / "truth" / "spend_final.parquet")
    write(conversions_truth(ents, cells["meta_ads"]), out / "truth" / "conversions_daily.parquet")
    write_budgets(*budgets, state, out / "truth")
    creds = credentials(seed, ents)
    meta = {
        "seed": seed,
        "scale": scale,
        "start": start.isoformat(),
        "days": days,
        "first_utc": first,
        "end_utc": end,
        "restatement_days": windows,
        "credentials": creds,
    }
    (state / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    _write_env(out / "sim.env", creds)


def _write_env(path: Path, creds: dict[str, str]) -> None:
    """Write (or refresh) the ad block of ``sim.env``, keeping lines other writers put there."""
    begin, finish = "# >>> simulated ad APIs (simulator/ads)", "# <<< simulated ad APIs"
    kept: list[str] = []
    if path.exists():
        inside = False
        for line in path.read_text().splitlines():
            if line == begin:
                inside = True
            elif line == finish:
                inside = False
            elif not inside:
                kept.append(line)
    block = [begin] + [f"export {k}={v}" for k, v in creds.items()] + [finish]
    path.write_text("\n".join(kept + block) + "\n")
