"""The world's campaigns and ads as arrays, and the weighted pools journeys draw campaigns from.

Each kind of paid journey draws its campaign from its own pool: web clicks from the web
platforms, MMP-visible app touches from the app platforms, and iOS users without tracking
consent only from campaigns SKAN can report (plus Apple Search Ads, which attributes through
AdServices without consent). Within a pool, a platform gets its share and its campaigns split
that share by objective weight.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from simulator.entities import Entities

WEB_SHARE = {"google_ads": 0.45, "meta_ads": 0.30, "tiktok_ads": 0.15, "impact": 0.10}
APP_SHARE = {"google_ads": 0.35, "meta_ads": 0.35, "tiktok_ads": 0.15, "apple_search_ads": 0.15}
WEB_OBJECTIVE_WEIGHT = {"conversions": 3.0, "traffic": 3.0, "reach": 1.0, "app_installs": 0.3}
APP_OBJECTIVE_WEIGHT = {"app_installs": 3.0, "conversions": 1.0, "traffic": 0.5, "reach": 1.5}
# SKAdNetwork ids of the networks that run SKAN campaigns (Apple Search Ads attributes through
# AdServices, which works without tracking consent, so its iOS installs stay MMP-visible).
SKAN_NETWORKS = {
    "google_ads": "cstr6suwn9.skadnetwork",
    "meta_ads": "v9wttpbfk9.skadnetwork",
    "tiktok_ads": "22mmun2rn5.skadnetwork",
}

Pool = tuple[np.ndarray, np.ndarray]
"""Campaign indexes and the probability of drawing each."""


def source_identifier(campaign_id: pl.Series | str) -> pl.Series | str:
    """The SKAN source identifier StreamRide configures for a campaign: its id's last four digits."""
    if isinstance(campaign_id, str):
        return campaign_id[-4:]
    return campaign_id.str.slice(-4)


class Catalog:
    """The world's campaigns and ads as arrays, with the sampling pools the journeys draw from."""

    def __init__(self, ents: Entities) -> None:
        camp = ents.campaigns.with_row_index("ci")
        self.n_campaigns = camp.height
        self.platform = camp["platform"]
        self.platform_np = camp["platform"].to_numpy()
        self.campaign_id = camp["campaign_id"]
        self.objective_np = camp["objective"].to_numpy()
        self._index_ads(ents.ads, camp)
        self.partner_ids = ents.media_partners["media_partner_id"]
        # SKAN runs only on campaigns whose source identifier is unique within their network,
        # so the mapping back from the last four digits of the campaign id is never ambiguous.
        last4 = source_identifier(self.campaign_id)
        dup = pl.DataFrame({"p": self.platform, "s": last4}).select(pl.len().over("p", "s") > 1).to_series()
        self.skan_ok = np.isin(self.platform_np, list(SKAN_NETWORKS)) & ~dup.to_numpy()
        self.web_pool = self._pool(WEB_SHARE, WEB_OBJECTIVE_WEIGHT)
        self.app_pool = self._pool(APP_SHARE, APP_OBJECTIVE_WEIGHT)
        self.declined_pool = self._pool(
            APP_SHARE, APP_OBJECTIVE_WEIGHT, mask=self.skan_ok | (self.platform_np == "apple_search_ads")
        )
        self.skan_pool = self._pool(APP_SHARE, APP_OBJECTIVE_WEIGHT, mask=self.skan_ok)

    def _index_ads(self, ads_table: pl.DataFrame, camp: pl.DataFrame) -> None:
        """Ads sorted by campaign with cumulative weights, so one ``searchsorted`` picks an ad per touch.

        ``ad_key`` is the campaign index plus the ad's cumulative weight share (the last ad of a
        campaign is pinned to exactly 1.0): ``campaign + u`` for a uniform ``u`` lands on an ad.
        """
        ads = (
            ads_table.join(camp.select("campaign_id", "ci"), on="campaign_id")
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
        self.has_ads = np.zeros(self.n_campaigns, dtype=bool)
        self.has_ads[np.unique(ci)] = True

    def _pool(
        self, shares: dict[str, float], objective_weight: dict[str, float], mask: np.ndarray | None = None
    ) -> Pool:
        keep = np.isin(self.platform_np, list(shares))
        if mask is not None:
            keep &= mask
        idx = np.flatnonzero(keep)
        w = np.array([objective_weight.get(o, 1.0) for o in self.objective_np[idx]], dtype=float)
        p = np.zeros(len(idx))
        for plat, share in shares.items():
            m = self.platform_np[idx] == plat
            if m.any():
                p[m] = share * w[m] / w[m].sum()
        if len(idx) == 0:
            raise ValueError("the world has no campaigns for this journey")
        return idx, p / p.sum()

    def pick(self, rng: np.random.Generator, pool: Pool, n: int) -> np.ndarray:
        """``n`` campaign indexes drawn from a pool."""
        idx, p = pool
        return idx[rng.choice(len(idx), size=n, p=p)]

    def pick_ads(self, rng: np.random.Generator, ci: np.ndarray) -> np.ndarray:
        """One ad index per campaign index (by the ads' weights), -1 for campaigns without ads (Impact)."""
        pos = np.searchsorted(self.ad_key, ci + rng.random(len(ci)), side="right")
        pos = np.minimum(pos, max(len(self.ad_key) - 1, 0))
        return np.where(self.has_ads[ci], pos, -1)
