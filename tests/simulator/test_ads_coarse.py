"""The coarse account x day reports the simulator serves beside the fine ones (the reconciliation gate's source).

Google ``FROM customer`` by ``segments.date``, Meta insights ``level=account`` by day, TikTok
``AUCTION_ADVERTISER`` by ``stat_time_day`` and Apple's campaigns report come from the same
world state as the fine reports: once a day's restatement window has passed they equal
``truth/spend_final`` per account and local day; and each answer has the shape of its
recorded fixture (tests/fixtures/platforms/<platform>, written from the documentation).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import requests

from simulator.ads.state import AdsWorld
from simulator.server import SimServer
from tests.simulator.test_ads_apple import shape_problems

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms"
FINAL_DAY = date(2026, 10, 24)  # the world's first local day: past its 7-day window at the world's end
D0, D1 = "2026-10-24", "2026-10-25"
MICROS = Decimal(1_000_000)


def _fixture(path: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads((FIXTURES / path).read_text())
    return out


def _micros(amount: str) -> int:
    return int(Decimal(amount) * MICROS)


def _google(srv: SimServer, env: dict[str, str], customer: str, query: str) -> requests.Response:
    form = {"grant_type": "refresh_token"} | {
        k: env[f"SOURCES__GOOGLE_ADS__{k.upper()}"] for k in ("client_id", "client_secret", "refresh_token")
    }
    tok = requests.post(f"{srv.url}/google_ads/token", data=form, timeout=10).json()["access_token"]
    headers = {
        "Authorization": f"Bearer {tok}",
        "developer-token": env["SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN"],
    }
    url = f"{srv.url}/google_ads/v26/customers/{customer}/googleAds:search"
    return requests.post(url, json={"query": query}, headers=headers, timeout=30)


def _meta(srv: SimServer, env: dict[str, str], account: str, query: dict[str, str]) -> requests.Response:
    headers = {"Authorization": f"Bearer {env['SOURCES__META_ADS__ACCESS_TOKEN']}"}
    return requests.get(
        f"{srv.url}/meta_ads/v27.0/act_{account}/insights", params=query, headers=headers, timeout=30
    )


def _tiktok(srv: SimServer, env: dict[str, str], query: dict[str, str]) -> requests.Response:
    headers = {"Access-Token": env["SOURCES__TIKTOK_ADS__ACCESS_TOKEN"]}
    url = f"{srv.url}/tiktok_ads/open_api/v1.3/report/integrated/get/"
    return requests.get(url, params=query, headers=headers, timeout=30)


def _apple(srv: SimServer, env: dict[str, str], account: str, body: dict[str, Any]) -> requests.Response:
    form = {"grant_type": "client_credentials", "scope": "searchadsorg"} | {
        k: env[f"SOURCES__APPLE_SEARCH_ADS__{k.upper()}"] for k in ("client_id", "client_secret")
    }
    tok = requests.post(f"{srv.url}/apple_search_ads/auth/oauth2/token", data=form, timeout=10).json()
    headers = {"Authorization": f"Bearer {tok['access_token']}", "X-AP-Context": f"adAccountId={account}"}
    return requests.post(
        f"{srv.url}/apple_search_ads/v1/reports/apps/campaigns/query", json=body, headers=headers, timeout=30
    )


def _accounts(state: AdsWorld, platform: str) -> list[dict[str, Any]]:
    return list(state.entities[platform].accounts.iter_rows(named=True))


def _truth(rows: pl.DataFrame) -> tuple[int, int, int]:
    return int(rows["spend_micros"].sum()), int(rows["impressions"].sum()), int(rows["clicks"].sum())


def _google_query(d0: str, d1: str) -> str:
    fx = str(_fixture("google_ads/search_customer_by_date.json")["request"]["body"]["query"])
    return fx.replace("2026-11-19", d0).replace("2026-11-21", d1)


def _meta_query(d0: str, d1: str) -> dict[str, str]:
    q = dict(_fixture("meta_ads/insights_account_daily.json")["request"]["query"])
    q["time_range"] = json.dumps({"since": d0, "until": d1})
    return q


def _tiktok_query(advertiser: str, d0: str, d1: str) -> dict[str, str]:
    q = dict(_fixture("tiktok_ads/report_advertiser_daily.json")["request"]["query"])
    return q | {"advertiser_id": advertiser, "start_date": d0, "end_date": d1}


def _apple_body(campaign: str, d0: str, d1: str) -> dict[str, Any]:
    body = json.loads(json.dumps(_fixture("apple_search_ads/campaigns_report.json")["request"]["body"]))
    body["filters"][0]["value"] = campaign
    body["timeRange"] |= {"start": d0, "end": d1}
    return dict(body)


def test_google_customer_by_date_equals_truth(
    ads_server: SimServer,
    ads_env: dict[str, str],
    ads_state: AdsWorld,
    ads_truth_local_day: Callable[..., Any],
) -> None:
    for acc in _accounts(ads_state, "google_ads"):
        r = _google(ads_server, ads_env, acc["account_id"], _google_query(D0, D0))
        (row,) = r.json()["results"]
        got = (
            int(row["metrics"]["costMicros"]),
            int(row["metrics"]["impressions"]),
            int(row["metrics"]["clicks"]),
        )
        assert got == _truth(ads_truth_local_day(acc["account_id"], acc["time_zone"], FINAL_DAY))


def test_meta_account_level_equals_truth(
    ads_server: SimServer,
    ads_env: dict[str, str],
    ads_state: AdsWorld,
    ads_truth_local_day: Callable[..., Any],
) -> None:
    for acc in _accounts(ads_state, "meta_ads"):
        (row,) = _meta(ads_server, ads_env, acc["account_id"], _meta_query(D0, D0)).json()["data"]
        got = (_micros(row["spend"]), int(row["impressions"]), int(row["clicks"]))
        assert got == _truth(ads_truth_local_day(acc["account_id"], acc["time_zone"], FINAL_DAY))


def test_tiktok_advertiser_level_equals_truth(
    ads_server: SimServer,
    ads_env: dict[str, str],
    ads_state: AdsWorld,
    ads_truth_local_day: Callable[..., Any],
) -> None:
    for acc in _accounts(ads_state, "tiktok_ads"):
        body = _tiktok(ads_server, ads_env, _tiktok_query(acc["account_id"], D0, D0)).json()
        (row,) = body["data"]["list"]
        assert row["dimensions"] == {"advertiser_id": acc["account_id"], "stat_time_day": f"{D0} 00:00:00"}
        m = row["metrics"]
        got = (_micros(m["spend"]), int(m["impressions"]), int(m["clicks"]))
        assert got == _truth(ads_truth_local_day(acc["account_id"], acc["time_zone"], FINAL_DAY))


def test_apple_campaigns_sum_to_the_account_truth(
    ads_server: SimServer,
    ads_env: dict[str, str],
    ads_state: AdsWorld,
    ads_truth_local_day: Callable[..., Any],
) -> None:
    for acc in _accounts(ads_state, "apple_search_ads"):
        camps = ads_state.entities["apple_search_ads"].campaigns.filter(
            pl.col("account_id") == acc["account_id"]
        )
        spend = imps = taps = 0
        for campaign in camps["campaign_id"].to_list():
            rows = _apple(ads_server, ads_env, acc["account_id"], _apple_body(campaign, D0, D1)).json()[
                "result"
            ]["rows"]
            for day in (d for row in rows for d in row["granularMetrics"] if d["date"] == D0):
                spend += _micros(day["localSpend"]["amount"])
                imps, taps = imps + day["impressions"], taps + day["taps"]
        assert (spend, imps, taps) == _truth(ads_truth_local_day(acc["account_id"], "UTC", FINAL_DAY))


def test_apple_campaigns_report_requires_the_campaign_filter(
    ads_server: SimServer, ads_env: dict[str, str], ads_state: AdsWorld
) -> None:
    acc = _accounts(ads_state, "apple_search_ads")[0]["account_id"]
    body = _apple_body("1", D0, D1) | {"filters": []}
    r = _apple(ads_server, ads_env, acc, body)
    assert r.status_code == 400 and "campaignId" in r.text


def test_answers_have_the_recorded_shapes(
    ads_server: SimServer, ads_env: dict[str, str], ads_state: AdsWorld
) -> None:
    """Each coarse answer has its fixture's keys and JSON types, recursively, and its status."""
    g, m, t, a = (
        _accounts(ads_state, p)[0]["account_id"]
        for p in ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads")
    )
    campaign = ads_state.entities["apple_search_ads"].campaigns.filter(pl.col("account_id") == a)[
        "campaign_id"
    ][0]
    answers = {
        "google_ads/search_customer_by_date.json": _google(ads_server, ads_env, g, _google_query(D0, D1)),
        "meta_ads/insights_account_daily.json": _meta(ads_server, ads_env, m, _meta_query(D0, D1)),
        "tiktok_ads/report_advertiser_daily.json": _tiktok(ads_server, ads_env, _tiktok_query(t, D0, D0)),
        "apple_search_ads/campaigns_report.json": _apple(
            ads_server, ads_env, a, _apple_body(campaign, D0, D1)
        ),
    }
    for name, r in answers.items():
        rec = _fixture(name)["response"]
        assert r.status_code == rec["status"], name
        assert shape_problems(r.json(), rec["body"]) == [], name
