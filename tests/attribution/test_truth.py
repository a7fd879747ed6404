"""Last touch against the simulator's ground truth on a small generated world.

The end-to-end warehouse tables are not built here (that is the pipeline's own test): the
engine is fed the touches a pipeline can see, straight from the world's
``truth/touch_paths.parquet`` (visible touches, canonical user ids, spam flags), and the
truth's sign-ups, and must agree with ``truth/attribution_last_touch.parquet``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from attribution import attribute, load_config

generate = pytest.importorskip("simulator.events.generate")

START = date(2024, 10, 24)  # crosses the EU daylight-saving change
DAYS = 4


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("attr_world")
    generate.generate_events(out, START, DAYS, 11, 0.01)
    return out / "truth"


def test_last_touch_agrees_with_truth(world: Path) -> None:
    paths = pl.read_parquet(world / "touch_paths.parquet")
    truth_signups = pl.read_parquet(world / "signups.parquet")
    truth = pl.read_parquet(world / "attribution_last_touch.parquet")
    touches = paths.filter(pl.col("visible")).select(
        pl.col("event_id").alias("touch_id"),
        "user_id",
        "touch_ts",
        "touch_type",
        "platform",
        "campaign_id",
        "is_spam",
    )
    signups = truth_signups.select(
        pl.col("user_id").alias("signup_id"), "user_id", "signup_ts", "signup_date", "device_platform"
    )
    out = attribute(signups, touches, load_config("last_touch_v1"), START, START + timedelta(days=DAYS - 1))
    assert out.select("signup_id").n_unique() == signups.height
    det = out.filter(pl.col("method") == "deterministic").select(
        pl.col("signup_id").alias("user_id"), "platform", "campaign_id", "touch_id"
    )
    expected = truth.filter(pl.col("platform").is_not_null()).select(
        "user_id", "platform", "campaign_id", pl.col("touch_event_id").alias("touch_id")
    )
    both = expected.join(det, on="user_id", how="full", suffix="_got", coalesce=True)
    agree = both.filter(
        (pl.col("platform") == pl.col("platform_got")) & (pl.col("campaign_id") == pl.col("campaign_id_got"))
    ).height
    deterministic = both.height  # sign-ups deterministic in the truth or in the engine's output
    assert deterministic > 1000
    disagreements = both.filter(
        ~(
            (pl.col("platform") == pl.col("platform_got"))
            & (pl.col("campaign_id") == pl.col("campaign_id_got"))
        ).fill_null(False)
    )
    assert agree / deterministic >= 0.999, disagreements.head(10)
    # and the other sign-ups the truth calls organic / SKAN-only are unattributed or SKAN-modeled here
    others = truth.filter(pl.col("platform").is_null()).select("user_id")
    got_others = out.join(others, left_on="signup_id", right_on="user_id", how="semi")
    assert set(got_others["method"]) <= {"unattributed", "skan_modeled"}
