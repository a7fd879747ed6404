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
        rel = pl.col("age").dt.total_microseconds() - pl.col("age").dt.total_microseconds().min().over(
            "_sidx"
        )
        w = pl.lit(2.0).pow(-rel.cast(pl.Float64) / hl_us)
        # Float sums depend on order: sort by time (touches at one instant weigh the same) so
        # every run adds the same numbers in the same order and gives bit-identical credits.
        return (
            pairs.sort("_sidx", "touch_ts")
            .with_columns(w.alias("_w"))
            .with_columns((pl.col("_w") / pl.col("_w").sum().over("_sidx")).alias("credit"))
            .drop("_w")
        )
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


# The splitmix64 finalizer (Steele et al.): a fixed, published mixer, so the order of pool sign-ups below
# does not depend on the Polars version (``Expr.hash`` is only stable within one version).
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_HASH_SEED = 0x9E3779B97F4A7C15
_HEX_CHUNK = 15  # hex digits per 60-bit block: fits an Int64 parse


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, pl.UInt64)


def _splitmix(x: pl.Expr) -> pl.Expr:
    # UInt64 products wrap modulo 2**64 (as in the reference); floor division by 2**k is x >> k.
    x = (x ^ (x // _u64(2**30))) * _u64(_MIX1)
    x = (x ^ (x // _u64(2**27))) * _u64(_MIX2)
    return x ^ (x // _u64(2**31))


def with_stable_hash(frame: pl.LazyFrame, column: str, out: str, max_len: int) -> pl.LazyFrame:
    """Add ``out``: a 64-bit hash of the string ``column``, the same in every Polars version.

    The UTF-8 bytes, as hex, are cut into 60-bit blocks folded with the splitmix64 finalizer,
    then the byte length is mixed in. ``max_len`` is the longest value's byte length (the
    number of fold steps; each step is its own column, so the plan stays linear in it).
    Python reference: ``tests/attribution/test_skan.py::reference_hash``.
    """
    blocks = pl.col("_blocks")
    frame = frame.with_columns(
        pl.col(column).str.encode("hex").str.extract_all(f".{{1,{_HEX_CHUNK}}}").alias("_blocks"),
        _u64(_HASH_SEED).alias(out),
    )
    for j in range(-(-2 * max_len // _HEX_CHUNK)):
        block = blocks.list.get(j, null_on_oob=True).str.to_integer(base=16).cast(pl.UInt64)
        frame = frame.with_columns(
            pl.when(blocks.list.len() > j)
            .then(_splitmix(pl.col(out) ^ block))
            .otherwise(pl.col(out))
            .alias(out)
        )
    length = pl.col(column).str.len_bytes().cast(pl.UInt64)
    return frame.with_columns(_splitmix(pl.col(out) ^ length).alias(out)).drop("_blocks")


def skan_allocation(ios_pool: pl.LazyFrame, deterministic_ios: pl.LazyFrame, skan: Frame) -> pl.DataFrame:
    """Per day and campaign, how many pool sign-ups are SKAN-modeled to it (whole numbers).

    ``ios_pool``: signup_id, signup_date of iOS sign-ups left unattributed (the pool).
    ``deterministic_ios``: signup_date, platform, campaign_id, credit of deterministic rows of
    iOS sign-ups. ``skan``: install_date, platform, campaign_id, skan_signups.

    Per day, each campaign's net postbacks ``n = floor(max(0, SKAN sign-ups − deterministic iOS
    credit already given to it)))`` (deterministic credit is fractional under multi-touch
    models; the floor models no sign-up for a fraction, after rounding away float noise). With
    N = Σ n and P = pool size: if N <= P each campaign gets n sign-ups and P − N stay
    unattributed; if N > P the n are scaled to P by the largest-remainder method (floor of
    n·P/N, then one more to the largest remainders, ties by platform, campaign_id), so the
    day's counts sum to exactly P. Integer arithmetic throughout: the result is exact.
    Columns: signup_date, platform, campaign_id, net_postbacks, modeled (Int64; modeled > 0 only).
    """
    keys = ["signup_date", "platform", "campaign_id"]
    credited = deterministic_ios.group_by(keys).agg(pl.col("credit").sum().round(9).alias("_det"))
    net = (
        _lazy(skan)
        .select(SKAN_COLUMNS)
        .group_by(pl.col("install_date").alias("signup_date"), "platform", "campaign_id")
        .agg(pl.col("skan_signups").cast(pl.Float64).sum())
        .join(credited, on=keys, how="left")
        .with_columns(
            (pl.col("skan_signups") - pl.col("_det").fill_null(0.0))
            .clip(lower_bound=0.0)
            .round(6)
            .floor()
            .cast(pl.Int64)
            .alias("net_postbacks")
        )
        .filter(pl.col("net_postbacks") > 0)
        .select(*keys, "net_postbacks")
    )
    pool_size = ios_pool.group_by("signup_date").agg(pl.len().cast(pl.Int64).alias("_p"))
    day = pl.col("signup_date")
    n, p = pl.col("net_postbacks"), pl.col("_p")
    total = n.sum().over(day)
    scaled = (
        net.join(pool_size, on="signup_date", how="inner")
        .with_columns(total.alias("_n"))
        .with_columns(
            pl.when(pl.col("_n") <= p).then(n).otherwise(n * p // pl.col("_n")).alias("_floor"),
            pl.when(pl.col("_n") <= p)
            .then(pl.lit(0, pl.Int64))
            .otherwise(n * p % pl.col("_n"))
            .alias("_rem"),
        )
        # Only a scaled-down day has sign-ups left to hand out (P − Σ floors < number of campaigns).
        .with_columns(
            pl.when(pl.col("_n") > p).then(p - pl.col("_floor").sum().over(day)).otherwise(0).alias("_left")
        )
        # Largest remainders first; equal remainders in platform, campaign order.
        .sort("signup_date", "_rem", "platform", "campaign_id", descending=[False, True, False, False])
        .with_columns(
            (pl.col("_floor") + (pl.int_range(pl.len()).over(day) < pl.col("_left")).cast(pl.Int64)).alias(
                "modeled"
            )
        )
    )
    return scaled.filter(pl.col("modeled") > 0).select(*keys, "net_postbacks", "modeled").sort(keys).collect()


def allocate_skan(ios_pool: pl.LazyFrame, deterministic_ios: pl.LazyFrame, skan: Frame) -> pl.LazyFrame:
    """One row per pool sign-up: ``skan_modeled`` to a campaign, or ``unattributed``; credit 1 each.

    The day's pool sign-ups are ordered by a stable hash (:func:`with_stable_hash`) of ``signup_id`` (then the id)
    and dealt out in that order to the campaigns of :func:`skan_allocation`, taken in
    (platform, campaign_id) order, each receiving its count; the rest stay unattributed.
    Which sign-up lands on which campaign carries no information (the sign-ups have no
    user-level touch): only each campaign's daily count does. Same inputs, same rows.
    """
    pool = ios_pool.select("signup_id", "signup_date").collect()
    alloc = skan_allocation(pool.lazy(), deterministic_ios, skan)
    max_len = int(pool.get_column("signup_id").str.len_bytes().max() or 0)  # type: ignore[arg-type]
    # Each sign-up's rank in the day's hash order (ties, i.e. equal hashes, by id).
    ranked = (
        with_stable_hash(pool.lazy(), "signup_id", "_h", max_len)
        .sort("signup_date", "_h", "signup_id")
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("signup_date").alias("_k"))
        .drop("_h")
    )
    hi = pl.col("modeled").cum_sum().over("signup_date")
    slots = (
        alloc.lazy()
        .with_columns(hi.alias("_hi"))
        .select(
            "signup_date",
            "platform",
            "campaign_id",
            pl.int_ranges(pl.col("_hi") - pl.col("modeled"), pl.col("_hi"), dtype=pl.Int64).alias("_k"),
        )
        .explode("_k")
    )
    modeled = pl.col("campaign_id").is_not_null()
    return ranked.join(slots, on=["signup_date", "_k"], how="left").select(
        "signup_id",
        "signup_date",
        pl.lit(None, pl.String).alias("touch_id"),
        pl.when(modeled).then(pl.col("platform")).otherwise(pl.lit(UNATTRIBUTED)).alias("platform"),
        pl.when(modeled).then(pl.col("campaign_id")).otherwise(pl.lit(UNATTRIBUTED)).alias("campaign_id"),
        pl.lit(1.0).alias("credit"),
        pl.when(modeled).then(pl.lit(METHOD_SKAN)).otherwise(pl.lit(METHOD_UNATTRIBUTED)).alias("method"),
    )


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
    """:func:`attribute`'s rows as a sequence of frames of at most ``batch_rows`` rows each.

    Every sign-up has one row per credited touch (one when unattributed or SKAN-modeled), so
    the output is about the size of the sign-ups; the batches only bound the size of each
    warehouse insert.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive, got {batch_rows}")
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
    if config.skan_enabled and skan is not None:
        ios = pl.col("device_platform") == "ios"
        det_ios = det.lazy().join(s.filter(ios).select("signup_id"), on="signup_id", how="semi")
        parts.append(allocate_skan(unattributed.filter(ios), det_ios, skan))
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
    out = _finish(pl.concat([p.select(_COLS) for p in parts]), config, run_id).collect()
    for offset in range(0, max(out.height, 1), batch_rows):
        yield out.slice(offset, batch_rows)


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
    ``SORT_KEYS``).
    """
    frames = list(attribute_batches(signups, touches, config, start_date, end_date, skan=skan, run_id=run_id))
    out = pl.concat(frames) if len(frames) > 1 else frames[0]
    return out.sort(list(SORT_KEYS), nulls_last=True) if sort else out
