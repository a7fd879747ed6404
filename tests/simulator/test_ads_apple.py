"""The simulated Apple Search Ads API: OAuth, 401 on expiry, offset/limit, strictness, truth."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import requests


def _token(srv, env) -> str:
    r = requests.post(
        f"{srv.url}/apple_search_ads/auth/oauth2/token",
        timeout=10,
        data={
            "grant_type": "client_credentials",
            "client_id": env["SOURCES__APPLE_SEARCH_ADS__CLIENT_ID"],
            "client_secret": env["SOURCES__APPLE_SEARCH_ADS__CLIENT_SECRET"],
            "scope": "searchadsorg",
        },
    )
    assert r.status_code == 200 and r.json()["expires_in"] == 3600
    return r.json()["access_token"]


def _headers(tok: str, org: str) -> dict:
    return {"Authorization": f"Bearer {tok}", "X-AP-Context": f"orgId={org}"}


def _body(d0: str, d1: str, offset: int = 0, limit: int = 1000) -> dict:
    return {
        "startTime": d0,
        "endTime": d1,
        "granularity": "DAILY",
        "timeZone": "UTC",
        "returnRowTotals": False,
        "selector": {
            "orderBy": [{"field": "adGroupId", "sortOrder": "ASCENDING"}],
            "pagination": {"offset": offset, "limit": limit},
        },
    }


def _report_all(srv, tok, org, campaign, d0, d1) -> list[dict]:
    rows, offset = [], 0
    while True:
        r = requests.post(
            f"{srv.url}/apple_search_ads/api/v5/reports/campaigns/{campaign}/adgroups",
            json=_body(d0, d1, offset),
            headers=_headers(tok, org),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        page = r.json()["data"]["reportingDataResponse"]["row"]
        rows += page
        offset += len(page)
        if not page or offset >= r.json()["pagination"]["totalResults"]:
            return rows


def test_pages_campaigns_and_reports_match_truth(ads_server, ads_env, ads_state, ads_truth) -> None:
    ads_server.set_as_of(datetime.fromtimestamp(ads_state.end_utc + 9 * 86400, UTC))
    ads_server.set_page_size(3)
    tok = _token(ads_server, ads_env)
    orgs = ads_env["SOURCES__APPLE_SEARCH_ADS__ORG_ID"].split(",")
    total = Decimal(0)
    for org in orgs:
        camps, offset = [], 0
        while True:
            r = requests.get(
                f"{ads_server.url}/apple_search_ads/api/v5/campaigns",
                params={"offset": offset, "limit": 1000},
                headers=_headers(tok, org),
                timeout=10,
            )
            camps += r.json()["data"]
            offset += r.json()["pagination"]["itemsPerPage"]
            if offset >= r.json()["pagination"]["totalResults"]:
                break
        assert len(camps) > 3
        for c in camps:
            for row in _report_all(ads_server, tok, org, c["id"], "2026-10-24", "2026-11-01"):
                total += sum(Decimal(g["localSpend"]["amount"]) for g in row["granularity"])
    truth = ads_truth.filter(pl.col("platform") == "apple_search_ads")
    assert truth["spend_hour"].null_count() == truth.height
    assert total * 1_000_000 == truth["spend_micros"].sum() > 0


def test_expired_token_strictness_and_rate_limit(ads_server, ads_env, ads_state) -> None:
    tok = _token(ads_server, ads_env)
    org = ads_env["SOURCES__APPLE_SEARCH_ADS__ORG_ID"].split(",")[0]
    camp = ads_state.entities["apple_search_ads"].campaigns.filter(pl.col("account_id") == org)[
        "campaign_id"
    ][0]
    url = f"{ads_server.url}/apple_search_ads/api/v5/reports/campaigns/{camp}/adgroups"
    assert requests.post(
        url, json=_body("2026-10-25", "2026-10-25"), headers=_headers(tok, org), timeout=10
    ).ok
    bad = _body("2026-10-25", "2026-10-25") | {"colour": "blue"}
    assert requests.post(url, json=bad, headers=_headers(tok, org), timeout=10).status_code == 400
    long = _body("2026-01-01", "2026-10-25")
    assert requests.post(url, json=long, headers=_headers(tok, org), timeout=10).status_code == 400
    assert (
        requests.post(
            url, json=_body("2026-10-25", "2026-10-25"), headers=_headers(tok, "999"), timeout=10
        ).status_code
        == 403
    )
    ads_server.set_faults("apple_search_ads", rate_limit=1.0)
    r = requests.post(url, json=_body("2026-10-25", "2026-10-25"), headers=_headers(tok, org), timeout=10)
    assert r.status_code == 429 and r.json()["error"]["errors"][0]["messageCode"] == "RATE_LIMIT_EXCEEDED"
    ads_server.set_faults("apple_search_ads", expire_tokens=True)
    r = requests.post(url, json=_body("2026-10-25", "2026-10-25"), headers=_headers(tok, org), timeout=10)
    assert r.status_code == 401
    fresh = _token(ads_server, ads_env)
    assert requests.post(
        url, json=_body("2026-10-25", "2026-10-25"), headers=_headers(fresh, org), timeout=10
    ).ok


def test_partial_utc_day_and_restatement(ads_server, ads_env, ads_state) -> None:
    tok = _token(ads_server, ads_env)
    org = ads_env["SOURCES__APPLE_SEARCH_ADS__ORG_ID"].split(",")[0]
    camps = ads_state.entities["apple_search_ads"].campaigns.filter(pl.col("account_id") == org)[
        "campaign_id"
    ]
    day = date(2026, 10, 27)
    start = int(datetime(2026, 10, 27, tzinfo=UTC).timestamp())

    def spend(as_of: int) -> Decimal:
        ads_server.set_as_of(datetime.fromtimestamp(as_of, UTC))
        return sum(
            (
                Decimal(g["localSpend"]["amount"])
                for c in camps
                for row in _report_all(ads_server, tok, org, c, day.isoformat(), day.isoformat())
                for g in row["granularity"]
            ),
            Decimal(0),
        )

    noon, day1, final, later = (
        spend(t) for t in (start + 12 * 3600, start + 86400 + 3600, start + 8 * 86400, start + 20 * 86400)
    )
    assert 0 < noon < day1 and day1 != final and final == later
