"""Builders for small hand-made attribution cases."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl

from attribution import AttributionConfig

DAY = date(2024, 5, 10)
NOON = datetime(2024, 5, 10, 12, 0, 0)


def signups(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """Rows of (signup_id, user_id, signup_ts[, device_platform])."""
    out = []
    for r in rows:
        sid, uid, ts = r[:3]
        out.append(
            {
                "signup_id": sid,
                "user_id": uid,
                "signup_ts": ts,
                "signup_date": ts.date(),
                "device_platform": r[3] if len(r) > 3 else "web",
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "signup_id": pl.String,
            "user_id": pl.String,
            "signup_ts": pl.Datetime("us"),
            "signup_date": pl.Date,
            "device_platform": pl.String,
        },
    )


def touches(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """Rows of (touch_id, user_id, touch_ts, touch_type, platform, campaign_id[, is_spam])."""
    out = [
        {
            "touch_id": r[0],
            "user_id": r[1],
            "touch_ts": r[2],
            "touch_type": r[3],
            "platform": r[4],
            "campaign_id": r[5],
            "is_spam": r[6] if len(r) > 6 else False,
        }
        for r in rows
    ]
    return pl.DataFrame(
        out,
        schema={
            "touch_id": pl.String,
            "user_id": pl.String,
            "touch_ts": pl.Datetime("us"),
            "touch_type": pl.String,
            "platform": pl.String,
            "campaign_id": pl.String,
            "is_spam": pl.Boolean,
        },
    )


def cfg(**overrides: Any) -> AttributionConfig:
    """A config from the defaults plus YAML-style overrides."""
    raw: dict[str, Any] = {"name": "test_cfg", "model": "last_touch"}
    raw.update(overrides)
    return AttributionConfig.from_mapping(raw)


def credits(frame: pl.DataFrame, signup_id: str) -> dict[str | None, float]:
    """touch_id (or campaign for modeled rows) -> credit for one sign-up."""
    rows = frame.filter(pl.col("signup_id") == signup_id)
    return {
        (r["touch_id"] if r["touch_id"] is not None else f"{r['method']}:{r['campaign_id']}"): r["credit"]
        for r in rows.iter_rows(named=True)
    }


def assert_credit_sums_to_one(frame: pl.DataFrame) -> None:
    """Every sign-up's credits sum to 1."""
    sums = frame.group_by("signup_id").agg(pl.col("credit").sum())
    assert sums.height > 0
    assert (sums["credit"] - 1.0).abs().max() < 1e-9  # type: ignore[operator]
