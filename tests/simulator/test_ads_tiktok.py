"""The simulated TikTok Business API: errors inside HTTP 200, page/total_page, span limits, truth,
fixed-offset advertiser time zones, deleted ads, and the shapes of the recorded fixtures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import requests

from simulator.ads import api_tiktok
from simulator.ads.common import local_midnight_utc

URL = "/tiktok_ads/open_api/v1.3/report/integrated/get/"
METRICS = ["spend", "impressions", "clicks", "conversion", "campaign_id", "adgroup_id"]
# deleted ads' statistics are left out unless asked for: the truth holds what they really spent
ALL_STATUSES = json.dumps(
    [{"field_name": "ad_status", "filter_type": "IN", "filter_value": '["STATUS_ALL"]'}]
)


def _get(srv, env, path=URL, token=None, **params):
    headers = {"Access-Token": env["SOURCES__TIKTOK_ADS__ACCESS_TOKEN"] if token is None else token}
    r = requests.get(srv.url + path, params=params, headers=headers, timeout=30)
    assert r.status_code == 200, "TikTok answers errors inside HTTP 200"
    return r.json()


def _report(srv, env, adv, d0, d1, dim="stat_time_hour", **extra):
    return (
        dict(
            advertiser_id=adv,
            report_type="BASIC",
            data_level="AUCTION_AD",
            dimensions=json.dumps(["ad_id", dim]),
            metrics=json.dumps(METRICS),
            start_date=d0,
            end_date=d1,
        )
        | extra
    )


def _all_pages(srv, env, params) -> tuple[list[dict], int]:
    rows, page = [], 1
    while True:
        body = _get(srv, env, **params, page=page, page_size=1000)
        assert body["code"] == 0, body
        rows += body["data"]["list"]
        if page >= body["data"]["page_info"]["total_page"]:
            return rows, page
        page += 1


def test_pages_to_total_page_and_matches_truth(ads_server, ads_env, ads_state, ads_truth_local_day) -> None:
    ads_server.set_as_of(datetime.fromtimestamp(ads_state.end_utc + 9 * 86400, UTC))
    ads_server.set_page_size(41)
    acc = ads_state.entities["tiktok_ads"].accounts.to_dicts()[0]  # US: Etc/GMT+5
    rows, pages = _all_pages(
        ads_server,
        ads_env,
        _report(ads_server, ads_env, acc["account_id"], "2026-11-01", "2026-11-01", filtering=ALL_STATUSES),
    )
    assert pages == -(-len(rows) // 41) > 2
    m = rows[0]["metrics"]
    assert (
        isinstance(m["spend"], str)
        and isinstance(m["impressions"], str)
        and isinstance(m["campaign_id"], int)
    )
    assert rows[0]["dimensions"]["stat_time_hour"].startswith("2026-11-01 ")
    truth = ads_truth_local_day(acc["account_id"], acc["time_zone"], date(2026, 11, 1))
    assert sum(Decimal(r["metrics"]["spend"]) for r in rows) * 1_000_000 == truth["spend_micros"].sum()
    assert len(rows) == truth.height
    daily, _ = _all_pages(
        ads_server,
        ads_env,
        _report(ads_server, ads_env, acc["account_id"], "2026-10-24", "2026-11-01", dim="stat_time_day"),
    )
    assert {r["dimensions"]["stat_time_day"][:10] for r in daily} == {
        (date(2026, 10, 24) + timedelta(days=i)).isoformat() for i in range(9)
    }


def test_errors_inside_http_200(ads_server, ads_env, ads_state) -> None:
    adv = ads_state.entities["tiktok_ads"].accounts["account_id"][0]
    good = _report(ads_server, ads_env, adv, "2026-10-26", "2026-10-26")
    assert _get(ads_server, ads_env, token="", **good)["code"] == 40104
    assert _get(ads_server, ads_env, token="nope", **good)["code"] == 40105
    assert _get(ads_server, ads_env, **(good | {"advertiser_id": "7000000000000000001"}))["code"] == 40001
    bad_metric = good | {"metrics": json.dumps(["spend", "vibes"])}
    assert _get(ads_server, ads_env, **bad_metric)["code"] == 40002
    two_days_hourly = _report(ads_server, ads_env, adv, "2026-10-26", "2026-10-27")
    assert _get(ads_server, ads_env, **two_days_hourly)["code"] == 40002
    long_daily = _report(ads_server, ads_env, adv, "2026-10-01", "2026-10-31", dim="stat_time_day")
    assert _get(ads_server, ads_env, **long_daily)["code"] == 40002
    ads_server.set_faults("tiktok_ads", rate_limit=1.0)
    assert _get(ads_server, ads_env, **good)["code"] == 40100
    ads_server.set_faults("tiktok_ads", server_error=1.0)
    assert _get(ads_server, ads_env, **good)["code"] == 50000


def test_restatement_window_and_entities(ads_server, ads_env, ads_state) -> None:
    acc = ads_state.entities["tiktok_ads"].accounts.to_dicts()[-1]
    cells = ads_state.cells["tiktok_ads"]
    voided = date(1970, 1, 1) + timedelta(days=int(cells["local_day"][cells["kind"] == 2][0]))
    end = local_midnight_utc(voided + timedelta(days=1), acc["time_zone"])
    params = _report(ads_server, ads_env, acc["account_id"], voided.isoformat(), voided.isoformat())
    seen = []
    for as_of in (end - 6 * 3600, end + 3600, end + 3 * 86400):
        ads_server.set_as_of(datetime.fromtimestamp(as_of, UTC))
        rows, _ = _all_pages(ads_server, ads_env, params)
        seen.append(rows)
    partial, full, gone = seen
    assert 0 < len(partial) < len(full) and gone == []
    ads_server.set_as_of(datetime.fromtimestamp(ads_state.end_utc, UTC))
    body = _get(
        ads_server,
        ads_env,
        path="/tiktok_ads/open_api/v1.3/campaign/get/",
        advertiser_id=acc["account_id"],
        page=1,
        page_size=2,
    )
    assert body["code"] == 0 and body["data"]["page_info"]["total_page"] >= 2
    assert {"campaign_id", "campaign_name", "operation_status"} <= set(body["data"]["list"][0])


def test_pages_of_one_report_are_built_once(ads_server, ads_env, ads_state, monkeypatch) -> None:
    """Every page slices one built report (a pull is linear in its pages) and paging loses nothing."""

    ads_server.set_as_of(datetime.fromtimestamp(ads_state.end_utc + 9 * 86400, UTC))
    acc = ads_state.entities["tiktok_ads"].accounts.to_dicts()[1]
    params = _report(ads_server, ads_env, acc["account_id"], "2026-10-26", "2026-10-26")
    whole, _ = _all_pages(ads_server, ads_env, params)
    builds = []
    real = api_tiktok._report
    monkeypatch.setattr(api_tiktok, "_report", lambda *a: builds.append(1) or real(*a))
    ads_server.set_page_size(7)
    rows, pages = _all_pages(ads_server, ads_env, params)
    assert pages > 3 and len(builds) <= 1
    assert rows == whole


# --- fixed-offset time zones, deleted ads, recorded shapes (issue 14) ---------------------------

FIXTURES = Path(__file__).parents[1] / "fixtures" / "platforms" / "tiktok_ads"
ADS_START = date(2026, 10, 24)  # the first local day of the session's ad world (conftest)
US_FALL_BACK = date(2026, 11, 1)  # America/New_York leaves summer time; TikTok's Etc/GMT+5 does not


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _utc_of(day: date, hour: int, tz: str) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def test_advertiser_zone_is_a_fixed_offset_across_dst(ads_server, ads_env, ads_state, ads_truth) -> None:
    """The US advertiser reports in Etc/GMT+5 all year: on the US fall-back day every hour is UTC-5."""
    ads_server.set_as_of(datetime.fromtimestamp(ads_state.end_utc + 9 * 86400, UTC))
    acc = ads_state.entities["tiktok_ads"].accounts.filter(pl.col("market") == "US").row(0, named=True)
    info = _get(
        ads_server,
        ads_env,
        path="/tiktok_ads/open_api/v1.3/advertiser/info/",
        advertiser_ids=json.dumps([acc["account_id"]]),
    )["data"]["list"][0]
    assert (info["timezone"], info["display_timezone"]) == ("Etc/GMT+5", "America/New_York")
    got: dict[tuple[str, datetime], int] = {}
    for day in (US_FALL_BACK - timedelta(days=1), US_FALL_BACK):
        params = _report(ads_server, ads_env, acc["account_id"], day, day, filtering=ALL_STATUSES)
        rows, _ = _all_pages(ads_server, ads_env, params)
        hours = {int(r["dimensions"]["stat_time_hour"][11:13]) for r in rows}
        assert hours == set(range(24))
        for r in rows:
            local = datetime.fromisoformat(r["dimensions"]["stat_time_hour"])
            utc = _utc_of(local.date(), local.hour, info["timezone"])
            assert utc.replace(tzinfo=None) - local == timedelta(hours=5)
            key = (r["dimensions"]["ad_id"], utc)
            got[key] = got.get(key, 0) + int(Decimal(r["metrics"]["spend"]) * 1_000_000)
    lo, hi = (_utc_of(US_FALL_BACK + timedelta(days=d), 0, "Etc/GMT+5") for d in (-1, 1))
    want = (
        ads_truth.filter(pl.col("account_id") == acc["account_id"])
        .with_columns(
            (
                pl.col("spend_date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=pl.col("spend_hour"))
            ).alias("utc")
        )
        .filter(pl.col("utc").is_between(lo, hi, closed="left"))
    )
    assert got == {(r["ad_id"], r["utc"]): r["spend_micros"] for r in want.iter_rows(named=True)}


def _deletion(ads_state, ads_truth) -> tuple[dict, str, date, int]:
    """(account, deleted ad id, local day before its deletion, deletion time) of an ad that spent that day."""
    accounts = {a["account_id"]: a for a in ads_state.entities["tiktok_ads"].accounts.to_dicts()}
    deleted = ads_state.changes.filter(
        (pl.col("platform") == "tiktok_ads")
        & (pl.col("entity_type") == "ad")
        & (pl.col("value") == "DELETED")
    )
    for d in deleted.iter_rows(named=True):
        acc = accounts[d["account_id"]]
        day = datetime.fromtimestamp(d["effective_ts"], ZoneInfo(acc["time_zone"])).date() - timedelta(days=1)
        spent = ads_truth.filter(
            (pl.col("ad_id") == d["entity_id"])
            & (
                pl.col("spend_date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=pl.col("spend_hour"))
            ).is_between(
                _utc_of(day, 0, acc["time_zone"]),
                _utc_of(day, 0, acc["time_zone"]) + timedelta(days=1),
                closed="left",
            )
        )
        if day >= ADS_START and spent["spend_micros"].sum() > 0:
            return acc, d["entity_id"], day, d["effective_ts"]
    raise AssertionError("no TikTok ad was deleted after spending")


def test_deleted_ads_are_left_out_unless_status_all(ads_server, ads_env, ads_state, ads_truth) -> None:
    """After its deletion an ad's stats vanish from a default report; STATUS_ALL keeps its real spend."""
    acc, ad, day, deleted_at = _deletion(ads_state, ads_truth)
    params = _report(ads_server, ads_env, acc["account_id"], day, day)

    def spend_of_ad(**extra) -> tuple[int, int]:
        rows, _ = _all_pages(ads_server, ads_env, params | extra)
        mine = [r for r in rows if r["dimensions"]["ad_id"] == ad]
        return len(mine), sum(int(Decimal(r["metrics"]["spend"]) * 1_000_000) for r in mine)

    ads_server.set_as_of(datetime.fromtimestamp(deleted_at - 1, UTC))
    assert spend_of_ad()[0] > 0 and spend_of_ad() == spend_of_ad(filtering=ALL_STATUSES)
    ads_server.set_as_of(datetime.fromtimestamp(deleted_at + 9 * 86400, UTC))  # the day is final
    assert spend_of_ad() == (0, 0)
    n, spend = spend_of_ad(filtering=ALL_STATUSES)
    truth = ads_truth.filter(
        (pl.col("ad_id") == ad)
        & (
            pl.col("spend_date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=pl.col("spend_hour"))
        ).is_between(
            _utc_of(day, 0, acc["time_zone"]),
            _utc_of(day, 0, acc["time_zone"]) + timedelta(days=1),
            closed="left",
        )
    )
    assert n > 0 and spend == truth["spend_micros"].sum() > 0
    # the truth keeps what was really spent before the deletion; nothing is spent after it
    later = ads_truth.filter(pl.col("ad_id") == ad)
    last = later.select(
        (pl.col("spend_date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=pl.col("spend_hour"))).max()
    ).item()
    assert last < datetime.fromtimestamp(deleted_at, UTC)


def test_report_filters_are_checked(ads_server, ads_env, ads_state) -> None:
    """A malformed or unknown filter and a service type other than AUCTION are refused with 40002."""
    adv = ads_state.entities["tiktok_ads"].accounts["account_id"][0]
    good = _report(ads_server, ads_env, adv, "2026-10-26", "2026-10-26")
    assert _get(ads_server, ads_env, **good, filtering=ALL_STATUSES, service_type="AUCTION")["code"] == 0
    for bad in (
        {"filtering": "not json"},
        {"filtering": json.dumps([{"field_name": "vibes", "filter_type": "IN", "filter_value": "[]"}])},
        {"service_type": "RESERVATION"},
    ):
        assert _get(ads_server, ads_env, **good, **bad)["code"] == 40002


def _shape(value):
    """Keys and JSON types, recursively (a list by the shape its items share)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        shapes = [_shape(v) for v in value]
        assert all(s == shapes[0] for s in shapes), "items of one list differ in shape"
        return shapes[:1]
    return type(value).__name__


def _fixture_request(name: str, adv: str, day: str, **extra) -> dict:
    query = _fixture(name)["request"]["query"] | {"advertiser_id": adv, "start_date": day, "end_date": day}
    return query | extra


def test_answers_have_the_recorded_shapes(ads_server, ads_env, ads_state) -> None:
    """Success pages, throttle, system error and refusals have the fixtures' keys, types and codes."""
    adv = ads_state.entities["tiktok_ads"].accounts["account_id"][0]
    day = "2026-10-28"
    page = _fixture("report_first_page.json")["response"]["body"]
    want = _shape(page)
    # ids inside metrics: JSON integers, as the recorded v1.3 answer has them (the docs say strings)
    recorded = _shape(_fixture("report_page_integer_ids_recorded.json")["response"]["body"])
    for key in ("campaign_id", "adgroup_id"):
        want["data"]["list"][0]["metrics"][key] = recorded["data"]["list"][0]["metrics"][key]
    first = _get(ads_server, ads_env, **_fixture_request("report_first_page.json", adv, day))
    assert _shape(first) == want and first["code"] == page["code"]
    last_page = first["data"]["page_info"]["total_page"]
    last = _get(ads_server, ads_env, **_fixture_request("report_last_page.json", adv, day, page=last_page))
    assert _shape(last) == want
    cases = [
        ("throttle_40100.json", {"rate_limit": 1.0}, {}, None),
        ("system_error_50000.json", {"server_error": 1.0}, {}, None),
        ("access_token_40105.json", {}, {}, "revoked"),
        ("permission_error_40001.json", {}, {"advertiser_id": "7000000000000000001"}, None),
    ]
    for name, faults, extra, token in cases:
        ads_server.clear_faults()
        if faults:
            ads_server.set_faults("tiktok_ads", **faults)
        query = _fixture_request(name, adv, day) | extra
        body = _get(ads_server, ads_env, token=token, **query)
        expected = _fixture(name)["response"]["body"]
        assert (body["code"], _shape(body)) == (expected["code"], _shape(expected)), name
