"""The simulated Apple Ads Platform API v1 (and the Campaign Management API v5 until its sunset).

Paths, bodies and errors follow ``tests/fixtures/platforms/apple_search_ads`` (written from
Apple's documentation); :func:`test_answers_have_the_documented_shapes` replays each fixture's
request against the simulator and compares the answer's shape with the recorded one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from simulator.ads.state import AdsWorld
from simulator.server import SimServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "apple_search_ads"
V5_SUNSET = datetime(2027, 1, 26, tzinfo=UTC)
FIELDS = ["impressions", "taps", "tapInstalls", "localSpend"]


def _fixture(name: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return out


def _token(srv: SimServer, env: dict[str, str]) -> str:
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
    tok: str = r.json()["access_token"]
    return tok


def _headers(tok: str, account: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}", "X-AP-Context": f"adAccountId={account}"}


def _accounts(env: dict[str, str]) -> list[str]:
    return env["SOURCES__APPLE_SEARCH_ADS__AD_ACCOUNT_IDS"].split(",")


def _report_body(campaign: str | None, d0: str, d1: str, offset: int = 0, **extra: Any) -> dict[str, Any]:
    filters = [] if campaign is None else [{"field": "campaignId", "operator": "EQUALS", "value": campaign}]
    time_range = {"start": d0, "end": d1, "timeZone": "UTC", "granularity": "DAILY"}
    return {
        "pagination": {"offset": offset, "pageSize": 1000},
        "filters": filters,
        "fields": FIELDS,
        "timeRange": time_range,
        **extra,
    }


def _post(srv: SimServer, path: str, body: Any, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{srv.url}/apple_search_ads{path}", json=body, headers=headers, timeout=30)


def _campaigns(srv: SimServer, tok: str, account: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        body = {"filters": [], "pagination": {"offset": len(out), "pageSize": 1000, "fetchTotalCount": True}}
        r = _post(srv, "/v1/campaigns/query", body, _headers(tok, account))
        assert r.status_code == 200, r.text
        out += r.json()["result"]
        if len(out) >= r.json()["pagination"]["totalCount"]:
            return out


def _report_all(
    srv: SimServer, tok: str, account: str, campaign: str, d0: str, d1: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        r = _post(
            srv,
            "/v1/reports/apps/adgroups/query",
            _report_body(campaign, d0, d1, len(rows)),
            _headers(tok, account),
        )
        assert r.status_code == 200, r.text
        doc = r.json()
        assert "error" not in doc or doc["error"] is None
        rows += doc["result"]["rows"]
        if not doc["result"]["rows"] or len(rows) >= doc["pagination"]["totalCount"]:
            return rows


def _spend(rows: list[dict[str, Any]]) -> Decimal:
    return sum(
        (Decimal(g["localSpend"]["amount"]) for r in rows for g in r.get("granularMetrics", [])), Decimal(0)
    )


def test_campaigns_then_reports_per_campaign_match_truth(
    ads_server: SimServer, ads_env: dict[str, str], ads_truth: pl.DataFrame
) -> None:
    """Listing campaigns, then one report per campaignId, pages to exactly the truth's spend."""
    ads_server.set_as_of(datetime.fromtimestamp(ads_server.world.end_utc + 9 * 86400, UTC))
    ads_server.set_page_size(3)
    tok = _token(ads_server, ads_env)
    total = Decimal(0)
    for account in _accounts(ads_env):
        camps = _campaigns(ads_server, tok, account)
        assert len(camps) > 3 and all(isinstance(c["id"], int) for c in camps)
        for c in camps:
            rows = _report_all(ads_server, tok, account, str(c["id"]), "2026-10-24", "2026-11-01")
            assert all(r["metadata"]["campaignId"] == c["id"] for r in rows)
            total += _spend(rows)
    truth = ads_truth.filter(pl.col("platform") == "apple_search_ads")
    assert truth["spend_hour"].null_count() == truth.height
    assert total * 1_000_000 == truth["spend_micros"].sum() > 0


def test_report_without_campaign_filter_is_refused(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """Every apps report needs a campaignId filter: 400 ErrorResponse as documented."""
    tok = _token(ads_server, ads_env)
    account = _accounts(ads_env)[0]
    r = _post(
        ads_server,
        "/v1/reports/apps/adgroups/query",
        _report_body(None, "2026-10-25", "2026-10-27"),
        _headers(tok, account),
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "INVALID_ARGUMENT"
    assert [d["code"] for d in err["details"]] == ["MISSING_REQUIRED_FILTER"]


def test_time_range_rules(ads_server: SimServer, ads_env: dict[str, str], ads_state: AdsWorld) -> None:
    """DAILY needs more than one day and a start within 90 days; one day is asked without granularity."""
    tok = _token(ads_server, ads_env)
    account = _accounts(ads_env)[0]
    camp = str(_campaigns(ads_server, tok, account)[0]["id"])
    path, hdr = "/v1/reports/apps/adgroups/query", _headers(tok, account)
    assert _post(ads_server, path, _report_body(camp, "2026-10-27", "2026-10-27"), hdr).status_code == 400
    one_day = _report_body(camp, "2026-10-27", "2026-10-27")
    del one_day["timeRange"]["granularity"]
    r = _post(ads_server, path, one_day, hdr)
    assert r.status_code == 200, r.text
    rows = r.json()["result"]["rows"]
    assert rows and all("granularMetrics" not in row for row in rows)
    assert {row["totalMetrics"]["date"] for row in rows} == {"2026-10-27"}
    assert _post(ads_server, path, _report_body(camp, "2026-10-27", "2026-10-26"), hdr).status_code == 400
    ads_server.set_as_of(datetime(2026, 10, 27, tzinfo=UTC) + timedelta(days=91))
    assert _post(ads_server, path, _report_body(camp, "2026-10-27", "2026-10-28"), hdr).status_code == 400
    big = _report_body(camp, "2026-10-27", "2026-10-28")
    big["pagination"]["pageSize"] = 5001
    assert _post(ads_server, path, big, hdr).status_code == 400


def test_scoped_to_an_ad_account(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """X-AP-Context must name an ad account the token may use (orgId= is the v5 form)."""
    tok = _token(ads_server, ads_env)
    account = _accounts(ads_env)[0]
    body = {"filters": [], "pagination": {"offset": 0, "pageSize": 10}}
    r = _post(
        ads_server,
        "/v1/campaigns/query",
        body,
        {"Authorization": f"Bearer {tok}", "X-AP-Context": f"orgId={account}"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert _post(ads_server, "/v1/campaigns/query", body, _headers(tok, "999")).status_code == 403
    r = requests.get(
        f"{ads_server.url}/apple_search_ads/v1/ad-accounts/{account}",
        headers=_headers(tok, account),
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["result"]["id"] == int(account)
    assert r.json()["result"]["currency"] in ("USD", "GBP")
    # without fetchTotalCount the query answers no totalCount (QueryPaginationResult)
    r = _post(ads_server, "/v1/campaigns/query", body, _headers(tok, account))
    assert "totalCount" not in r.json()["pagination"] and r.json()["pagination"]["pageSize"] == len(
        r.json()["result"]
    )


def test_v5_answers_until_its_sunset(
    ads_server: SimServer, ads_env: dict[str, str], ads_state: AdsWorld
) -> None:
    """Campaign Management API v5 answers before 2027-01-26 (as-of) and is refused from then on."""
    tok = _token(ads_server, ads_env)
    account = _accounts(ads_env)[0]
    camp = ads_state.entities["apple_search_ads"].campaigns.filter(pl.col("account_id") == account)[
        "campaign_id"
    ][0]
    url = f"{ads_server.url}/apple_search_ads/api/v5/reports/campaigns/{camp}/adgroups"
    body = _fixture("v5_adgroups_report")["request"]["body"] | {
        "startTime": "2026-10-25",
        "endTime": "2026-10-27",
    }
    hdr = {"Authorization": f"Bearer {tok}", "X-AP-Context": f"orgId={account}"}
    ads_server.set_as_of(V5_SUNSET - timedelta(seconds=1))
    r = requests.post(url, json=body, headers=hdr, timeout=10)
    assert r.status_code == 200 and r.json()["data"]["reportingDataResponse"]["row"]
    ads_server.set_as_of(V5_SUNSET)
    r = requests.post(url, json=body, headers=hdr, timeout=10)
    assert r.status_code == 404
    assert r.json()["error"]["errors"][0]["messageCode"] == "NOT_FOUND"


def test_expired_token_and_rate_limit(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """401 on an expired token (a fresh one works); 429 with Retry-After and the RateLimit-* headers."""
    tok = _token(ads_server, ads_env)
    account = _accounts(ads_env)[0]
    camp = str(_campaigns(ads_server, tok, account)[0]["id"])
    path, body = "/v1/reports/apps/adgroups/query", _report_body(camp, "2026-10-25", "2026-10-26")
    r = _post(ads_server, path, body, _headers(tok, account))
    assert r.ok and {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(r.headers)
    assert _post(ads_server, path, body | {"colour": "blue"}, _headers(tok, account)).status_code == 400
    ads_server.set_faults("apple_search_ads", rate_limit=1.0)
    r = _post(ads_server, path, body, _headers(tok, account))
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["RateLimit-Remaining"] == "0"
    ads_server.clear_faults()
    ads_server.set_faults("apple_search_ads", expire_tokens=True)
    r = _post(ads_server, path, body, _headers(tok, account))
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    assert _post(ads_server, path, body, _headers(_token(ads_server, ads_env), account)).ok


def test_partial_utc_day_and_restatement(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """A UTC day grows while it runs, is restated for the window, then stays final."""
    tok = _token(ads_server, ads_env)
    account = _accounts(ads_env)[0]
    camps = [str(c["id"]) for c in _campaigns(ads_server, tok, account)]
    start = int(datetime(2026, 10, 27, tzinfo=UTC).timestamp())

    def spend(as_of: int) -> Decimal:
        ads_server.set_as_of(datetime.fromtimestamp(as_of, UTC))
        rows = [
            r for c in camps for r in _report_all(ads_server, tok, account, c, "2026-10-27", "2026-10-28")
        ]
        return sum(
            (
                Decimal(g["localSpend"]["amount"])
                for r in rows
                for g in r["granularMetrics"]
                if g["date"] == "2026-10-27"
            ),
            Decimal(0),
        )

    noon, day1, final, later = (
        spend(t) for t in (start + 12 * 3600, start + 86400 + 3600, start + 8 * 86400, start + 20 * 86400)
    )
    assert 0 < noon < day1 and day1 != final and final == later


# -- shape test: the simulator against the recorded fixtures ----------------------------------


def _kind(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def shape_problems(sim: Any, rec: Any, path: str = "$") -> list[str]:
    """Where ``sim`` differs in shape from ``rec``: same keys and JSON types, recursively.

    A list's elements must each have the shape of some element of the recorded list; a list
    recorded with elements must not come back empty (that would compare nothing).
    """
    if isinstance(rec, dict):
        if not isinstance(sim, dict):
            return [f"{path}: {_kind(sim)} where the record has an object"]
        out = [f"{path}: keys {sorted(set(sim) ^ set(rec))} differ"] if set(sim) != set(rec) else []
        for k in set(sim) & set(rec):
            out += shape_problems(sim[k], rec[k], f"{path}.{k}")
        return out
    if isinstance(rec, list):
        if not isinstance(sim, list):
            return [f"{path}: {_kind(sim)} where the record has a list"]
        if not rec:
            return []
        out = [] if sim else [f"{path}: empty where the record has elements"]
        for i, item in enumerate(sim):
            tries: list[list[str]] = [shape_problems(item, r, f"{path}[{i}]") for r in rec]
            if all(tries):
                closest: list[str] = min(tries, key=len)
                out += closest
        return out
    return [] if _kind(sim) == _kind(rec) else [f"{path}: {_kind(sim)} where the record has {_kind(rec)}"]


def _replay(
    srv: SimServer, name: str, tok: str, subst: dict[str, str]
) -> tuple[requests.Response, dict[str, Any]]:
    """Send the fixture's request, its ids and dates replaced by the world's, to the simulator."""
    rec = _fixture(name)
    req = rec["request"]
    text = json.dumps({"path": req["path"], "body": req["body"], "headers": req["headers"]})
    for old, new in subst.items():
        text = text.replace(old, new)
    sent = json.loads(text)
    headers = {**sent["headers"], "Authorization": f"Bearer {tok}"}
    url = f"{srv.url}/apple_search_ads{sent['path']}"
    resp = requests.request(req["method"], url, json=sent["body"], headers=headers, timeout=30)
    return resp, rec["response"]


def _codes(body: dict[str, Any]) -> list[str]:
    err = body["error"]
    if "errors" in err:  # v5
        return [e["messageCode"] for e in err["errors"]]
    return [err["code"], *[d["code"] for d in err.get("details", [])]]


CASES = [
    "ad_account",
    "campaigns_query",
    "adgroups_query",
    "adgroups_report",
    "adgroups_report_missing_campaign_filter",
    "unauthorized_401",
    "rate_limited_429",
    "v5_adgroups_report",
]


@pytest.mark.parametrize("case", CASES)
def test_answers_have_the_documented_shapes(
    case: str, ads_server: SimServer, ads_env: dict[str, str], ads_state: AdsWorld
) -> None:
    """Each recorded exchange, replayed with the world's ids, gets the same status, body shape and codes."""
    tok = _token(ads_server, ads_env)
    account = _accounts(ads_env)[0]
    camp = ads_state.entities["apple_search_ads"].campaigns.filter(pl.col("account_id") == account)[
        "campaign_id"
    ][0]
    if case == "unauthorized_401":
        tok = "EXPIRED.FAKE.TOKEN"
    if case == "rate_limited_429":
        ads_server.set_faults("apple_search_ads", rate_limit=1.0)
    ads_server.set_as_of(datetime(2026, 11, 3, tzinfo=UTC))
    world = {"123456789": account, "40669820": account, "542370539": camp}
    dates = {"2026-11-16": "2026-10-25", "2026-11-20": "2026-10-29"}
    resp, rec = _replay(ads_server, case, tok, world | dates)
    assert resp.status_code == rec["status"], resp.text
    body = resp.json()
    assert shape_problems(body, rec["body"]) == []
    if rec["status"] >= 400:
        assert _codes(body) == _codes(rec["body"])
    documented = {k.lower() for k in rec["headers"]} - {"content-type"}
    assert documented <= {k.lower() for k in resp.headers}


def test_shape_check_catches_drift() -> None:
    """The shape check itself: a renamed key, a number sent as a string, an empty list all show."""
    rec = _fixture("adgroups_report")["response"]["body"]
    assert shape_problems(rec, rec) == []
    drifted = json.loads(json.dumps(rec))
    row = drifted["result"]["rows"][0]
    row["metadata"]["adGroupId"] = row["metadata"].pop("id")
    row["granularMetrics"][0]["taps"] = "412"
    problems = shape_problems(drifted, rec)
    assert any("metadata: keys" in p for p in problems)
    assert any("taps: str where the record has int" in p for p in problems)
    assert shape_problems({**rec, "result": {**rec["result"], "rows": []}}, rec) != []
