"""The attribution engine: Polars lazy expressions from sign-ups and touches to credit rows.

Rules (see ``docs/attribution.md``):

* A touch is eligible for a sign-up of the same canonical user when it is not spam and
  ``0 <= signup_ts - touch_ts <= window``; both ends are inclusive, so a click exactly 7 days
  before the sign-up counts and one 7 days + 1 microsecond before does not. The window
  depends on the touch type (click / view) and may be overridden per platform.
* With ``precedence: click_over_view`` a sign-up with any eligible click ignores its views.
* Touches of one sign-up are ordered by ``tie_break`` (default ``touch_ts``, then
  ``touch_type`` with ``view`` before ``click``, then ``touch_id``), a total order, so the
  result never depends on input order: last touch takes the last touch of that order, first
  touch the first, position-based uses the positions in it.
* A sign-up without an eligible touch gets one ``unattributed`` row with credit 1; iOS ones
  are then allocated to campaigns from SKAdNetwork postbacks (:func:`allocate_skan`).

Everything is a lazy frame partitioned by sign-up date: :func:`attribute` takes any range
of days, so callers can run days in parallel. No per-row Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import polars as pl

from attribution.config import AttributionConfig

UNATTRIBUTED = "unattributed"
METHOD_DETERMINISTIC = "deterministic"
METHOD_SKAN = "skan_modeled"
METHOD_UNATTRIBUTED = "unattributed"

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "attribution_run_id": pl.String(),
    "attribution_version": pl.String(),
    "model": pl.String(),
    "signup_id": pl.String(),
    "touch_id": pl.String(),
    "platform": pl.String(),
    "campaign_id": pl.String(),
    "credit": pl.Float64(),
    "method": pl.String(),
    "signup_date": pl.Date(),
}
SIGNUP_COLUMNS = ("signup_id", "user_id", "signup_ts", "signup_date", "device_platform")
TOUCH_COLUMNS = ("touch_id", "user_id", "touch_ts", "touch_type", "platform", "campaign_id", "is_spam")
SKAN_COLUMNS = ("install_date", "platform", "campaign_id", "skan_signups")
# Output order, so equal inputs give byte-equal outputs whatever the engine's threading did.
SORT_KEYS = ("signup_date", "signup_id", "method", "platform", "campaign_id", "touch_id")

Frame = pl.DataFrame | pl.LazyFrame


def _lazy(frame: Frame) -> pl.LazyFrame:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def _utc_naive(lf: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Timestamps as naive UTC microseconds, whatever zone/precision the warehouse returned."""
    dtype = lf.collect_schema()[column]
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return lf.with_columns(expr.cast(pl.Datetime("us")).alias(column))


def _window_expr(config: AttributionConfig) -> pl.Expr:
    """Per-row window length (a duration) from touch type and platform."""
    click: pl.Expr = pl.lit(config.windows.click)
    view: pl.Expr = pl.lit(config.windows.view)
    for platform, w in sorted(config.platform_windows.items()):
        click = pl.when(pl.col("platform") == platform).then(pl.lit(w.click)).otherwise(click)
        view = pl.when(pl.col("platform") == platform).then(pl.lit(w.view)).otherwise(view)
    return pl.when(pl.col("touch_type") == "click").then(click).otherwise(view)


def _day_bounds(start_date: date, end_date: date) -> tuple[datetime, datetime]:
    return datetime.combine(start_date, time()), datetime.combine(end_date + timedelta(days=1), time())


def eligible_touches(
    signups: Frame,
    touches: Frame,
    config: AttributionConfig,
    start_date: date,
    end_date: date,
) -> pl.LazyFrame:
    """Sign-up × touch pairs that may receive credit: same user, not spam, inside the window.

    Row-wise rules only (so the plan streams over any number of touches); precedence is
    applied by :func:`apply_precedence`. Columns: signup_id, signup_ts, signup_date, touch_id,
    touch_ts, touch_type, platform, campaign_id, age (signup_ts - touch_ts), _type_rank, _sidx
    (an integer id of the sign-up within this call).
    """
    lo, hi = _day_bounds(start_date, end_date)
    s = (
        _utc_naive(_lazy(signups).select(SIGNUP_COLUMNS[:4]), "signup_ts")
        .filter(pl.col("signup_date").is_between(start_date, end_date))
        .collect()
        # An integer key per sign-up: every per-sign-up window below hashes it instead of a string.
        .with_row_index("_sidx")
    )
    # Sign-ups are few and touches many: a set-membership filter on the user id lets the
    # Parquet reader drop other users' touches before decoding their remaining (string)
    # columns, and is much cheaper than probing a hash join with every touch.
    # The key range goes first: a comparison with literals is evaluated inside the Parquet
    # decoder (DuckDB pushes the same min/max join filter into its scan), so touches of users
    # outside the range are skipped before their strings are materialised. Same rows either way.
    user_col = s.get_column("user_id")
    users = user_col.unique().implode()
    lo_user, hi_user = user_col.min(), user_col.max()
    t = _utc_naive(_lazy(touches).select(TOUCH_COLUMNS), "touch_ts")
    t = t.filter(
        pl.col("user_id").is_between(pl.lit(lo_user, pl.String), pl.lit(hi_user, pl.String)),
        pl.col("user_id").is_in(users),
        pl.col("touch_ts").is_between(lo - config.max_window, hi, closed="left"),
        ~pl.col("is_spam").fill_null(False),
        pl.col("touch_type").is_in(["click", "view"]),
    ).drop("is_spam")
    age = pl.col("signup_ts") - pl.col("touch_ts")
    return (
        t.join(s.lazy(), on="user_id", how="inner")
        .with_columns(age.alias("age"))
        .filter(pl.col("age") >= timedelta(0), pl.col("age") <= _window_expr(config))
        .drop("user_id")
        # Tie-break rank of touch_type: at the same instant a click is preferred over a view.
        .with_columns((pl.col("touch_type") == "click").cast(pl.Int8).alias("_type_rank"))
    )


def apply_precedence(pairs: pl.LazyFrame, config: AttributionConfig) -> pl.LazyFrame:
    """With ``click_over_view``, drop the views of every sign-up that has an eligible click."""
    if config.precedence != "click_over_view":
        return pairs
    is_click = pl.col("touch_type") == "click"
    return pairs.filter(is_click | ~is_click.any().over("_sidx"))


_TS_BITS = 53  # microseconds since 1970 stay below 2**53 until the year 2255


def _pick_extreme(pairs: pl.LazyFrame, keys: tuple[str, ...], last: bool, clicks_first: bool) -> pl.LazyFrame:
    """One touch per sign-up: the latest (or earliest) touch, ties to the click, then the lowest id.

    Precedence (any click before any view), touch time and type rank are packed into one
    integer so a single windowed max picks the candidates; ``touch_id`` (unique) then
    settles the rare exact ties. No sort.
    """
    ts_us = pl.col("touch_ts").dt.epoch("us")
    ts_part = ts_us if last else (pl.lit(2**_TS_BITS - 1, pl.Int64) - ts_us)
    type_first = keys.index("_type_rank") < keys.index("touch_id")
    rank = pl.col("_type_rank").cast(pl.Int64) if type_first else pl.lit(0, pl.Int64)
    prio = pl.col("_type_rank").cast(pl.Int64) if clicks_first else pl.lit(0, pl.Int64)
    key = prio * 2 ** (_TS_BITS + 1) + ts_part * 2 + rank
    best = pairs.with_columns(key.alias("_key")).filter(pl.col("_key") == pl.col("_key").max().over("_sidx"))
    best = best.filter(pl.col("touch_id") == pl.col("touch_id").min().over("_sidx"))
    return best.drop("_key")


def _credit_rows(pairs: pl.LazyFrame, config: AttributionConfig) -> pl.LazyFrame:
    """Add a ``credit`` column per eligible pair according to the model; drop zero-credit pairs."""
    keys = tuple("_type_rank" if k == "touch_type" else k for k in config.tie_break)
    if config.model in ("last_touch", "first_touch"):
        clicks_first = config.precedence == "click_over_view"
        return _pick_extreme(pairs, keys, config.model == "last_touch", clicks_first).with_columns(
            pl.lit(1.0).alias("credit")
        )
    n = pl.len().over("_sidx")
    if config.model == "linear":
        return pairs.with_columns((1.0 / n).alias("credit"))
    if config.model == "time_decay":
        assert config.half_life is not None
        hl_us = config.half_life.total_seconds() * 1e6
        # Relative to the group's most recent touch, so the largest weight is 1 and nothing underflows.
        rel = pl.col("age").dt.total_microseconds() - pl.col("age").dt.total_microseconds().min().over("_sidx")
        w = pl.lit(2.0).pow(-rel.cast(pl.Float64) / hl_us)
        # Float sums depend on order: sort by time (touches at one instant weigh the same) so
        # every run adds the same numbers in the same order and gives bit-identical credits.
        return pairs.sort("_sidx", "touch_ts").with_columns(w.alias("_w")).with_columns(
            (pl.col("_w") / pl.col("_w").sum().over("_sidx")).alias("credit")
        ).drop("_w")
    # position_based: only the first and last positions of the journey matter. Journey order
    # is touch_ts ascending with the preferred touch of a tie (the click, then the lowest
    # touch_id) later, so the last position is the last-touch winner. Found with windowed
    # max/min over integer keys instead of sorting the pairs.
    pw = config.position_weights
    type_first = keys.index("_type_rank") < keys.index("touch_id")
    rank = pl.col("_type_rank").cast(pl.Int64) if type_first else pl.lit(0, pl.Int64)
    key = pl.col("touch_ts").dt.epoch("us") * 2 + rank
    g = "_sidx"
    tid = pl.col("touch_id")
    staged = pairs.with_columns(key.alias("_key"), n.alias("_n")).with_columns(
        (pl.col("_key") == pl.col("_key").max().over(g)).alias("_maxk"),
        (pl.col("_key") == pl.col("_key").min().over(g)).alias("_mink"),
    )
    staged = staged.with_columns(
        (pl.col("_maxk") & (tid == pl.when(pl.col("_maxk")).then(tid).min().over(g))).alias("_last"),
        (pl.col("_mink") & (tid == pl.when(pl.col("_mink")).then(tid).max().over(g))).alias("_first"),
    )
    two_first = pw.first / (pw.first + pw.last) if pw.first + pw.last > 0 else 0.5
    credit = (
        pl.when(pl.col("_n") == 1)
        .then(1.0)
        .when(pl.col("_n") == 2)
        .then(pl.when(pl.col("_first")).then(two_first).otherwise(1.0 - two_first))
        .when(pl.col("_first"))
        .then(pw.first)
        .when(pl.col("_last"))
        .then(pw.last)
        .otherwise(pw.middle / (pl.col("_n") - 2).cast(pl.Float64))
    )
    return (
        staged.with_columns(credit.alias("credit"))
        .drop("_key", "_n", "_maxk", "_mink", "_last", "_first")
        .filter(pl.col("credit") > 0)
    )


def skan_shares(ios_pool: pl.LazyFrame, deterministic_ios: pl.LazyFrame, skan: Frame) -> pl.DataFrame:
    """Per day and campaign, the SKAN-modeled credit each pool sign-up of that day receives.

    ``ios_pool``: signup_id, signup_date of iOS sign-ups left unattributed (the pool).
    ``deterministic_ios``: signup_date, platform, campaign_id, credit of deterministic rows of
    iOS sign-ups. ``skan``: install_date, platform, campaign_id, skan_signups.

    Per day, each campaign's net postbacks = max(0, SKAN sign-ups − deterministic iOS credit
    already given to it). With N = Σ net and P = pool size, every pool sign-up gets
    ``net / max(N, P)`` of credit per campaign: when N > P shares are scaled down to the
    pool; when N < P the rest, ``max(0, 1 − N/P)``, stays unattributed (:func:`skan_remainder`).
    Columns: signup_date, platform, campaign_id, credit (a small frame: days × campaigns).
    """
    # Rounded so that the order in which fractional credits were summed cannot change a bit.
    credited = deterministic_ios.group_by("signup_date", "platform", "campaign_id").agg(
        pl.col("credit").sum().round(9).alias("_det")
    )
    net = (
        _lazy(skan)
        .select(SKAN_COLUMNS)
        .group_by(pl.col("install_date").alias("signup_date"), "platform", "campaign_id")
        .agg(pl.col("skan_signups").cast(pl.Float64).sum())
        .join(credited, on=["signup_date", "platform", "campaign_id"], how="left")
        .with_columns(
            (pl.col("skan_signups") - pl.col("_det").fill_null(0.0)).clip(lower_bound=0.0).alias("_net")
        )
        .filter(pl.col("_net") > 0)
        .select("signup_date", "platform", "campaign_id", "_net")
    )
    pool_size = ios_pool.group_by("signup_date").agg(pl.len().cast(pl.Float64).alias("_p"))
    totals = (
        net.sort("signup_date", "platform", "campaign_id")
        .group_by("signup_date")
        .agg(pl.col("_net").sum().round(9).alias("_n"))
    ).join(pool_size, on="signup_date", how="inner")
    return (
        net.join(totals, on="signup_date", how="inner")
        .select(
            "signup_date",
            "platform",
            "campaign_id",
            (pl.col("_net") / pl.max_horizontal("_n", "_p")).alias("credit"),
        )
        .sort("signup_date", "platform", "campaign_id")
        .collect()
    )


def skan_remainder(ios_pool: pl.LazyFrame, shares: pl.DataFrame) -> pl.LazyFrame:
    """The ``unattributed`` row of each pool sign-up: 1 − its modeled credit (none when that is 0)."""
    modeled = shares.lazy().group_by("signup_date").agg(pl.col("credit").sum().alias("_m"))
    return (
        ios_pool.join(modeled, on="signup_date", how="left")
        .with_columns((1.0 - pl.col("_m").fill_null(0.0)).alias("credit"))
        # Below float noise the pool was fully allocated (N >= P): no remainder row.
        .filter(pl.col("credit") > 1e-9)
        .select(
            "signup_id",
            "signup_date",
            pl.lit(None, pl.String).alias("touch_id"),
            pl.lit(UNATTRIBUTED).alias("platform"),
            pl.lit(UNATTRIBUTED).alias("campaign_id"),
            "credit",
            pl.lit(METHOD_UNATTRIBUTED).alias("method"),
        )
    )


def skan_modeled_rows(ios_pool: pl.LazyFrame, shares: pl.DataFrame) -> pl.LazyFrame:
    """The ``skan_modeled`` rows: every pool sign-up × every campaign with a share that day."""
    return ios_pool.join(shares.lazy(), on="signup_date", how="inner").select(
        "signup_id",
        "signup_date",
        pl.lit(None, pl.String).alias("touch_id"),
        "platform",
        "campaign_id",
        "credit",
        pl.lit(METHOD_SKAN).alias("method"),
    )


def allocate_skan(ios_pool: pl.LazyFrame, deterministic_ios: pl.LazyFrame, skan: Frame) -> pl.LazyFrame:
    """SKAdNetwork modeling for iOS sign-ups without a user-level touch (see :func:`skan_shares`).

    Every pool sign-up gets ``skan_modeled`` rows and, when the postbacks fall short, one
    ``unattributed`` row; its credits sum to 1 and per day the modeled total is min(N, P).
    """
    shares = skan_shares(ios_pool, deterministic_ios, skan)
    return pl.concat([skan_modeled_rows(ios_pool, shares), skan_remainder(ios_pool, shares)])


def deterministic_credit(pairs: pl.LazyFrame, config: AttributionConfig) -> pl.LazyFrame:
    """Deterministic credit rows from eligible pairs (precedence and the model applied)."""
    if config.model not in ("last_touch", "first_touch"):  # single-touch models fold precedence in
        pairs = apply_precedence(pairs, config)
    return _credit_rows(pairs, config).select(
        "signup_id",
        "signup_date",
        "touch_id",
        "platform",
        "campaign_id",
        "credit",
        pl.lit(METHOD_DETERMINISTIC).alias("method"),
    )


_COLS = ["signup_id", "signup_date", "touch_id", "platform", "campaign_id", "credit", "method"]


def _finish(frame: pl.LazyFrame, config: AttributionConfig, run_id: str) -> pl.LazyFrame:
    out = frame.select(_COLS).select(
        pl.lit(run_id).alias("attribution_run_id"),
        pl.lit(config.attribution_version).alias("attribution_version"),
        pl.lit(config.model).alias("model"),
        *_COLS,
    )
    return out.cast(OUTPUT_SCHEMA)  # type: ignore[arg-type]


def attribute_batches(
    signups: Frame,
    touches: Frame,
    config: AttributionConfig,
    start_date: date,
    end_date: date | None = None,
    *,
    skan: Frame | None = None,
    run_id: str = "",
    batch_rows: int = 2_000_000,
) -> Iterator[pl.DataFrame]:
    """:func:`attribute`'s rows as a sequence of frames of at most about ``batch_rows`` rows.

    The first frame holds the deterministic and unattributed rows; SKAN-modeled rows follow
    in batches of pool sign-ups. Modeling gives every pool sign-up one row per campaign with
    net postbacks (at scale 1.0 some 200K sign-ups × 250 campaigns a day), so writers should
    stream these batches instead of holding them all at once.
    """
    end = start_date if end_date is None else end_date
    if end < start_date:
        raise ValueError(f"end date {end} is before start date {start_date}")
    s = (
        _lazy(signups)
        .select(SIGNUP_COLUMNS)
        .filter(pl.col("signup_date").is_between(start_date, end))
        .collect()
        .lazy()
    )
    # The only pass over the touches, streamed; what follows works on the (small) pairs.
    pairs = eligible_touches(s, touches, config, start_date, end).collect(engine="streaming")
    det = deterministic_credit(pairs.lazy(), config).collect()
    unattributed = s.join(det.lazy().select("signup_id").unique(), on="signup_id", how="anti")
    parts: list[pl.LazyFrame] = [det.lazy()]
    pool: pl.DataFrame | None = None
    shares: pl.DataFrame | None = None
    if config.skan_enabled and skan is not None:
        ios = pl.col("device_platform") == "ios"
        pool = unattributed.filter(ios).select("signup_id", "signup_date").collect()
        det_ios = det.lazy().join(s.filter(ios).select("signup_id"), on="signup_id", how="semi")
        shares = skan_shares(pool.lazy(), det_ios, skan)
        parts.append(skan_remainder(pool.lazy(), shares))
        unattributed = unattributed.filter(~ios)
    parts.append(
        unattributed.select(
            "signup_id",
            "signup_date",
            pl.lit(None, pl.String).alias("touch_id"),
            pl.lit(UNATTRIBUTED).alias("platform"),
            pl.lit(UNATTRIBUTED).alias("campaign_id"),
            pl.lit(1.0).alias("credit"),
            pl.lit(METHOD_UNATTRIBUTED).alias("method"),
        )
    )
    yield _finish(pl.concat([p.select(_COLS) for p in parts]), config, run_id).collect()
    if pool is None or shares is None or shares.height == 0 or pool.height == 0:
        return
    per_day = shares.group_by("signup_date").len().select(pl.col("len").max()).item()
    step = max(1, batch_rows // max(1, per_day))
    for offset in range(0, pool.height, step):
        chunk = pool.slice(offset, step).lazy()
        yield _finish(skan_modeled_rows(chunk, shares), config, run_id).collect()


def attribute(
    signups: Frame,
    touches: Frame,
    config: AttributionConfig,
    start_date: date,
    end_date: date | None = None,
    *,
    skan: Frame | None = None,
    run_id: str = "",
    sort: bool = True,
) -> pl.DataFrame:
    """Attribute the sign-ups whose ``signup_date`` is in [start_date, end_date] (one day if no end).

    ``touches`` may hold any range (a lazy ``scan_parquet`` of billions of rows is fine: the
    pass over them streams); only touches within the longest window before the days are
    read. Returns one row per (sign-up, credited touch or modeled campaign) with
    ``OUTPUT_SCHEMA`` columns and credit summing to 1 per sign-up. The rows are the same for
    the same inputs whatever ``sort`` says; ``sort=True`` also fixes their order (by
    ``SORT_KEYS``). For large SKAN pools prefer :func:`attribute_batches`.
    """
    frames = list(attribute_batches(signups, touches, config, start_date, end_date, skan=skan, run_id=run_id))
    out = pl.concat(frames) if len(frames) > 1 else frames[0]
    return out.sort(list(SORT_KEYS), nulls_last=True) if sort else out
