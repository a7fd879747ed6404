"""A small hand-made raw warehouse in the shapes of docs/simulated_apis.md ("Raw tables").

Every row is chosen to exercise one rule of the models: DST changes (Berlin 27 Oct, New York
3 Nov 2024), weekend FX rates and a not-yet-published rate, reversed Impact actions, a click id
seen twice, a click id against a contradicting utm_source, a test account, a merged user, click
spam of both kinds, SKAN postbacks and a late event. The expectations in the tests are computed
from these Python rows independently of the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

FIRST_DAY = date(2024, 10, 26)
LAST_DAY = date(2024, 11, 5)  # local report dates [FIRST_DAY, LAST_DAY]
AS_OF = date(2024, 11, 5)  # the rate of 5 Nov is not published yet: provisional
LOAD_1 = "1730000000.000001"
LOAD_2 = "1730900000.000002"

ACCOUNTS = {
    # platform: (account_id, currency, time_zone, campaign_id, ad_group_id, [ad ids])
    "google_ads": (
        "1111111111",
        "USD",
        "America/New_York",
        "9000001234",
        "8000000001",
        ["7000000001", "7000000002"],
    ),
    "meta_ads": (
        "2222222222222222",
        "EUR",
        "Europe/Berlin",
        "2300000000005678",
        "2300000000000001",
        ["2300000000000011"],
    ),
    "tiktok_ads": (
        "7333333333333333333",
        "GBP",
        "Europe/London",
        "7300000000000004321",
        "7300000000000000001",
        ["7300000000000000011"],
    ),
    "apple_search_ads": ("555555", "GBP", "UTC", "500000001", "500000011", []),
}
IMPACT = ("IR1234567890ABCDEF", "USD", "15001", ["1000001", "1000002"])


def hour_cost_micros(platform: str, d: date, h: int, ad_idx: int) -> int:
    """A deterministic cost in whole cents (as micros) per cell."""
    cents = 100 + 7 * h + 13 * (d.toordinal() % 11) + 31 * ad_idx + 5 * len(platform)
    return cents * 10_000


def local_to_utc_first(d: date, h: int, tz: str) -> datetime:
    """UTC start of local hour (d, h): the first occurrence when the hour repeats (fall-back)."""
    return (
        datetime(d.year, d.month, d.day, h, tzinfo=ZoneInfo(tz), fold=0).astimezone(UTC).replace(tzinfo=None)
    )


def local_hours(d: date, tz: str) -> list[int]:
    """Wall-clock hours that exist on local day d (a spring-forward day skips one)."""
    out = []
    for h in range(24):
        t = datetime(d.year, d.month, d.day, h, tzinfo=ZoneInfo(tz))
        if t.astimezone(UTC).astimezone(ZoneInfo(tz)).hour == h:
            out.append(h)
    return out


def business_days(first: date, last: date) -> list[date]:
    """Mon-Fri in [first, last] (no TARGET holidays fall in this world)."""
    return [
        first + timedelta(days=i)
        for i in range((last - first).days + 1)
        if (first + timedelta(days=i)).weekday() < 5
    ]


FX_BASE = {"EUR": 0.92, "GBP": 0.78}


def fx_rate(cur: str, d: date) -> float:
    """The reference rate of business day d."""
    return round(FX_BASE[cur] + 0.0011 * (d.toordinal() % 7), 4)


def ts(s: str) -> datetime:
    """A naive UTC timestamp from 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.fromisoformat(s)


def landed_shape(name: str, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with the bookkeeping columns the real loaders add to table ``name``.

    Ad reports (connector_sdk): ``_dlt_load_id`` beside our ``_load_id``, and the current
    tables' ``_tombstone`` (dlt hard-delete; null on live rows). Product events: dlt's
    ``_dlt_load_id`` only (the loader names its load id that way), ``_file_key`` / ``_line_no``.
    """
    schema, table = name.split(".")
    if schema == "raw_ads":
        if "_load_id" in df.columns and "_dlt_load_id" not in df.columns:
            df = df.with_columns(pl.col("_load_id").alias("_dlt_load_id"))
        if not table.endswith(("__campaigns", "__ad_groups", "__ads")):
            df = df.with_columns(pl.lit(None, pl.Boolean).alias("_tombstone"))
    elif schema == "raw_events":
        df = df.rename({"_load_id": "_dlt_load_id"}) if "_load_id" in df.columns else df
        if table in ("events", "mmp_touches", "skan_postbacks"):
            df = df.with_columns(
                pl.lit("events/dt=2024-11-01/hour=00/part-0.jsonl.gz").alias("_file_key"),
                pl.int_range(pl.len(), dtype=pl.Int32).alias("_line_no"),
            )
    return df


@dataclass
class RawWorld:
    """The raw tables as polars frames, keyed by 'schema.table'."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)

    def write(self, con: Any) -> None:
        """Create (replace) every table in the DuckDB connection."""
        cur = con.cursor()
        try:
            for schema in ("raw_ads", "raw_events", "analytics"):
                cur.execute(f"create schema if not exists {schema}")
            for name, df in self.tables.items():
                cur.register("_df", landed_shape(name, df).to_arrow())
                cur.execute(f"create or replace table {name} as select * from _df")
                cur.unregister("_df")
        finally:
            cur.close()


def _perf_rows(platform: str) -> list[dict[str, Any]]:
    acc, cur, tz, camp, group, ads = ACCOUNTS[platform]
    rows = []
    d = FIRST_DAY
    while d <= LAST_DAY:
        for h in local_hours(d, tz):
            for i, ad in enumerate(ads):
                micros = hour_cost_micros(platform, d, h, i)
                base = {
                    "_row_key": f"{platform}|{acc}|{ad}|{d}|{h}",
                    "_load_id": LOAD_1,
                    "_extracted_at": datetime(2024, 11, 5, 9, 0, tzinfo=UTC),
                    "account_id": acc,
                    "campaign_id": camp,
                    "ad_id": ad,
                    "report_date": d,
                    "report_hour": h,
                    "currency": cur,
                    "time_zone": tz,
                    "impressions": 1000 + h,
                    "clicks": 10 + h % 5,
                    "conversions": h % 3,
                }
                if platform == "google_ads":
                    rows.append({**base, "ad_group_id": group, "cost_micros": micros})
                elif platform == "meta_ads":
                    rows.append({**base, "adset_id": group, "spend": micros / 1_000_000})
                else:
                    rows.append({**base, "adgroup_id": group, "spend": micros / 1_000_000})
        d += timedelta(days=1)
    return rows


def build_raw_world() -> RawWorld:
    """The whole raw world (ads, FX, entities, events)."""
    w = RawWorld()
    dec = pl.Decimal(18, 6)
    for p in ("google_ads", "meta_ads", "tiktok_ads"):
        df = pl.DataFrame(_perf_rows(p))
        if "spend" in df.columns:
            df = df.with_columns(pl.col("spend").cast(dec))
        w.tables[f"raw_ads.{p}__ad_performance"] = df

    acc, cur, _tz, camp, group, _ = ACCOUNTS["apple_search_ads"]
    apple = []
    d = FIRST_DAY
    while d <= LAST_DAY:
        apple.append(
            {
                "_row_key": f"asa|{group}|{d}",
                "_load_id": LOAD_1,
                "_extracted_at": datetime(2024, 11, 5, 9, tzinfo=UTC),
                "account_id": acc,
                "campaign_id": camp,
                "ad_group_id": group,
                "report_date": d,
                "currency": cur,
                "impressions": 5000,
                "taps": 300,
                "tap_installs": 20,
                "local_spend": (d.day * 1234 + 5) / 100,
            }
        )
        d += timedelta(days=1)
    w.tables["raw_ads.apple_search_ads__ad_group_performance"] = pl.DataFrame(apple).with_columns(
        pl.col("local_spend").cast(dec)
    )

    iacc, icur, icamp, partners = IMPACT
    actions = []
    for i in range(40):
        t = datetime(2024, 10, 30, 0, tzinfo=UTC) + timedelta(minutes=157 * i)
        actions.append(
            {
                "_row_key": f"a{i}",
                "_load_id": LOAD_1,
                "_extracted_at": datetime(2024, 11, 5, 9, tzinfo=UTC),
                "account_id": iacc,
                "action_id": f"19816.5000.{100000 + i}",
                "campaign_id": icamp,
                "media_partner_id": partners[i % 2],
                "state": "REVERSED" if i % 9 == 4 else ("APPROVED" if i < 20 else "PENDING"),
                "event_ts": t,
                "locking_date": (t + timedelta(days=8)).replace(hour=0, minute=0),
                "amount": 50 + i,
                "payout": 5 + i / 4,
                "currency": icur,
                "report_date": t.date(),
            }
        )
    w.tables["raw_ads.impact__actions"] = pl.DataFrame(actions).with_columns(
        pl.col("amount", "payout").cast(dec)
    )

    fx = []
    for bd in business_days(date(2024, 10, 14), AS_OF - timedelta(days=1)):
        for c in ("EUR", "GBP"):
            fx.append(
                {
                    "rate_date": bd,
                    "base": "USD",
                    "currency": c,
                    "rate": fx_rate(c, bd),
                    "published_date": bd,
                    "_load_id": LOAD_1,
                    "_row_key": f"{bd}|{c}",
                }
            )
    w.tables["raw_ads.fx_rates"] = pl.DataFrame(fx)

    # Campaign entities with dlt scd2 history: the Google campaign is renamed on 2 Nov 12:00 UTC.
    for p, (acc, cur, tz, camp, *_rest) in {**ACCOUNTS, "impact": (iacc, icur, "UTC", icamp)}.items():
        base = {
            "account_id": acc,
            "campaign_id": camp,
            "status": "ENABLED",
            "objective": "conversions",
            "currency": cur,
            "time_zone": tz,
            "_dlt_load_id": LOAD_1,
        }
        rows = [
            {
                **base,
                "name": f"{p}_campaign",
                "_dlt_valid_from": datetime(2024, 10, 26, tzinfo=UTC),
                "_dlt_valid_to": None,
            }
        ]
        if p in RAW_BUDGETS:  # as connector_sdk/budgets.py lands them: text in currency units
            rows = [{**rows[0], **dict(zip(BUDGET_KEYS, RAW_BUDGETS[p][0], strict=True))}]
        if p == "google_ads":
            rows = [
                {**rows[0], "_dlt_valid_to": datetime(2024, 11, 2, 12, tzinfo=UTC)},
                {
                    **base,
                    **dict(zip(BUDGET_KEYS, RAW_BUDGETS[p][1], strict=True)),
                    "name": "google_ads_campaign_v2",
                    "_dlt_valid_from": datetime(2024, 11, 2, 12, tzinfo=UTC),
                    "_dlt_valid_to": None,
                },
            ]
        w.tables[f"raw_ads.{p}__campaigns"] = pl.DataFrame(
            rows, schema_overrides={"_dlt_valid_to": pl.Datetime("us", "UTC")}
        )

    _events(w)
    return w


# Budget columns of the campaign versions (Impact lands none): Google's budget rises with its
# rename (the second version), TikTok has a lifetime (total) budget only.
BUDGET_KEYS = ("budget_period", "daily_budget", "lifetime_budget", "budget_currency")
RAW_BUDGETS: dict[str, list[tuple[str, str | None, str | None, str | None]]] = {
    "google_ads": [("daily", "120.5", None, "USD"), ("daily", "150", None, "USD")],
    "meta_ads": [("daily", "80", None, "EUR")],
    "tiktok_ads": [("lifetime", None, "900", "GBP")],
    "apple_search_ads": [("daily", "45.25", None, "GBP")],
}

# --- product events --------------------------------------------------------------------------

GOOGLE_CAMP = ACCOUNTS["google_ads"][3]
META_CAMP = ACCOUNTS["meta_ads"][3]
TIKTOK_CAMP = ACCOUNTS["tiktok_ads"][3]

EVENT_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "event_type": pl.String(),
    "event_ts": pl.Datetime("us", "UTC"),
    "received_at": pl.Datetime("us", "UTC"),
    "event_date": pl.Date(),
    "schema_version": pl.Int64(),
    "anonymous_id": pl.String(),
    "utm_source": pl.String(),
    "utm_medium": pl.String(),
    "utm_campaign": pl.String(),
    "utm_content": pl.String(),
    "utm_term": pl.String(),
    "gclid": pl.String(),
    "fbclid": pl.String(),
    "ttclid": pl.String(),
    "device_id": pl.String(),
    "device_platform": pl.String(),
    "user_id": pl.String(),
    "country": pl.String(),
    "email_hash": pl.String(),
    "phone_hash": pl.String(),
    "is_test_account": pl.Boolean(),
    "revenue": pl.Float64(),
    "currency": pl.String(),
    "from_user_id": pl.String(),
    "to_user_id": pl.String(),
    "_load_id": pl.String(),
}


def _ev(
    event_id: str, event_type: str, at: str, received: str | None = None, **fields: Any
) -> dict[str, Any]:
    t = ts(at).replace(tzinfo=UTC)
    r = ts(received).replace(tzinfo=UTC) if received else t + timedelta(seconds=30)
    return {
        "event_id": event_id,
        "event_type": event_type,
        "event_ts": t,
        "received_at": r,
        "event_date": t.date(),
        "schema_version": 1,
        "_load_id": LOAD_1,
        **fields,
    }


def _signup(
    eid: str,
    at: str,
    user: str,
    platform: str,
    anon: str | None = None,
    device: str | None = None,
    test: bool = False,
    country: str = "US",
    received: str | None = None,
) -> dict[str, Any]:
    return _ev(
        eid,
        "user_signup",
        at,
        received,
        user_id=user,
        anonymous_id=anon,
        device_id=device,
        device_platform=platform,
        country=country,
        is_test_account=test,
        email_hash="h" * 64,
        phone_hash="p" * 64,
    )


def _mmp(
    eid: str,
    device: str,
    at: str,
    platform: str = "meta_ads",
    touch_type: str = "click",
    camp: str = META_CAMP,
) -> dict[str, Any]:
    t = ts(at).replace(tzinfo=UTC)
    return {
        "event_id": eid,
        "event_type": "mmp_touch",
        "event_ts": t + timedelta(seconds=5),
        "received_at": t + timedelta(seconds=40),
        "event_date": t.date(),
        "schema_version": 1,
        "device_id": device,
        "platform": platform,
        "campaign_id": camp,
        "ad_group_id": "g1",
        "ad_id": "a1",
        "touch_type": touch_type,
        "touch_ts": t,
        "_load_id": LOAD_1,
    }


def _events(w: RawWorld) -> None:
    ev = [
        # u1: web, gclid seen twice (one touch), signs up, first ride within 30 days (USD).
        _ev(
            "e-l1a",
            "landing",
            "2024-11-01 10:00:00",
            anonymous_id="anon1",
            utm_source="google",
            utm_campaign=GOOGLE_CAMP,
            utm_content="7000000001",
            gclid="Cj0KCQjwAAA",
        ),
        _ev(
            "e-l1b",
            "landing",
            "2024-11-01 10:05:00",
            anonymous_id="anon1",
            utm_source="google",
            utm_campaign=GOOGLE_CAMP,
            utm_content="7000000001",
            gclid="Cj0KCQjwAAA",
        ),
        _signup("e-s1", "2024-11-01 11:00:00", "u1", "web", anon="anon1"),
        _ev("e-r1", "first_ride", "2024-11-03 08:00:00", user_id="u1", revenue=12.5, currency="USD"),
        # u2: utm_source fb without click id, then an fbclid landing whose utm_source says google
        # (the click id wins); first order in EUR on Monday 4 Nov.
        _ev(
            "e-l2a",
            "landing",
            "2024-11-02 09:00:00",
            anonymous_id="anon2",
            utm_source="fb",
            utm_campaign=META_CAMP,
        ),
        _ev(
            "e-l2b",
            "landing",
            "2024-11-02 09:30:00",
            anonymous_id="anon2",
            utm_source="google",
            utm_campaign=META_CAMP,
            fbclid="IwARxyz",
        ),
        _ev("e-l2c", "landing", "2024-11-02 09:40:00", anonymous_id="anon2"),  # organic: not a touch
        _signup("e-s2", "2024-11-02 10:00:00", "u2", "web", anon="anon2", country="DE"),
        _ev("e-o2", "first_order", "2024-11-04 12:00:00", user_id="u2", revenue=20.0, currency="EUR"),
        # u3: a test account: no sign-up row.
        _signup("e-s3", "2024-11-02 11:00:00", "u3", "web", anon="anon3", test=True),
        # u4 (web, 1 Nov) and u5 (app, 3 Nov) are one person: u5 merged into u4 on 4 Nov.
        _signup("e-s4", "2024-11-01 15:00:00", "u4", "web", anon="anon4"),
        _signup("e-s5", "2024-11-03 15:00:00", "u5", "ios", device="dev5"),
        _ev("e-m5", "user_merged", "2024-11-04 09:00:00", from_user_id="u5", to_user_id="u4"),
        _ev("e-r5", "first_ride", "2024-11-04 10:00:00", user_id="u5", revenue=9.0, currency="GBP"),
        # u6: app user with a view, then a click 5 s before install (spam), signs up.
        _ev("e-i6", "app_install", "2024-11-02 12:00:05", device_id="dev6", device_platform="android"),
        _signup("e-s6", "2024-11-02 13:00:00", "u6", "android", device="dev6", country="GB"),
        # u9: signed up 27 Oct, first ride 32 days later: no first revenue.
        _signup("e-s9", "2024-10-27 10:00:00", "u9", "web", anon="anon9"),
        _ev("e-r9", "first_ride", "2024-11-28 10:00:00", user_id="u9", revenue=30.0, currency="USD"),
        # u10: a late landing (happened 29 Oct, arrived 4 Nov) before a 29 Oct sign-up.
        _ev(
            "e-l10",
            "landing",
            "2024-10-29 08:00:00",
            "2024-11-04 08:00:00",
            anonymous_id="anon10",
            utm_source="tiktok",
            utm_campaign=TIKTOK_CAMP,
            ttclid="E.C.P.abc",
        ),
        _signup("e-s10", "2024-10-29 09:00:00", "u10", "web", anon="anon10", country="GB"),
        # u11: an iOS sign-up with no visible touch (SKAN pool).
        _signup("e-s11", "2024-11-02 20:00:00", "u11", "ios", device="dev11"),
    ]
    events = pl.DataFrame(ev, schema_overrides=EVENT_COLUMNS).select(
        [
            pl.col(c).cast(t) if c in pl.DataFrame(ev).columns else pl.lit(None, t).alias(c)
            for c, t in EVENT_COLUMNS.items()
        ]
    )
    w.tables["raw_events.events"] = events

    mmp = [
        _mmp("m-6v", "dev6", "2024-11-02 11:00:00", touch_type="view"),
        _mmp("m-6c", "dev6", "2024-11-02 12:00:00"),  # 5 s before install: spam
        _mmp("m-5c", "dev5", "2024-11-03 14:00:00", platform="tiktok_ads", camp=TIKTOK_CAMP),
    ]
    # dev7: 6 clicks within 50 s (a burst: all spam), then one 10 min later (not spam).
    for i in range(6):
        mmp.append(_mmp(f"m-7-{i}", "dev7", f"2024-11-03 10:00:{i * 10:02d}"))
    mmp.append(_mmp("m-7-late", "dev7", "2024-11-03 10:10:00"))
    # dev8: 5 clicks within 40 s: not a burst.
    for i in range(5):
        mmp.append(_mmp(f"m-8-{i}", "dev8", f"2024-11-03 11:00:{i * 10:02d}"))
    # the same callback delivered twice under two event ids: one touch
    mmp.append(_mmp("m-8-dup", "dev8", "2024-11-03 11:00:00"))
    w.tables["raw_events.mmp_touches"] = pl.DataFrame(mmp)

    last4 = META_CAMP[-4:]
    skan = []
    specs = [  # (postback_id, sequence, did_win, conversion_value, received_at)
        ("pb1", 0, True, 1, "2024-11-04 10:00:00"),  # signed up -> counts (install 2 Nov)
        ("pb2", 0, True, 3, "2024-11-04 11:00:00"),  # bit 0 set -> counts
        ("pb3", 0, True, 2, "2024-11-04 12:00:00"),  # bit 0 clear -> install only
        ("pb4", 0, True, None, "2024-11-04 13:00:00"),  # below privacy threshold
        ("pb5", 0, False, 1, "2024-11-04 14:00:00"),  # not the winner
        ("pb6", 1, True, 1, "2024-11-04 15:00:00"),  # later postback
        ("pb1", 0, True, 1, "2024-11-04 16:00:00"),  # re-sent copy of pb1
    ]
    for i, (pid, seq, win, cv, rx) in enumerate(specs):
        t = ts(rx).replace(tzinfo=UTC)
        skan.append(
            {
                "event_id": f"k{i}",
                "event_type": "skan_postback",
                "event_ts": t,
                "received_at": t,
                "event_date": t.date(),
                "schema_version": 1,
                "postback_id": pid,
                "ad_network_id": "v9wttpbfk9.skadnetwork",
                "platform": "meta_ads",
                "source_identifier": last4,
                "conversion_value": cv,
                "coarse_conversion_value": None,
                "postback_sequence": seq,
                "did_win": win,
                "_load_id": LOAD_1,
            }
        )
    w.tables["raw_events.skan_postbacks"] = pl.DataFrame(
        skan, schema_overrides={"conversion_value": pl.Int64, "coarse_conversion_value": pl.String}
    )
    w.tables["raw_events.identity_map"] = pl.DataFrame(
        {
            "from_user_id": ["u5"],
            "to_user_id": ["u4"],
            "canonical_user_id": ["u4"],
            "merged_at": [datetime(2024, 11, 1, 8, tzinfo=UTC)],
            "event_id": ["e-m5"],
            "_load_id": [LOAD_1],
        }
    )
