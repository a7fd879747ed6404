"""Google Ads recorded-shape fixtures through the connector's parsing and classification, without the simulator.

Each fixture in ``tests/fixtures/platforms/google_ads`` is one HTTP exchange written from Google's
documentation (its ``source`` names the pages). Error bodies are classified as the session would
classify them; the search pages are replayed by a scripted local server through the connector's
own request, paging and decoding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from requests.structures import CaseInsensitiveDict

import connector_sdk.exceptions as sdk_exceptions
from connector_sdk.http import ApiSession, RetryPolicy
from connector_sdk.responses import ResponseAction, install_decoder
from connector_sdk.specs import Account
from connector_sdk.windows import DateWindow
from connectors.google_ads import GoogleAdsConnector
from connectors.google_ads import settings as S
from connectors.google_ads.helpers import decode_search_page, search_paginator
from tests.connectors.fakes import FakeServer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "platforms" / "google_ads"
HOST = "https://googleads.googleapis.com"
CID = "1234567890"
# real backoff logic; waits the platform asks for are recorded, not slept
POLICY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002, max_wait=3600.0)
PullDeferred: type[Exception] | None = getattr(sdk_exceptions, "PullDeferred", None)


def fixture(name: str) -> dict[str, Any]:
    """One recorded exchange."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def wire_body(fx: dict[str, Any]) -> bytes:
    """The response body as sent (JSON, or the HTML text of a 404)."""
    body = fx["response"]["body"]
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def as_response(fx: dict[str, Any]) -> requests.Response:
    """A ``requests.Response`` carrying the fixture's status, headers and body, for its request."""
    req = fx["request"]
    prepared = requests.Request(req["method"], HOST + req["path"], json=req["body"]).prepare()
    resp = requests.Response()
    resp.status_code = fx["response"]["status"]
    resp.headers = CaseInsensitiveDict(fx["response"]["headers"])
    resp._content = wire_body(fx)
    resp.request, resp.url, resp.encoding = prepared, str(prepared.url), "utf-8"
    return resp


def scripted(fx: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """The fixture's answer as a FakeServer reply."""
    return fx["response"]["status"], {}, wire_body(fx)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    """One scripted server for the module."""
    with FakeServer() as srv:
        yield srv


def connector(server: FakeServer) -> GoogleAdsConnector:
    """The connector pointed at the scripted server (``<url>/google_ads``), with fake credentials."""
    creds = {
        "developer_token": "FAKEDEVTOKEN0123456789",
        "client_id": "cid",
        "client_secret": "secret",
        "refresh_token": "refresh",
        "customer_ids": CID,
        "login_customer_id": "9876543210",
    }
    return GoogleAdsConnector(base_url=server.url, credentials=creds, retry=POLICY)


# -- classification of every error fixture ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "action", "delay"),
    [
        ("search_first_page", ResponseAction.SUCCESS, None),
        ("search_last_page", ResponseAction.SUCCESS, None),
        ("customer_info", ResponseAction.SUCCESS, None),
        # hours: longer than a run waits, so the SDK defers the pull instead of sleeping through it
        ("quota_daily_operations_exhausted", ResponseAction.RATE_LIMITED, 17941.0),
        ("quota_rate_short_delay", ResponseAction.RATE_LIMITED, 30.0),
        # no retryDelay: transient, backed off and retried (never a fatal daily quota)
        ("resource_temporarily_exhausted", ResponseAction.RATE_LIMITED, None),
        ("sunset_unsupported_version", ResponseAction.FAIL, None),
        ("sunset_v18_not_found", ResponseAction.FAIL, None),
        ("unauthenticated", ResponseAction.REFRESH_TOKEN, None),
        ("invalid_gaql_query", ResponseAction.FAIL, None),
    ],
)
def test_each_fixture_resolves_to_its_action(name: str, action: ResponseAction, delay: float | None) -> None:
    """Each recorded answer gets the action (and the wait) Google's documentation calls for."""
    resolution = GoogleAdsConnector.errors.resolve(as_response(fixture(name)))
    assert resolution.action is action, resolution
    assert resolution.delay == delay


def test_quota_messages_name_the_rate_and_the_wait() -> None:
    """A deferral reads as the daily quota with Google's own wait, a rate error as what it is."""
    daily = GoogleAdsConnector.errors.resolve(as_response(fixture("quota_daily_operations_exhausted")))
    assert "Number of operations for basic access" in daily.message and "\n" not in daily.message
    temp = GoogleAdsConnector.errors.resolve(as_response(fixture("resource_temporarily_exhausted")))
    assert "RESOURCE_TEMPORARILY_EXHAUSTED" in temp.message


@pytest.mark.parametrize("name", ["sunset_unsupported_version", "sunset_v18_not_found"])
def test_a_sunset_version_fails_with_what_to_change(name: str) -> None:
    """Both forms of a sunset version (400 UNSUPPORTED_VERSION, later a 404 HTML page) say what to set."""
    resolution = GoogleAdsConnector.errors.resolve(as_response(fixture(name)))
    assert "sunset" in resolution.message and "sources.google_ads.api_version" in resolution.message
    assert "<" not in resolution.message, "no HTML in the message"


def test_resource_exhausted_without_retry_delay_is_retried(server: FakeServer) -> None:
    """RESOURCE_TEMPORARILY_EXHAUSTED (and any quota body without retryDelay) is retried with backoff."""
    ok = scripted(fixture("search_last_page"))
    server.script(scripted(fixture("resource_temporarily_exhausted")), ok)
    slept: list[float] = []
    s = ApiSession("google_ads", GoogleAdsConnector.errors.resolve, POLICY, sleep=slept.append)
    assert s.post(server.url + "/search").status_code == 200
    assert len(server.seen) == 2 and len(slept) == 1 and slept[0] < 1.0


def test_short_rate_delay_is_waited(server: FakeServer) -> None:
    """A short ``retryDelay`` ("30s") is the wait before the retry."""
    server.script(scripted(fixture("quota_rate_short_delay")), scripted(fixture("search_last_page")))
    slept: list[float] = []
    s = ApiSession("google_ads", GoogleAdsConnector.errors.resolve, POLICY, sleep=slept.append)
    s.post(server.url + "/search")
    assert slept == [pytest.approx(30.0)]


@pytest.mark.skipif(PullDeferred is None, reason="needs the SDK's PullDeferred (issue 14 infrastructure)")
def test_daily_quota_defers_at_once_instead_of_sleeping(server: FakeServer) -> None:
    """The 17941 s daily-quota delay ends the pull at once as a deferral: one request, no sleep."""
    assert PullDeferred is not None
    server.script(scripted(fixture("quota_daily_operations_exhausted")))
    conn = connector(server)
    slept: list[float] = []
    session = conn.session(CID)
    session._sleep = slept.append
    with pytest.raises(PullDeferred) as err:
        session.post(server.url + "/search")
    assert err.value.delay_seconds == pytest.approx(17941.0)  # type: ignore[attr-defined]
    assert len(server.seen) == 1 and slept == []


# -- search pages through the connector ----------------------------------------------------------


def test_search_pages_are_requested_paged_and_parsed(server: FakeServer) -> None:
    """The report is asked of /v26 with its total, paged by pageToken, and each fixture row lands typed."""
    first, last = fixture("search_first_page"), fixture("search_last_page")
    server.script(
        (200, {}, {"access_token": "ya29.FAKE", "expires_in": 3599}), scripted(first), scripted(last)
    )
    account = Account(CID, "America/Los_Angeles", "USD")
    pages = list(connector(server).fetch_report(account, DateWindow(date(2026, 11, 19), date(2026, 11, 20))))

    searches = server.seen[1:]
    assert [s.path for s in searches] == [f"/google_ads/{S.API_VERSION}/customers/{CID}/googleAds:search"] * 2
    assert S.API_VERSION == "v26"
    bodies = [json.loads(s.body) for s in searches]
    assert bodies[0]["searchSettings"] == {"returnTotalResultsCount": True}
    assert "pageToken" not in bodies[0]
    assert bodies[1]["pageToken"] == first["response"]["body"]["nextPageToken"]
    assert searches[0].headers["developer-token"] == "FAKEDEVTOKEN0123456789"

    table = pa.concat_tables(pages)
    rows = table.select(
        ["ad_id", "report_date", "report_hour", "impressions", "clicks", "cost_micros"]
    ).to_pylist()
    assert [(r["ad_id"], r["report_hour"], r["clicks"], r["cost_micros"]) for r in rows] == [
        ("701234567891", 14, 41, 38_120_000),
        ("701234567891", 15, 0, 0),  # zero metrics sent explicitly ("0") read as 0
        ("701234567892", 15, 63, 51_770_000),
        ("701234567892", 9, 22, 19_400_000),
    ]
    assert table.column("conversions").to_pylist() == [2.0, 0.0, 3.5, 0.0]
    assert table.column("report_date").to_pylist()[-1] == date(2026, 11, 20)
    assert set(table.column("currency").to_pylist()) == {"USD"}


def test_rows_without_metrics_keys_read_as_zero() -> None:
    """A row whose metrics object lacks a key (older shape) reads that metric as 0, not null."""
    body = fixture("search_last_page")["response"]["body"]
    body["results"][0]["metrics"] = {"impressions": "5"}
    page = decode_search_page(json.dumps(body).encode())
    table = GoogleAdsConnector().report_page(page["results"], Account(CID, "UTC", "USD"))
    assert table.select(["impressions", "clicks", "cost_micros", "conversions"]).to_pylist() == [
        {"impressions": 5, "clicks": 0, "cost_micros": 0, "conversions": 0.0}
    ]


def _paginated(fx: dict[str, Any], **extra: Any) -> Any:
    fx["response"]["body"].update(extra)
    resp = as_response(fx)
    install_decoder(resp, decode_search_page)
    paginator = search_paginator()
    paginator.update_state(resp, [resp.json()["results"]])
    return paginator


def test_paginator_reports_the_platform_total_when_given() -> None:
    """``expected_total`` is Google's totalResultsCount (int64 as a string); None when not sent."""
    with_total = _paginated(fixture("search_first_page"), totalResultsCount="10004")
    assert with_total.expected_total == 10004 and with_total.has_next_page
    without = _paginated(fixture("search_last_page"))
    assert without.expected_total is None and not without.has_next_page


def test_customer_info_gives_the_account_zone_and_currency(server: FakeServer) -> None:
    """The customer query's answer is the account's time zone and currency."""
    server.script((200, {}, {"access_token": "ya29.FAKE"}), scripted(fixture("customer_info")))
    assert connector(server).list_accounts() == [Account(CID, "America/Los_Angeles", "USD")]
    assert server.seen[1].path == f"/google_ads/v26/customers/{CID}/googleAds:search"
