"""Apple Ads Platform API v1 as documented: recorded-shape fixtures through the connector, no simulator.

Each fixture under ``tests/fixtures/platforms/apple_search_ads`` is one HTTP exchange written
from Apple's documentation (its ``source`` names the pages). The connector's parsing and its
error classification are fed those bodies directly; a small local server replays them for a
whole pull, so the requests the connector builds are checked against the documented ones too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from connector_sdk.exceptions import FatalAPIError
from connector_sdk.http import FAST_RETRY
from connector_sdk.responses import ResponseAction
from connector_sdk.specs import Account
from connector_sdk.windows import DateWindow
from connectors.apple_search_ads import AppleSearchAdsConnector
from connectors.apple_search_ads import settings as S
from connectors.apple_search_ads.helpers import ERRORS, day_rows, query_paginator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "apple_search_ads"
ACCOUNT_ID = "123456789"
CREDENTIALS = {"client_id": "SEARCHADS.x", "client_secret": "jwt.secret.sig", "ad_account_ids": ACCOUNT_ID}


def fixture(name: str) -> dict[str, Any]:
    """One recorded exchange."""
    out: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return out


def response_of(name: str) -> requests.Response:
    """The fixture's response as ``requests`` would hand it to the connector."""
    rec = fixture(name)["response"]
    resp = requests.Response()
    resp.status_code = rec["status"]
    resp.headers.update(rec["headers"])
    body = rec["body"]
    resp._content = (body if isinstance(body, str) else json.dumps(body)).encode()
    return resp


def connector(base_url: str | None = None) -> AppleSearchAdsConnector:
    return AppleSearchAdsConnector(
        base_url=base_url, credentials=CREDENTIALS, retry=FAST_RETRY, requests_per_second=0
    )


# -- parsing ------------------------------------------------------------------------------------


def test_report_rows_are_ad_group_days_with_exact_money() -> None:
    """result.rows[] x granularMetrics[] become one row per ad group and UTC day; ids are strings."""
    body = fixture("adgroups_report")["response"]["body"]
    window = DateWindow(date(2026, 11, 16), date(2026, 11, 20))
    page = connector().report_page(
        day_rows(body["result"]["rows"], window), Account(ACCOUNT_ID, "UTC", "USD")
    )
    rows = page.to_pylist()
    assert len(rows) == 10
    first = rows[0]
    assert first == {
        "account_id": ACCOUNT_ID,
        "campaign_id": "542370539",
        "ad_group_id": "555666777",
        "report_date": date(2026, 11, 16),
        "currency": "USD",
        "impressions": 8120,
        "taps": 412,
        "tap_installs": 97,
        "local_spend": Decimal("101.34"),
    }
    # the deleted ad group's spend is real spend: it is kept
    assert {r["ad_group_id"] for r in rows} == {"555666777", "555666778"}
    total = sum((r["local_spend"] for r in rows), Decimal(0))
    assert total == Decimal(body["result"]["summary"]["grandTotal"]["localSpend"]["amount"])


def test_single_day_report_reads_total_metrics() -> None:
    """Without ``granularity`` (a one-day request) Apple answers totalMetrics only: one row per ad group."""
    body = fixture("adgroups_report")["response"]["body"]
    rows = [{k: v for k, v in r.items() if k != "granularMetrics"} for r in body["result"]["rows"]]
    window = DateWindow(date(2026, 11, 16), date(2026, 11, 16))
    out = day_rows(rows, window)
    assert [(r["date"], r["metadata"]["id"], r["localSpend"]["amount"]) for r in out] == [
        ("2026-11-16", 555666777, "469.28"),
        ("2026-11-16", 555666778, "84.12"),
    ]


def test_paginator_reports_the_platform_total() -> None:
    """The report's top-level ``pagination.totalCount`` is the expected row count of the request."""
    paginator = query_paginator(1000)
    resp = response_of("adgroups_report")
    paginator.update_state(resp, resp.json()["result"]["rows"])
    assert paginator.expected_total == 2
    assert not paginator.has_next_page


# -- classification -------------------------------------------------------------------------


def test_missing_campaign_filter_is_fatal_and_says_why() -> None:
    """HTTP 400 ErrorResponse: retrying cannot help; the message carries Apple's reason."""
    res = ERRORS.resolve(response_of("adgroups_report_missing_campaign_filter"))
    assert res.action is ResponseAction.FAIL
    assert "campaignId" in res.message and "MISSING_REQUIRED_FILTER" in res.message


def test_unauthorized_refreshes_the_token() -> None:
    assert ERRORS.resolve(response_of("unauthorized_401")).action is ResponseAction.REFRESH_TOKEN


def test_rate_limit_waits_for_retry_after() -> None:
    """429: wait ``Retry-After`` seconds (falling back to ``RateLimit-Reset``), as the docs ask."""
    res = ERRORS.resolve(response_of("rate_limited_429"))
    assert res.action is ResponseAction.RATE_LIMITED and res.delay == 37
    resp = response_of("rate_limited_429")
    del resp.headers["Retry-After"]
    resp.headers["RateLimit-Reset"] = "12"
    assert ERRORS.resolve(resp).delay == 12


def test_error_inside_a_200_is_checked_before_result() -> None:
    """The docs: check ``error`` before ``result``; a 200 carrying an error is not data."""
    resp = response_of("adgroups_report")
    body = fixture("adgroups_report")["response"]["body"]
    body["error"] = fixture("adgroups_report_missing_campaign_filter")["response"]["body"]["error"]
    resp._content = json.dumps(body).encode()
    assert ERRORS.resolve(resp).action is ResponseAction.FAIL
    assert ERRORS.resolve(response_of("adgroups_report")).action is ResponseAction.SUCCESS


def test_versions_are_declared() -> None:
    """The Platform API v1 is the default; Campaign Management API v5 sunsets on 2027-01-26."""
    assert S.API_VERSION == "v1"
    assert S.SUNSETS == {"v5": date(2027, 1, 26)}


# -- a whole pull against the recorded answers -------------------------------------------------


@dataclass
class Replay:
    """Answers Apple's documented endpoints with the fixtures; records what was asked."""

    seen: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    def answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        self.seen.append((method, path, headers, body))
        if path == "/apple_search_ads/auth/oauth2/token":
            return 200, {
                "access_token": "FAKE.APPLE.ACCESS.TOKEN",
                "token_type": "Bearer",
                "expires_in": 3600,
            }
        if headers.get("x-ap-context") != f"adAccountId={ACCOUNT_ID}":
            return 400, {
                "error": {"code": "INVALID_ARGUMENT", "message": "X-AP-Context adAccountId= required"}
            }
        if path == f"/apple_search_ads/v1/ad-accounts/{ACCOUNT_ID}":
            return 200, fixture("ad_account")["response"]["body"]
        if path == "/apple_search_ads/v1/campaigns/query":
            return 200, fixture("campaigns_query")["response"]["body"]
        if path == "/apple_search_ads/v1/adgroups/query":
            return 200, fixture("adgroups_query")["response"]["body"]
        if path == "/apple_search_ads/v1/reports/apps/adgroups/query":
            filters = {f.get("field"): f.get("value") for f in body.get("filters", [])}
            if "campaignId" not in filters:
                return 400, fixture("adgroups_report_missing_campaign_filter")["response"]["body"]
            report = fixture("adgroups_report")["response"]["body"]
            if str(filters["campaignId"]) != "542370539":
                report = {"result": {"rows": []}, "pagination": {"totalCount": 0, "offset": 0, "pageSize": 0}}
            return 200, report
        return 404, {"error": {"code": "NOT_FOUND", "message": path}}


@pytest.fixture
def replay() -> Iterator[Replay]:
    rep = Replay()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode()
            status, out = rep.answer(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    rep.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=rep.httpd.serve_forever, daemon=True)
    thread.start()
    yield rep
    rep.httpd.shutdown()
    rep.httpd.server_close()


def test_pull_lists_campaigns_then_asks_each_with_its_campaign_filter(replay: Replay) -> None:
    """The documented sequence: ad account, campaigns (deleted included), one report per campaign."""
    assert replay.httpd is not None
    conn = connector(f"http://127.0.0.1:{replay.httpd.server_address[1]}")
    [account] = conn.list_accounts()
    assert account == Account(ACCOUNT_ID, "UTC", "USD")
    window = DateWindow(date(2026, 11, 16), date(2026, 11, 20))
    rows = [r for page in conn.fetch_report(account, window) for r in page.to_pylist()]
    assert len(rows) == 10 and sum(r["local_spend"] for r in rows) == Decimal("553.40")
    reports = [b for m, p, _, b in replay.seen if p.endswith("/reports/apps/adgroups/query")]
    assert sorted(str(f["value"]) for b in reports for f in b["filters"] if f["field"] == "campaignId") == [
        "542370539",
        "542370540",
    ]
    documented = fixture("adgroups_report")["request"]["body"]
    for body in reports:
        assert set(body) >= {"filters", "fields", "timeRange", "pagination"}
        assert body["timeRange"] == {**documented["timeRange"], "timeZone": "UTC"}
        assert [f for f in body["filters"] if f["field"] == "campaignId"][0]["operator"] == "EQUALS"
        assert set(body["pagination"]) == {"offset", "pageSize"}
    camp_query = next(b for _, p, _, b in replay.seen if p.endswith("/campaigns/query"))
    assert {"field": "deleted", "operator": "IN", "value": [True, False]} in camp_query["filters"]
    assert all(h.get("authorization") == "Bearer FAKE.APPLE.ACCESS.TOKEN" for _, p, h, _ in replay.seen[1:])


def test_entities_come_from_the_query_endpoints(replay: Replay) -> None:
    """Campaigns (with the deleted one) and ad groups, ids as strings, parents from the wire."""
    assert replay.httpd is not None
    conn = connector(f"http://127.0.0.1:{replay.httpd.server_address[1]}")
    ents = conn.fetch_entities(conn.list_accounts())
    assert [(c["campaign_id"], c["status"]) for c in ents["campaigns"]] == [
        ("542370539", "RUNNING"),
        ("542370540", "PAUSED"),
    ]
    assert [(g["ad_group_id"], g["campaign_id"]) for g in ents["ad_groups"]] == [("555666777", "542370539")]
    assert {c["currency"] for c in ents["campaigns"]} == {"USD"}


def test_a_refused_report_fails_the_pull_with_apples_reason(replay: Replay) -> None:
    """Were a report asked without its campaign filter, the run stops with a one-line reason."""
    assert replay.httpd is not None
    conn = connector(f"http://127.0.0.1:{replay.httpd.server_address[1]}")
    with pytest.raises(FatalAPIError, match="MISSING_REQUIRED_FILTER"):
        list(
            conn.paginate(
                ACCOUNT_ID,
                "/v1/reports/apps/adgroups/query",
                paginator=query_paginator(10),
                data_selector="result.rows",
                method="POST",
                json={"filters": []},
                headers={"X-AP-Context": f"adAccountId={ACCOUNT_ID}"},
            )
        )
