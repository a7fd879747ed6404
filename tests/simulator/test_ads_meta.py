"""The simulated Meta Marketing API: cursor paging, async runs, throttling, strictness, restatements."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import requests

from simulator.ads.api_meta import RATE_LIMITS
from simulator.ads.common import local_midnight_utc

FIELDS = "account_id,campaign_id,adset_id,ad_id,impressions,clicks,spend,actions,account_currency"
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
ACTION = "offsite_conversion.fb_pixel_complete_registration"


def _insights_url(srv, account: str, version: str = "v27.0") -> str:
    return f"{srv.url}/meta_ads/{version}/act_{account}/insights"


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
    base = f"{ads_server.url}/meta_ads/v27.0/{run}"
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
    seen = []
    for _ in range(5):
        r = requests.get(url, params=params, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["type"] == "OAuthException"
        buc = r.headers.get("X-Business-Use-Case-Usage")
        regain = json.loads(buc)[acc][0]["estimated_time_to_regain_access"] if buc else None
        seen.append((r.json()["error"]["code"], regain, "X-App-Usage" in r.headers))
    # the regain time is in minutes; an app-level throttle (and some 80000s) carry only X-App-Usage
    assert set(seen) == {
        (4, None, True),
        (17, 2, False),
        (613, 2, False),
        (80000, None, True),
        (80000, 2, False),
    }
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
    adsets = f"{ads_server.url}/meta_ads/v27.0/act_{acc['account_id']}/adsets"
    seen = {}
    for as_of in (move["effective_ts"] - 1, move["effective_ts"]):
        ads_server.set_as_of(datetime.fromtimestamp(as_of, UTC))
        rows, _, _ = _pull(adsets, tok)
        seen[as_of] = {r["id"]: r["campaign_id"] for r in rows}
    before, after = seen.values()
    assert after[move["entity_id"]] == move["value"] != before[move["entity_id"]]


def _final(ads_server, ads_state) -> None:
    """Answer after every restatement window closed (the truth's values)."""
    ads_server.set_as_of(datetime.fromtimestamp(ads_state.end_utc + 9 * 86400, UTC))


def test_hourly_rows_have_no_actions_and_daily_conversions_equal_truth(
    ads_server, ads_env, ads_state, ads_world
) -> None:
    """With the hourly breakdown ("Type 1") no row has ``actions``; the report without it (ad x day)
    carries them, and their sum per ad and local day is ``truth/conversions_daily.parquet``."""
    _final(ads_server, ads_state)
    acc = ads_state.entities["meta_ads"].accounts.to_dicts()[0]
    url = _insights_url(ads_server, acc["account_id"])
    hourly, _, _ = _pull(url, _params(ads_env, "2026-10-27", limit="100000"))
    assert hourly and not any("actions" in r or "conversions" in r for r in hourly)

    daily_params = _params(ads_env, "2026-10-24", limit="100000")
    del daily_params["breakdowns"]
    daily_params["time_range"] = json.dumps({"since": "2026-10-24", "until": "2026-11-01"})
    daily, _, _ = _pull(url, daily_params)
    assert any("actions" in r for r in daily) and not any(HOURLY in r for r in daily)
    got = {
        (r["campaign_id"], r["adset_id"], r["ad_id"], r["date_start"]): sum(
            int(a["value"]) for a in r.get("actions", []) if a["action_type"] == ACTION
        )
        for r in daily
    }
    truth = pl.read_parquet(ads_world / "truth" / "conversions_daily.parquet").filter(
        pl.col("account_id") == acc["account_id"]
    )
    want = {
        (r["campaign_id"], r["ad_group_id"], r["ad_id"], r["local_date"].isoformat()): r["conversions"]
        for r in truth.iter_rows(named=True)
    }
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in want.items() if v}
    assert sum(got.values()) == truth["conversions"].sum() > 0


def test_expired_versions_answer_2635(ads_server, ads_env, ads_state) -> None:
    """v21.0 (expired 2025-09-09) is refused with code 2635; v24.0 until 2026-11-10; v26.0 and v27.0 served."""
    acc = ads_state.entities["meta_ads"].accounts["account_id"][0]
    params = _params(ads_env, "2026-10-27")

    def code(version: str) -> int | None:
        r = requests.get(_insights_url(ads_server, acc, version), params=params, timeout=10)
        return None if r.status_code == 200 else r.json()["error"]["code"]

    ads_server.set_as_of("2026-11-09T23:00:00Z")
    assert [code(v) for v in ("v21.0", "v18.0", "v24.0", "v26.0", "v27.0", "v28.0")] == [
        2635,
        2635,
        None,
        None,
        None,
        2500,
    ]
    ads_server.set_as_of("2026-11-10T00:00:00Z")
    r = requests.get(_insights_url(ads_server, acc, "v24.0"), params=params, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == 2635
    assert "latest version: v27.0" in r.json()["error"]["message"]


def _run(ads_server, ads_env, url: str, params: dict) -> dict:
    """Start a report run and poll it twice (running, then done); the last status."""
    run = requests.post(url, data=params, timeout=10).json()["report_run_id"]
    status_url = f"{ads_server.url}/meta_ads/v27.0/{run}"
    tok = {"access_token": ads_env["SOURCES__META_ADS__ACCESS_TOKEN"]}
    assert requests.get(status_url, params=tok, timeout=10).json()["async_status"] == "Job Running"
    return requests.get(status_url, params=tok, timeout=10).json() | {"url": status_url + "/insights"}


def test_large_async_run_fails_and_filtered_runs_partition_the_report(ads_server, ads_env, ads_state) -> None:
    """The ``async_job_fail_rows`` switch fails a run with more rows (Job Failed); runs filtered to one
    campaign each (``filtering`` on campaign.id) complete and together give the whole report."""
    acc = ads_state.entities["meta_ads"].accounts["account_id"][0]
    url = _insights_url(ads_server, acc)
    params = _params(ads_env, "2026-10-27")
    whole, _, _ = _pull(url, params)
    per_campaign: dict[str, int] = {}
    for r in whole:
        per_campaign[r["campaign_id"]] = per_campaign.get(r["campaign_id"], 0) + 1
    assert len(per_campaign) > 1
    ads_server.set_faults("meta_ads", async_job_fail_rows=max(per_campaign.values()))

    failed = _run(ads_server, ads_env, url, params)
    assert (failed["async_status"], failed["async_percent_completion"]) == ("Job Failed", 0)
    tok = {"access_token": ads_env["SOURCES__META_ADS__ACCESS_TOKEN"]}
    assert requests.get(failed["url"], params=tok, timeout=10).status_code == 400

    parts = []
    for campaign in sorted(per_campaign):
        only = [{"field": "campaign.id", "operator": "IN", "value": [campaign]}]
        done = _run(ads_server, ads_env, url, params | {"filtering": json.dumps(only)})
        assert done["async_status"] == "Job Completed" and done["time_completed"] >= done["time_ref"]
        rows, _, _ = _pull(done["url"], tok | {"limit": "500"})
        assert {r["campaign_id"] for r in rows} == {campaign}
        parts.extend(rows)
    key = lambda r: (r["ad_id"], r[HOURLY])  # noqa: E731
    assert sorted(parts, key=key) == sorted(whole, key=key)
    bad = requests.get(
        url, params=params | {"filtering": '[{"field": "spend", "operator": "IN"}]'}, timeout=10
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 100


# --- the simulator's answers against the recorded-shape fixtures ------------------------------

FIXTURES = Path(__file__).parents[1] / "fixtures" / "platforms" / "meta_ads"
USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage")
NOT_SIMULATED = {
    # the simulator ends its paging with a page without `next`, never an empty page that has one
    "insights_empty_page_with_next",
    # no simulated request fails for good with is_transient false (the connector test replays it)
    "error_not_transient",
}


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _problems(sim, fx, at: str = "") -> list[str]:
    """Where ``sim`` differs in shape from ``fx``: dict keys, value types, list elements (each
    simulated element must have the shape of one of the fixture's)."""
    if isinstance(fx, dict):
        if not isinstance(sim, dict):
            return [f"{at}: {type(sim).__name__}, fixture has an object"]
        if set(sim) != set(fx):
            return [f"{at}: keys {sorted(sim)} != fixture {sorted(fx)}"]
        return [p for k in fx for p in _problems(sim[k], fx[k], f"{at}.{k}")]
    if isinstance(fx, list):
        if not isinstance(sim, list) or (sim and not fx):
            return [f"{at}: {sim!r:.60} vs fixture {fx!r:.60}"]
        return [
            f"{at}[{i}]: {min((_problems(x, f, f'{at}[{i}]') for f in fx), key=len)}"
            for i, x in enumerate(sim)
            if all(_problems(x, f) for f in fx)
        ]
    return [] if type(sim) is type(fx) else [f"{at}: {type(sim).__name__} != {type(fx).__name__}"]


class _Case:
    """Sends a fixture's request to the simulator (our account, token, day and run id)."""

    def __init__(self, srv, env: dict, account: str, day: str) -> None:
        self.srv, self.token, self.account, self.day = (
            srv,
            env["SOURCES__META_ADS__ACCESS_TOKEN"],
            account,
            day,
        )

    def send(self, name: str, *, run_id: str | None = None, **query: str) -> requests.Response:
        req = _fixture(name)["request"]
        path = req["path"].replace("act_1234567890123456", f"act_{self.account}")
        if run_id is not None:
            path = path.replace("6123456789012345", run_id)
        q, body = dict(req["query"] or {}), dict(req["body"] or {})
        for part in (q, body):
            if "time_range" in part:
                part["time_range"] = json.dumps({"since": self.day, "until": self.day})
        q.pop("after", None)
        url = f"{self.srv.url}/meta_ads{path}"
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(
            req["method"], url, params=q | query, data=body or None, headers=headers, timeout=30
        )

    def follow(self, page: requests.Response) -> requests.Response:
        """The page ``paging.next`` of ``page`` leads to."""
        url = page.json()["paging"]["next"]
        return requests.get(url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)


def _same_shape(resp: requests.Response, name: str) -> None:
    fx = _fixture(name)["response"]
    body = fx["body"]
    if name == "async_report_results_page":  # the daily report's rows: with and without actions
        body = body | {
            "data": body["data"] + _fixture("insights_daily_with_actions")["response"]["body"]["data"]
        }
    assert resp.status_code == fx["status"], (name, resp.text[:200])
    assert _problems(resp.json(), body) == [], name
    sent = {k.lower(): v for k, v in fx["headers"].items()}
    for header in USAGE_HEADERS:
        if header in sent:  # the usage header the platform sent, with its entries' shape
            assert header in resp.headers, (name, header)
            got, want = json.loads(resp.headers[header]), json.loads(sent[header])
            if header == "x-business-use-case-usage":  # keyed by the business object's id
                got, want = next(iter(got.values())), next(iter(want.values()))
            assert _problems(got, want) == [], (name, header)
    if "x-app-usage" in sent and "x-business-use-case-usage" not in sent:  # no regain time to read
        assert "X-Business-Use-Case-Usage" not in resp.headers, name


def _shape_cases(case: _Case, srv, hourly_rows: int) -> dict[str, requests.Response]:
    """Each simulated fixture case's answer."""
    out = {
        "insights_hourly_first_page": case.send("insights_hourly_first_page"),
        "insights_daily_with_actions": case.send("insights_daily_with_actions"),
        "async_report_run_created": case.send("async_report_run_created"),
        "insights_account_daily": case.send("insights_account_daily"),
    }
    last = case.send("insights_hourly_last_page", limit=str(hourly_rows - 1))
    out["insights_hourly_last_page"] = case.follow(last)
    # one exactly full page: its `next` leads to an empty page without paging
    rows = len(case.send("insights_empty_last_page", limit="100000").json()["data"])
    full = case.send("insights_empty_last_page", limit=str(rows))
    out["insights_empty_last_page"] = case.follow(full)
    run = out["async_report_run_created"].json()["report_run_id"]
    out["async_status_running"] = case.send("async_status_running", run_id=run)
    out["async_status_completed"] = case.send("async_status_completed", run_id=run)
    out["async_report_results_page"] = case.send("async_report_results_page", run_id=run)
    srv.set_faults("meta_ads", async_job_fail_rows=1)
    failing = case.send("async_report_run_created").json()["report_run_id"]
    case.send("async_status_running", run_id=failing)
    out["async_status_failed"] = case.send("async_status_failed", run_id=failing)
    srv.set_faults("meta_ads", server_error=1.0)
    out["error_transient"] = case.send("error_transient")
    srv.set_faults("meta_ads", rate_limit=1.0, retry_after_seconds=29 * 60)
    for _ in RATE_LIMITS:
        r = case.send("throttle_code_80000_buc_regain")
        code, buc = r.json()["error"]["code"], "X-Business-Use-Case-Usage" in r.headers
        name = {4: "throttle_code_4_app_limit", 17: "throttle_code_17_user_limit"}.get(code)
        name = name or {613: "throttle_code_613_ad_account"}.get(code)
        out[name or ("throttle_code_80000_buc_regain" if buc else "throttle_code_80000_app_usage_only")] = r
    srv.clear_faults()
    srv.set_as_of("2026-11-20T12:00:00Z")  # v24.0 expired on 2026-11-10
    out["expired_version_2635"] = case.send("expired_version_2635")
    return out


def test_answers_have_the_recorded_shapes(ads_server, ads_env, ads_state) -> None:
    """Every fixture case the simulator can produce has the fixture's shape: status, error code,
    keys and value types (recursively), and the usage header the platform sent."""
    acc = ads_state.entities["meta_ads"].accounts["account_id"][0]
    case = _Case(ads_server, ads_env, acc, "2026-10-27")
    n = len(_pull(_insights_url(ads_server, acc), _params(ads_env, "2026-10-27"))[0])
    answers = _shape_cases(case, ads_server, n)
    assert set(answers) | NOT_SIMULATED == {p.stem for p in FIXTURES.glob("*.json")}
    for name, resp in sorted(answers.items()):
        _same_shape(resp, name)
    buc = json.loads(answers["throttle_code_80000_buc_regain"].headers["X-Business-Use-Case-Usage"])
    assert buc[acc][0]["estimated_time_to_regain_access"] == 29
    assert answers["expired_version_2635"].json()["error"]["code"] == 2635
