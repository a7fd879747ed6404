"""The simulated Impact API: Basic auth, @-paging, 45-day span, 429 headers, locking, truth."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import requests


def _auth(env) -> tuple[str, str]:
    return env["SOURCES__IMPACT__ACCOUNT_SID"], env["SOURCES__IMPACT__AUTH_TOKEN"]


def _actions(srv, env, start: str, end: str, page_size: int = 100) -> tuple[list[dict], int]:
    sid = env["SOURCES__IMPACT__ACCOUNT_SID"]
    url = f"{srv.url}/impact/Advertisers/{sid}/Actions"
    params: dict | None = {"ActionDateStart": start, "ActionDateEnd": end, "PageSize": page_size}
    rows, pages = [], 0
    while url:
        r = requests.get(
            url, params=params, auth=_auth(env), headers={"Accept": "application/json"}, timeout=30
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert all(
            isinstance(body[k], str) for k in ("@page", "@numpages", "@pagesize", "@total", "@nextpageuri")
        )
        rows += body["Actions"]
        pages += 1
        nxt = body["@nextpageuri"]
        url, params = (f"{srv.url}/impact{nxt}" if nxt else None), None
    return rows, pages


def test_actions_page_and_final_payout_matches_truth(ads_server, ads_env, ads_state, ads_truth) -> None:
    ads_server.set_as_of(datetime.fromtimestamp(ads_state.end_utc + 9 * 86400, UTC))
    ads_server.set_page_size(25)
    rows, pages = _actions(ads_server, ads_env, "2026-10-24T00:00:00Z", "2026-11-02T00:00:00Z")
    assert pages == -(-len(rows) // 25) > 3
    assert {r["State"] for r in rows} == {"APPROVED", "REVERSED"}
    paid = sum(Decimal(r["Payout"]) for r in rows if r["State"] != "REVERSED")
    truth = ads_truth.filter(pl.col("platform") == "impact")
    assert paid * 1_000_000 == truth["spend_micros"].sum() > 0
    assert truth["ad_id"].null_count() == truth.height
    assert set(truth["ad_group_id"]) <= {r["MediaPartnerId"] for r in rows}


def test_pending_until_locking_and_payout_changes(ads_server, ads_env) -> None:
    ads_server.set_as_of("2026-10-26T12:00:00Z")
    early, _ = _actions(ads_server, ads_env, "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z", 1000)
    ads_server.set_as_of("2026-11-10T00:00:00Z")
    late, _ = _actions(ads_server, ads_env, "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z", 1000)
    assert {r["State"] for r in early} <= {"PENDING", "REVERSED"} and "PENDING" in {r["State"] for r in early}
    assert {r["Id"] for r in early} == {r["Id"] for r in late}
    changed = [
        a for a, b in zip(early, late, strict=True) if (a["Payout"], a["State"]) != (b["Payout"], b["State"])
    ]
    assert changed, "payouts or states change before LockingDate"
    assert all(r["LockingDate"] <= "2026-11-10" for r in late)


def test_strictness_and_rate_limit_headers(ads_server, ads_env) -> None:
    sid = ads_env["SOURCES__IMPACT__ACCOUNT_SID"]
    url = f"{ads_server.url}/impact/Advertisers/{sid}/Actions"
    ok = {"ActionDateStart": "2026-10-25T00:00:00Z", "ActionDateEnd": "2026-10-26T00:00:00Z"}
    js = {"Accept": "application/json"}
    assert requests.get(url, params=ok, headers=js, timeout=10).status_code == 401
    assert requests.get(url, params=ok, auth=(sid, "wrong"), headers=js, timeout=10).status_code == 401
    long = {"ActionDateStart": "2026-09-01T00:00:00Z", "ActionDateEnd": "2026-10-26T00:00:00Z"}
    r = requests.get(url, params=long, auth=_auth(ads_env), headers=js, timeout=10)
    assert r.status_code == 400 and "45 days" in r.json()["Message"]
    xml = requests.get(url, params=ok, auth=_auth(ads_env), timeout=10)
    assert xml.headers["Content-Type"].startswith("application/xml")
    ads_server.set_faults("impact", rate_limit=1.0)
    r = requests.get(url, params=ok, auth=_auth(ads_env), headers=js, timeout=10)
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert r.headers["X-RateLimit-Remaining"] == "0" and int(r.headers["X-RateLimit-Reset"]) > 0
