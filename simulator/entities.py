"""StreamRide's advertising entities: accounts, campaigns, ad groups, ads, keywords, partners.

Everything else in the simulated world (spend, touches, SKAN postbacks, metadata changes)
hangs off these tables, so they are built first, deterministically from ``(seed, scale)``,
and every other simulator module calls :func:`build_entities` rather than inventing ids.

Ids are strings in the shape each platform uses on its API (without prefixes such as
``act_``): Google customer ids are 10 digits, Meta ids 15-16 digits, TikTok 19 digits,
Apple numeric, Impact campaign ids 5 digits with an ``IR``-prefixed account SID.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

PLATFORMS: tuple[str, ...] = ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads", "impact")

# (platform, market, currency, time zone). Google and Meta US accounts run on US Eastern/Pacific
# time and EU accounts on their own zones, so worlds crossing late October / early November
# cross two different daylight-saving changes. A TikTok advertiser's time zone is a fixed
# offset from UTC without daylight saving (PLATFORM_APIS.md, TikTok "Corrected"; TikTok Ads
# help https://ads.tiktok.com/help/article/time-zone: whole- or half-hour offsets from GMT/UTC,
# no daylight saving time), so its accounts use Etc/GMT zones: Etc/GMT+5 is UTC-5 all year.
ACCOUNT_TEMPLATES: tuple[tuple[str, str, str, str], ...] = (
    ("google_ads", "US", "USD", "America/New_York"),
    ("google_ads", "DE", "EUR", "Europe/Berlin"),
    ("google_ads", "GB", "GBP", "Europe/London"),
    ("meta_ads", "US", "USD", "America/Los_Angeles"),
    ("meta_ads", "FR", "EUR", "Europe/Paris"),
    ("meta_ads", "GB", "GBP", "Europe/London"),
    ("tiktok_ads", "US", "USD", "Etc/GMT+5"),
    ("tiktok_ads", "DE", "EUR", "Etc/GMT-1"),
    ("apple_search_ads", "US", "USD", "UTC"),
    ("apple_search_ads", "GB", "GBP", "UTC"),
    # Impact writes every date in the account's local time with its offset (the docs' examples are
    # Pacific: "2020-09-10T10:42:38-07:00"), so the brand account runs on Los Angeles time.
    ("impact", "US", "USD", "America/Los_Angeles"),
)

# utm_source values that real traffic carries for each platform (several per platform,
# as in real landing data); the pipeline maps them with a dbt seed.
UTM_SOURCES: dict[str, tuple[str, ...]] = {
    "google_ads": ("google", "adwords", "google_ads"),
    "meta_ads": ("facebook", "fb", "instagram", "ig", "meta"),
    "tiktok_ads": ("tiktok", "tiktok_ads"),
    "apple_search_ads": ("apple_search_ads", "asa"),
    "impact": ("impact", "impact_radius"),
}

# Which platforms drive which journeys: web landings carry click ids / UTMs, app journeys
# come through an MMP. Apple Search Ads is app-only; Impact is web-only.
WEB_PLATFORMS: tuple[str, ...] = ("google_ads", "meta_ads", "tiktok_ads", "impact")
APP_PLATFORMS: tuple[str, ...] = ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads")

OBJECTIVES: tuple[str, ...] = ("app_installs", "conversions", "traffic", "reach")
PRODUCTS: tuple[str, ...] = ("rides", "eats")


@dataclass(frozen=True)
class Entities:
    """The entity tables of one world. All ids are strings."""

    accounts: pl.DataFrame  # platform, account_id, market, currency, time_zone
    # platform, account_id, campaign_id, campaign_name, objective, product, daily_budget
    # (daily_budget here is the campaign's delivery weight; the budget its platform serves is
    # drawn later from the delivery, simulator/ads/budgets.py)
    campaigns: pl.DataFrame
    ad_groups: pl.DataFrame  # platform, account_id, campaign_id, ad_group_id, ad_group_name
    ads: pl.DataFrame  # platform, account_id, campaign_id, ad_group_id, ad_id, ad_name, weight
    keywords: pl.DataFrame  # google_ads / apple_search_ads: ad_group_id, keyword_id, keyword_text
    media_partners: pl.DataFrame  # impact: media_partner_id, media_partner_name


def _id(rng: np.random.Generator, n: int, digits: int) -> list[str]:
    """``n`` distinct random numeric ids of ``digits`` digits, as strings."""
    # 19-digit ids (TikTok) do not fit int64: draw 18 digits and prefix a 7, as TikTok's do.
    prefix = "7" if digits > 18 else ""
    digits = min(digits, 18)
    low, high = 10 ** (digits - 1), 10**digits - 1
    seen: set[int] = set()
    out: list[str] = []
    while len(out) < n:
        for v in rng.integers(low, high, size=n - len(out), dtype=np.int64).tolist():
            if v not in seen:
                seen.add(v)
                out.append(prefix + str(v))
    return out


_ID_DIGITS = {"google_ads": 10, "meta_ads": 16, "tiktok_ads": 19, "apple_search_ads": 9, "impact": 5}


def counts_for_scale(scale: float) -> dict[str, int]:
    """Entity counts per account for a scale (1.0 = StreamRide at peak).

    At scale 1.0 Google alone serves ~10K ads, so one day at ad x hour grain is a few
    hundred thousand rows, like the real account structure.
    """
    campaigns = max(2, round(40 * scale**0.5))
    ad_groups = max(2, round(12 * scale**0.25))
    ads = max(2, round(8 * scale**0.25))
    return {"campaigns": campaigns, "ad_groups_per_campaign": ad_groups, "ads_per_ad_group": ads}


def build_entities(seed: int, scale: float) -> Entities:
    """Build the entity tables for a world, deterministically from ``seed`` and ``scale``."""
    rng = np.random.default_rng([seed, 1])
    counts = counts_for_scale(scale)
    accounts = _accounts(rng)
    rows: dict[str, list[dict[str, object]]] = {"campaigns": [], "ad_groups": [], "ads": [], "keywords": []}
    for acc in accounts:
        _add_campaigns(rng, acc, counts, rows)
    partners = pl.DataFrame(
        {
            "media_partner_id": _id(rng, 6, 7),
            "media_partner_name": [
                "couponfox",
                "cashbackly",
                "dealhub",
                "bloggernet",
                "studentperks",
                "travelpoints",
            ],
        }
    )
    return Entities(
        accounts=pl.DataFrame(accounts),
        campaigns=pl.DataFrame(rows["campaigns"]),
        ad_groups=pl.DataFrame(rows["ad_groups"]),
        ads=pl.DataFrame(rows["ads"]),
        keywords=pl.DataFrame(rows["keywords"]),
        media_partners=partners,
    )


def _accounts(rng: np.random.Generator) -> list[dict[str, str]]:
    """One account per template; Impact account SIDs look like ``IR`` + 10 digits + 6 letters."""
    accounts = []
    for platform, market, currency, tz in ACCOUNT_TEMPLATES:
        digits = 10 if platform == "impact" else _ID_DIGITS[platform]
        (acc,) = _id(rng, 1, digits)
        if platform == "impact":
            acc = "IR" + acc + "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ"), 6).tolist())
        accounts.append(
            {"platform": platform, "account_id": acc, "market": market, "currency": currency, "time_zone": tz}
        )
    return accounts


def _add_campaigns(
    rng: np.random.Generator,
    acc: dict[str, str],
    counts: dict[str, int],
    rows: dict[str, list[dict[str, object]]],
) -> None:
    """An account's campaigns, each with its ad groups (Impact: none), appended to ``rows``."""
    platform = acc["platform"]
    n_c = counts["campaigns"] if platform != "impact" else max(2, counts["campaigns"] // 8)
    c_ids = _id(rng, n_c, _ID_DIGITS[platform])
    for ci, cid in enumerate(c_ids):
        product = PRODUCTS[ci % len(PRODUCTS)]
        objective = OBJECTIVES[int(rng.integers(len(OBJECTIVES)))]
        if platform == "apple_search_ads":
            objective = "app_installs"
        rows["campaigns"].append(
            {
                "platform": platform,
                "account_id": acc["account_id"],
                "campaign_id": cid,
                "campaign_name": f"{acc['market']}_{product}_{objective}_{ci + 1:03d}",
                "objective": objective,
                "product": product,
                "daily_budget": float(np.round(rng.lognormal(8.0, 0.6), 2)),
            }
        )
        if platform != "impact":  # Impact has no ad groups or ads: actions come per media partner
            _add_ad_groups(rng, acc, cid, product, counts, rows)


def _add_ad_groups(
    rng: np.random.Generator,
    acc: dict[str, str],
    cid: str,
    product: str,
    counts: dict[str, int],
    rows: dict[str, list[dict[str, object]]],
) -> None:
    """A campaign's ad groups with their ads (weighted) and, on search platforms, keywords."""
    platform = acc["platform"]
    g_ids = _id(rng, counts["ad_groups_per_campaign"], _ID_DIGITS[platform])
    for gi, gid in enumerate(g_ids):
        rows["ad_groups"].append(
            {
                "platform": platform,
                "account_id": acc["account_id"],
                "campaign_id": cid,
                "ad_group_id": gid,
                "ad_group_name": f"{acc['market']}_{product}_ag{gi + 1:02d}",
            }
        )
        a_ids = _id(rng, counts["ads_per_ad_group"], _ID_DIGITS[platform])
        weights = rng.dirichlet(np.ones(len(a_ids)))
        for ai, aid in enumerate(a_ids):
            rows["ads"].append(
                {
                    "platform": platform,
                    "account_id": acc["account_id"],
                    "campaign_id": cid,
                    "ad_group_id": gid,
                    "ad_id": aid,
                    "ad_name": f"{product}_creative_{ai + 1:02d}",
                    "weight": float(weights[ai]),
                }
            )
        if platform in ("google_ads", "apple_search_ads"):
            for ki, kid in enumerate(_id(rng, 3, 9)):
                rows["keywords"].append(
                    {
                        "platform": platform,
                        "ad_group_id": gid,
                        "keyword_id": kid,
                        "keyword_text": f"streamride {product} {ki + 1}",
                    }
                )
