"""Meta's recorded-shape fixtures (tests/fixtures/platforms/meta_ads) through the connector, no simulator.

Each fixture is one HTTP exchange written from Meta's documentation (its ``source``): the
answers are classified by the connector's error mapping, parsed by its field maps, and
replayed in order by a scripted local server for the async report flow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from connector_sdk.exceptions import ConnectorError, FatalAPIError
from connector_sdk.http import ApiSession, RetryPolicy
from connector_sdk.responses import ResponseAction
from connector_sdk.specs import Account
from connector_sdk.windows import DateWindow
from connectors.meta_ads import MetaAdsConnector
from connectors.meta_ads import settings as S
from tests.connectors.fakes import FakeServer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "platforms" / "meta_ads"
ACCOUNT = Account("1234567890123456", "America/Los_Angeles", "USD")
DAY = DateWindow(date(2026, 11, 20), date(2026, 11, 20))
# real backoff logic, waits recorded instead of slept
POLICY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002, max_wait=7200.0)


def fixture(name: str) -> dict[str, Any]:
    """One recorded exchange."""
    out: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return out


def as_response(name: str) -> requests.Response:
    """The fixture's answer as the ``requests.Response`` the connector would receive."""
    fx = fixture(name)
    resp = requests.Response()
    resp.status_code = fx["response"]["status"]
    resp.headers = CaseInsensitiveDict(fx["response"]["headers"])
    body = fx["response"]["body"]
    resp._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    resp.url = "https://graph.facebook.com" + fx["request"]["path"]
    return resp


def reply(name: str, base: str = "") -> tuple[int, dict[str, str], Any]:
    """The fixture's answer for the scripted server; ``paging`` links point at ``base`` instead of Meta."""
    fx = fixture(name)["response"]
    text = json.dumps(fx["body"]).replace("https://graph.facebook.com", f"{base}/meta_ads")
    return fx["status"], dict(fx["headers"]), json.loads(text)


CLASSIFIED = {
    "insights_hourly_first_page": (ResponseAction.SUCCESS, None),
    "insights_hourly_last_page": (ResponseAction.SUCCESS, None),
    "insights_daily_with_actions": (ResponseAction.SUCCESS, None),
    "insights_account_daily": (ResponseAction.SUCCESS, None),
    "insights_empty_page_with_next": (ResponseAction.SUCCESS, None),
    "insights_empty_last_page": (ResponseAction.SUCCESS, None),
    "async_report_run_created": (ResponseAction.SUCCESS, None),
    "async_status_running": (ResponseAction.SUCCESS, None),
    "async_status_completed": (ResponseAction.SUCCESS, None),
    "async_status_failed": (ResponseAction.SUCCESS, None),
    "async_report_results_page": (ResponseAction.SUCCESS, None),
    # throttles: only X-Business-Use-Case-Usage says how long (minutes); without it, our backoff
    "throttle_code_4_app_limit": (ResponseAction.RATE_LIMITED, None),
    "throttle_code_17_user_limit": (ResponseAction.RATE_LIMITED, None),
    "throttle_code_613_ad_account": (ResponseAction.RATE_LIMITED, None),
    "throttle_code_80000_buc_regain": (ResponseAction.RATE_LIMITED, 29 * 60.0),
    "throttle_code_80000_app_usage_only": (ResponseAction.RATE_LIMITED, None),
    "error_transient": (ResponseAction.RETRY, None),
    "error_not_transient": (ResponseAction.FAIL, None),
    "expired_version_2635": (ResponseAction.FAIL, None),
}


def test_every_fixture_is_classified() -> None:
    """The table below covers every recorded exchange (a new fixture must be added here)."""
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(CLASSIFIED)


@pytest.mark.parametrize(("name", "expected"), sorted(CLASSIFIED.items()))
def test_recorded_answer_resolves_to_its_action(
    name: str, expected: tuple[ResponseAction, float | None]
) -> None:
    """Throttles wait the regain time (minutes -> seconds); ``is_transient: false`` and 2635 are fatal."""
    resolution = MetaAdsConnector.errors.resolve(as_response(name))
    assert (resolution.action, resolution.delay) == expected
    if resolution.action is ResponseAction.FAIL:
        assert "\n" not in resolution.message
    if name == "expired_version_2635":
        assert "2635" in resolution.message and "api_version" in resolution.message


def _session(server: FakeServer) -> tuple[ApiSession, list[float]]:
    slept: list[float] = []
    return ApiSession("meta_ads", MetaAdsConnector.errors.resolve, POLICY, sleep=slept.append), slept


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    """One scripted server for the module."""
    with FakeServer() as srv:
        yield srv


def test_not_transient_error_is_not_retried(server: FakeServer) -> None:
    """``is_transient: false`` (code 1, recorded) stops at once with one line; ``is_transient: true`` is retried."""
    server.script(reply("error_not_transient"), (200, {}, {"data": []}))
    s, slept = _session(server)
    with pytest.raises(FatalAPIError) as err:
        s.get(server.url + "/v27.0/act_1/insights")
    assert len(server.seen) == 1 and slept == [] and "\n" not in str(err.value)

    server.script(reply("error_transient"), (200, {}, {"data": []}))
    s, slept = _session(server)
    assert s.get(server.url + "/v27.0/act_1/insights").json() == {"data": []}
    assert len(server.seen) == 2 and len(slept) == 1


@pytest.mark.parametrize(
    ("name", "waited"),
    [("throttle_code_80000_buc_regain", 29 * 60.0), ("throttle_code_80000_app_usage_only", None)],
)
def test_throttle_waits_the_regain_time(server: FakeServer, name: str, waited: float | None) -> None:
    """A regain time of 29 minutes is waited as 1,740 s; with only ``X-App-Usage`` the throttle still
    throttles, after our own (short) backoff."""
    server.script(reply(name), (200, {}, {"data": []}))
    s, slept = _session(server)
    assert s.get(server.url + "/v27.0/act_1/insights").json() == {"data": []}
    assert len(slept) == 1
    if waited is None:
        assert slept[0] <= POLICY.max_delay
    else:
        assert slept[0] == pytest.approx(waited)


def _connector(server: FakeServer) -> MetaAdsConnector:
    return MetaAdsConnector(
        base_url=server.url,
        credentials={"access_token": "EAAFAKEACCESSTOKEN", "account_ids": ACCOUNT.account_id},
        retry=POLICY,
        requests_per_second=0,
    )


def _rows(pages: Iterator[pa.Table]) -> list[dict[str, Any]]:
    return [r for page in pages for r in page.to_pylist()]


def test_hourly_report_has_no_conversions_and_pages_through_an_empty_page(server: FakeServer) -> None:
    """The hourly breakdown carries no ``actions``: spend, impressions and clicks per hour, conversions
    null (not 0). ``next`` leading to an empty page that still has a ``next`` does not end the report."""
    server.script(
        reply("async_report_run_created"),
        reply("async_status_completed"),
        reply("insights_hourly_first_page", server.url),
        reply("insights_empty_page_with_next", server.url),
        reply("insights_hourly_last_page", server.url),
    )
    rows = _rows(_connector(server).fetch_report(ACCOUNT, DAY))
    assert [(r["ad_id"], r["report_hour"], r["spend"], r["clicks"]) for r in rows] == [
        ("120210000000001001", 0, Decimal("3.18"), 7),
        ("120210000000001001", 1, Decimal("2.94"), 5),
        ("120210000000001002", 0, Decimal("0.77"), 1),
    ]
    assert all(r["conversions"] is None for r in rows)
    assert all(r["report_date"] == date(2026, 11, 20) and r["adset_id"] for r in rows)
    # the run asked the current version, and never asked for actions it cannot have
    paths = [seen.path for seen in server.seen]
    assert all(p.startswith(f"/meta_ads/{S.API_VERSION}/") for p in paths) and S.API_VERSION == "v27.0"
    assert [seen.method for seen in server.seen] == ["POST", "GET", "GET", "GET", "GET"]


def test_conversions_come_from_the_daily_report(server: FakeServer) -> None:
    """Conversions: a second async report without the hourly breakdown (ad x local day), summing the
    registration action; a row without ``actions`` has 0 conversions."""
    spec = MetaAdsConnector.extra_reports[0]
    assert spec.table == "ad_conversions_daily"
    server.script(
        reply("async_report_run_created"),
        reply("async_status_running"),
        reply("async_status_completed"),
        reply("insights_daily_with_actions", server.url),
    )
    rows = _rows(_connector(server).fetch_extra_report(spec, ACCOUNT, DAY))
    assert [(r["ad_group_id"], r["ad_id"], r["report_date"], r["conversions"]) for r in rows] == [
        ("120210000000000101", "120210000000001001", date(2026, 11, 20), 6.0),
        ("120210000000000101", "120210000000001002", date(2026, 11, 20), 0.0),
    ]
    assert {r["account_id"] for r in rows} == {ACCOUNT.account_id}


def test_failed_job_is_split_by_campaign_not_resubmitted(server: FakeServer) -> None:
    """A report run that ends ``Job Failed`` is not submitted again whole: the campaigns with data are
    listed and one smaller run per campaign is read."""
    campaigns = (200, {}, {"data": [{"campaign_id": "11"}, {"campaign_id": "12"}]})
    server.script(
        reply("async_report_run_created"),
        reply("async_status_failed"),
        campaigns,
        reply("async_report_run_created"),
        reply("async_status_completed"),
        reply("async_report_results_page", server.url),
        reply("async_report_run_created"),
        reply("async_status_completed"),
        reply("async_report_results_page", server.url),
    )
    spec = MetaAdsConnector.extra_reports[0]
    rows = _rows(_connector(server).fetch_extra_report(spec, ACCOUNT, DAY))
    assert len(rows) == 2 and {r["conversions"] for r in rows} == {6.0}
    seen = [(s.method, s.path.split("?")[0].rsplit("/", 1)[-1], s.path) for s in server.seen]
    assert [m for m, _, _ in seen] == ["POST", "GET", "GET", "POST", "GET", "GET", "POST", "GET", "GET"]
    listing = seen[2][2]
    assert "level=campaign" in listing and "campaign_id" in listing


def test_sunsets_are_declared() -> None:
    """v21-v24 are expired and v25.0 expires 2027-02-23 (Meta's version history); the default is current."""
    assert S.SUNSETS["v21.0"] == date(2025, 9, 9)
    assert S.SUNSETS["v24.0"] == date(2026, 11, 10)
    assert S.SUNSETS["v25.0"] == date(2027, 2, 23)
    assert S.API_VERSION not in S.SUNSETS


def test_unexpected_job_failure_everywhere_is_one_line(server: FakeServer) -> None:
    """When even one ad set's run fails, the pull stops with one clear line (no endless resubmission)."""
    one = (200, {}, {"data": [{"campaign_id": "11", "adset_id": "101"}]})
    server.script(
        reply("async_report_run_created"),
        reply("async_status_failed"),
        one,
        reply("async_report_run_created"),
        reply("async_status_failed"),
        one,
        reply("async_report_run_created"),
        reply("async_status_failed"),
    )
    with pytest.raises(ConnectorError) as err:
        _rows(_connector(server).fetch_report(ACCOUNT, DAY))
    assert "\n" not in str(err.value) and "ad set" in str(err.value)
    assert [s.method for s in server.seen].count("POST") == 3
