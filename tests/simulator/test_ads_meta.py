"""The simulated Meta Marketing API: cursor paging, async runs, throttling, strictness, restatements."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import polars as pl
import requests

from simulator.ads.common import local_midnight_utc

FIELDS = "account_id,campaign_id,adset_id,ad_id,impressions,clicks,spend,actions,account_currency"
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"


def _insights_url(srv, account: str) -> str:
    return f"{srv.url}/meta_ads/v21.0/act_{account}/insights"


def _params(env, d: str, **extra) -> dict:
    return {
        "access_token": env["SOURCES__META_ADS__ACCESS_TOKEN"],
        "level": "ad",
        "fields": FIELDS,
        "time_range": json.dumps({"since": d, "until": d}),
        "time_increment": "1",
        "breakdowns": HOURLY,
        "limit": "500",
    } | extra


def _pull(url: str, params: dict | None) -> tuple[list[dict], int, bool]:
    """Follow paging.next to the end; returns rows, pages, and whether the last page was empty."""
    rows, pages, last_empty = [], 0, False
    while url:
        r = requests.get(url, params=params, timeout=30)
        assert r.status_code == 200, r.text
        assert "X-Business-Use-Case-Usage" in r.headers
        pages += 1
        data = r.json()["data"]
        rows += data
        last_empty = not data
        url, params = r.json().get("paging", {}).get("next"), None
    return rows, pages, last_empty


def test_pages_hourly_insights_and_matches_truth_on_dst_day(
    ads_server, ads_env, ads_state, ads_truth_local_day
) -> None:
    ads_server.set_as_of(datetime.fromtimestamp(ads_state.end_utc + 9 * 86400, UTC))
    acc = next(
        a for a in ads_state.entities["meta_ads"].accounts.to_dicts() if a["time_zone"] == "Europe/Paris"
    )
    url = _insights_url(ads_server, acc["account_id"])
    rows, _, _ = _pull(url, _params(ads_env, "2026-10-25", limit="100000"))
    # An exactly full last page still carries a `next`, which leads to an empty page.
    rows2, pages, last_empty = _pull(url, _params(ads_env, "2026-10-25", limit=str(len(rows) // 4)))
    if len(rows) % 4 == 0:
        assert last_empty and pages == 5
    assert rows2 == rows
    ads_server.set_page_size(37)
    rows3, pages3, _ = _pull(url, _params(ads_env, "2026-10-25"))
    assert rows3 == rows and pages3 >= len(rows) // 37
    assert all(isinstance(r["spend"], str) and isinstance(r["impressions"], str) for r in rows)
    assert {r[HOURLY][:2] for r in rows} == {f"{h:02d}" for h in range(24)}
    truth = ads_truth_local_day(acc["account_id"], acc["time_zone"], date(2026, 10, 25))
    # 25 real hours (22:00 UTC .. 22:00 UTC next day); the repeated 02:00 is one row at its first UTC hour.
    assert truth["utc"].n_unique() == 24 and truth["utc"].max() - truth["utc"].min() == timedelta(hours=24)
    api_spend = sum(Decimal(r["spend"]) for r in rows)
    assert api_spend * 1_000_000 == truth["spend_micros"].sum()
    assert len(rows) == truth.height


def test_async_report_runs(ads_server, ads_env, ads_state) -> None:
    acc = ads_state.entities["meta_ads"].accounts["account_id"][0]
    url = _insights_url(ads_server, acc)
    params = _params(ads_env, "2026-10-27")
    sync_rows, _, _ = _pull(url, params)
    run = requests.post(url, data=params, timeout=10).json()["report_run_id"]
    base = f"{ads_server.url}/meta_ads/v21.0/{run}"
    tok = {"access_token": ads_env["SOURCES__META_ADS__ACCESS_TOKEN"]}
    assert requests.get(base, params=tok, timeout=10).json()["async_status"] == "Job Running"
    assert requests.get(base + "/insights", params=tok, timeout=10).status_code == 400
    status = requests.get(base, params=tok, timeout=10).json()
    assert (status["async_status"], status["async_percent_completion"]) == ("Job Completed", 100)
    async_rows, _, _ = _pull(base + "/insights", tok | {"limit": "300"})
    assert async_rows == sync_rows


def test_throttling_and_strict_errors(ads_server, ads_env, ads_state) -> None:
    acc = ads_state.entities["meta_ads"].accounts["account_id"][0]
    url = _insights_url(ads_server, acc)
    params = _params(ads_env, "2026-10-27")
    ads_server.set_faults("meta_ads", rate_limit=1.0, retry_after_seconds=120)
    codes = set()
    for _ in range(4):
        r = requests.get(url, params=params, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["type"] == "OAuthException"
        codes.add(r.json()["error"]["code"])
        usage = json.loads(r.headers["X-Business-Use-Case-Usage"])[acc][0]
        assert usage["estimated_time_to_regain_access"] == 2
    assert codes == {17, 4, 613, 80000}
    ads_server.clear_faults()
    assert requests.get(url, params={**params, "access_token": ""}, timeout=10).json()["error"]["code"] == 104
    assert (
        requests.get(url, params={**params, "access_token": "EAAwrong"}, timeout=10).json()["error"]["code"]
        == 190
    )
    bad = requests.get(url, params={**params, "fields": "spend,cost_per_unicorn"}, timeout=10)
    assert bad.status_code == 400 and "cost_per_unicorn" in bad.json()["error"]["message"]
    other = _insights_url(ads_server, "1234567890123456")
    assert requests.get(other, params=params, timeout=10).json()["error"]["code"] == 100


def test_restatement_and_voided_slice_and_entities(ads_server, ads_env, ads_state) -> None:
    accounts = ads_state.entities["meta_ads"].accounts.to_dicts()
    cells = ads_state.cells["meta_ads"]
    gb = accounts[-1]
    voided = date(1970, 1, 1) + timedelta(days=int(cells["local_day"][cells["kind"] == 2][0]))
    end = local_midnight_utc(voided + timedelta(days=1), gb["time_zone"])
    url = _insights_url(ads_server, gb["account_id"])
    totals = []
    for as_of in (end + 3600, end + 86400 + 3600, end + 7 * 86400):
        ads_server.set_as_of(datetime.fromtimestamp(as_of, UTC))
        rows, _, _ = _pull(url, _params(ads_env, voided.isoformat(), limit="2000"))
        totals.append((len(rows), sum(Decimal(r["spend"]) for r in rows)))
    assert totals[0][0] > 0 and totals[0] != totals[1] and totals[2] == (0, 0)

    acc = accounts[0]
    move = ads_state.changes.filter(
        (pl.col("account_id") == acc["account_id"]) & (pl.col("field") == "campaign_id")
    )
    move = move.row(0, named=True)
    tok = {
        "access_token": ads_env["SOURCES__META_ADS__ACCESS_TOKEN"],
        "fields": "id,campaign_id,updated_time",
    }
    adsets = f"{ads_server.url}/meta_ads/v21.0/act_{acc['account_id']}/adsets"
    seen = {}
    for as_of in (move["effective_ts"] - 1, move["effective_ts"]):
        ads_server.set_as_of(datetime.fromtimestamp(as_of, UTC))
        rows, _, _ = _pull(adsets, tok)
        seen[as_of] = {r["id"]: r["campaign_id"] for r in rows}
    before, after = seen.values()
    assert after[move["entity_id"]] == move["value"] != before[move["entity_id"]]
