"""The simulated TikTok Business API: errors inside HTTP 200, page/total_page, span limits, truth."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import requests

from simulator.ads import api_tiktok
from simulator.ads.common import local_midnight_utc

URL = "/tiktok_ads/open_api/v1.3/report/integrated/get/"
METRICS = ["spend", "impressions", "clicks", "conversion", "campaign_id", "adgroup_id"]


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
    acc = ads_state.entities["tiktok_ads"].accounts.to_dicts()[0]  # America/New_York
    rows, pages = _all_pages(
        ads_server, ads_env, _report(ads_server, ads_env, acc["account_id"], "2026-11-01", "2026-11-01")
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
