"""The coarse account x day reports (the reconciliation gate's source) through each connector, no simulator.

Each fixture (tests/fixtures/platforms/<platform>: search_customer_by_date, insights_account_daily,
report_advertiser_daily, campaigns_report) is one documented exchange. A scripted local server
answers with it; the connector must send the fixture's request and parse the answer into the
``account_daily`` / ``campaign_daily`` rows, to the cent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
import pytest

from connector_sdk.http import FAST_RETRY
from connector_sdk.specs import Account, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.apple_search_ads import AppleSearchAdsConnector
from connectors.apple_search_ads.connector import CAMPAIGN_DAILY
from connectors.google_ads import GoogleAdsConnector
from connectors.google_ads.connector import ACCOUNT_DAILY as GOOGLE_DAILY
from connectors.meta_ads import MetaAdsConnector
from connectors.meta_ads.connector import ACCOUNT_DAILY as META_DAILY
from connectors.tiktok_ads import TikTokAdsConnector
from connectors.tiktok_ads.connector import ACCOUNT_DAILY as TIKTOK_DAILY
from tests.connectors.fakes import FakeServer, Reply

FIXTURES = Path(__file__).parents[1] / "fixtures" / "platforms"
JSON_PARAMS = ("dimensions", "metrics", "time_range")  # query values that are JSON documents


def fixture(path: str) -> dict[str, Any]:
    """One recorded exchange."""
    loaded: dict[str, Any] = json.loads((FIXTURES / path).read_text())
    return loaded


def reply(path: str) -> Reply:
    """The fixture's response as the scripted server sends it."""
    r = fixture(path)["response"]
    return (r["status"], {k: v for k, v in r["headers"].items() if k.lower() != "content-type"}, r["body"])


def query_of(path: str) -> dict[str, Any]:
    """A request path's query, JSON-valued parameters parsed."""
    q = dict(parse_qsl(urlsplit(path).query))
    return {k: json.loads(v) if k in JSON_PARAMS else v for k, v in q.items()}


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A scripted server for one test."""
    with FakeServer() as srv:
        yield srv


def pull(conn: Any, spec: ReportSpec, account: Account, first: date, last: date) -> list[dict[str, Any]]:
    """The coarse report of one account and window, as rows."""
    pages = list(conn.fetch_extra_report(spec, account, DateWindow(first, last)))
    return pa.concat_tables(pages).to_pylist() if pages else []


def test_google_customer_by_date(server: FakeServer) -> None:
    """FROM customer by segments.date: one row per day with delivery; the zero-spend day keeps its impressions."""
    name = "google_ads/search_customer_by_date.json"
    server.script(reply(name))
    creds = {k: "x" for k in ("developer_token", "client_id", "client_secret", "refresh_token")}
    conn = GoogleAdsConnector(
        base_url=server.url, credentials={**creds, "customer_ids": "1234567890"}, retry=FAST_RETRY
    )
    conn._token = "ya29.FAKE"
    rows = pull(
        conn,
        GOOGLE_DAILY,
        Account("1234567890", "America/Los_Angeles", "USD"),
        date(2026, 11, 19),
        date(2026, 11, 21),
    )
    sent = server.seen[0]
    assert sent.path.split("?")[0] == "/google_ads" + fixture(name)["request"]["path"]
    assert json.loads(sent.body) == fixture(name)["request"]["body"]
    assert [(r["report_date"], r["cost_micros"], r["impressions"], r["clicks"]) for r in rows] == [
        (date(2026, 11, 20), 2_384_560_000, 48213, 1502),
        (date(2026, 11, 21), 0, 1200, 0),
    ]
    assert {(r["account_id"], r["currency"], r["time_zone"]) for r in rows} == {
        ("1234567890", "USD", "America/Los_Angeles")
    }


def test_meta_account_level_daily(server: FakeServer) -> None:
    """level=account, time_increment=1, read synchronously: a row per local day, spend as a decimal string."""
    name = "meta_ads/insights_account_daily.json"
    server.script(reply(name))
    creds = {"access_token": "EAAFAKEACCESSTOKEN", "account_ids": "1234567890123456"}
    conn = MetaAdsConnector(base_url=server.url, credentials=creds, retry=FAST_RETRY)
    rows = pull(
        conn,
        META_DAILY,
        Account("1234567890123456", "America/New_York", "USD"),
        date(2026, 11, 20),
        date(2026, 11, 21),
    )
    assert len(server.seen) == 1 and server.seen[0].method == "GET"
    sent = server.seen[0]
    assert sent.path.split("?")[0] == "/meta_ads" + fixture(name)["request"]["path"]
    asked = {
        k: json.loads(v) if k in JSON_PARAMS else v for k, v in fixture(name)["request"]["query"].items()
    }
    assert query_of(sent.path) == asked
    assert sent.headers["Authorization"] == "Bearer EAAFAKEACCESSTOKEN"
    assert [(r["report_date"], r["spend"], r["impressions"], r["clicks"]) for r in rows] == [
        (date(2026, 11, 20), Decimal("5339.5"), 361324, 4210),
        (date(2026, 11, 21), Decimal("4711.06"), 298111, 3877),
    ]
    assert {r["currency"] for r in rows} == {"USD"}


def test_tiktok_advertiser_daily(server: FakeServer) -> None:
    """AUCTION_ADVERTISER with advertiser_id + stat_time_day, no ad_status filter; the day from stat_time_day."""
    name = "tiktok_ads/report_advertiser_daily.json"
    server.script(reply(name))
    creds = {"access_token": "fake0a1b2c3d4e5f", "advertiser_ids": "7012345678901234567"}
    conn = TikTokAdsConnector(base_url=server.url, credentials=creds, retry=FAST_RETRY)
    day = date(2026, 11, 20)
    rows = pull(conn, TIKTOK_DAILY, Account("7012345678901234567", "Etc/GMT+8", "USD"), day, day)
    sent = server.seen[0]
    assert sent.path.split("?")[0] == "/tiktok_ads" + fixture(name)["request"]["path"]
    asked = {
        k: json.loads(v) if k in JSON_PARAMS else v for k, v in fixture(name)["request"]["query"].items()
    }
    assert query_of(sent.path) == asked
    assert [(r["report_date"], r["spend"], r["impressions"], r["clicks"]) for r in rows] == [
        (day, Decimal("131.64"), 21877, 342)
    ]


def test_apple_campaigns_report(server: FakeServer) -> None:
    """One campaigns report per campaign (campaignId filter), DAILY in UTC: a row per campaign and day."""
    name = "apple_search_ads/campaigns_report.json"
    server.script(reply(name))
    creds = {"client_id": "x", "client_secret": "y", "ad_account_ids": "123456789"}
    conn = AppleSearchAdsConnector(base_url=server.url, credentials=creds, retry=FAST_RETRY)
    conn._token = "FAKE.APPLE.ACCESS.TOKEN"
    conn._campaigns["123456789"] = [{"id": 542370539}]
    rows = pull(
        conn, CAMPAIGN_DAILY, Account("123456789", "UTC", "USD"), date(2026, 11, 19), date(2026, 11, 20)
    )
    sent = server.seen[0]
    req = fixture(name)["request"]
    assert sent.path == "/apple_search_ads" + req["path"]
    assert json.loads(sent.body) == req["body"]
    assert sent.headers["X-AP-Context"] == req["headers"]["X-AP-Context"]
    assert [
        (r["campaign_id"], r["report_date"], r["local_spend"], r["impressions"], r["taps"]) for r in rows
    ] == [
        ("542370539", date(2026, 11, 19), Decimal("241.25"), 76150, 1605),
        ("542370539", date(2026, 11, 20), Decimal("241.25"), 76150, 1605),
    ]
