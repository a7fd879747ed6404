"""The two rules the event truth is computed by: click spam and last-touch attribution.

They are the pipeline's contract applied to the true touches, so the truth files say what a
correct pipeline must answer from what it can see.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from simulator.events.config import DAY_MS, SECOND_MS
from simulator.events.day import ORGANIC, SKAN_ONLY


def click_spam(
    person: np.ndarray, ts: np.ndarray, mmp_click: np.ndarray, install_ts: np.ndarray
) -> np.ndarray:
    """Click spam: an MMP click < 10 s before its device's install, or 6+ clicks of a device within 60 s."""
    out = np.zeros(len(person), dtype=bool)
    idx = np.flatnonzero(mmp_click)
    if len(idx) == 0:
        return out
    inst = install_ts[person[idx]]
    before = inst - ts[idx]
    out[idx[(inst >= 0) & (before >= 0) & (before < 10 * SECOND_MS)]] = True
    order = np.lexsort((ts[idx], person[idx]))
    sp, st = person[idx][order], ts[idx][order]
    if len(sp) > 5:
        # a click opening a run of six within 60 s marks itself and the next five clicks
        hit = (sp[5:] == sp[:-5]) & (st[5:] - st[:-5] < 60 * SECOND_MS)
        mark = np.zeros(len(sp) + 1, dtype=np.int64)
        h = np.flatnonzero(hit)
        np.add.at(mark, h, 1)
        np.add.at(mark, h + 6, -1)
        burst = np.cumsum(mark)[:-1] > 0
        out[idx[order[burst]]] = True
    return out


def last_touch(
    touches: pl.DataFrame, signup_ts: np.ndarray, user_id: pl.Series, kind: np.ndarray, start_ms: int
) -> pl.DataFrame:
    """The correct last-touch answer per sign-up, from the touches a pipeline can see.

    Eligible: visible, not spam, at or after the world's start, before the sign-up; clicks up to
    7 days before it, views up to 1 day. Any eligible click beats every view; among the winners
    the latest ``touch_ts`` wins and a tie goes to the smallest touch ``event_id``.
    """
    n = len(signup_ts)
    s = pl.DataFrame({"person": np.arange(n, dtype=np.int64), "signup_ts": signup_ts})
    eligible = (
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
    reason = np.where(
        kind == ORGANIC, "organic", np.where(kind == SKAN_ONLY, "skan_only", "no_touch_in_window")
    )
    base = pl.DataFrame({"person": np.arange(n, dtype=np.int64), "user_id": user_id, "reason": reason})
    res = base.join(
        eligible.select(
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
