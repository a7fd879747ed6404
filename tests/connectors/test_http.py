"""Retry, refresh, fatal and rate-limit rules of the SDK, against a scripted local server (milliseconds)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from connector_sdk.exceptions import AuthenticationError, FatalAPIError, RetriesExhaustedError
from connector_sdk.http import ApiSession, Classifier, RateLimiter, RetryPolicy
from connector_sdk.responses import HTTP_ONLY
from connector_sdk.specs import Account
from connectors.google_ads import GoogleAdsConnector
from connectors.impact import ImpactConnector
from connectors.meta_ads import MetaAdsConnector
from connectors.meta_ads import connector as meta
from connectors.tiktok_ads import TikTokAdsConnector
from tests.connectors.fakes import FakeConnector, FakeServer

# real backoff logic; waits the platform asks for are recorded, not slept
POLICY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002, max_wait=3600.0)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    """One scripted server for the module."""
    with FakeServer() as srv:
        yield srv


def session(classifier: Classifier = HTTP_ONLY.resolve, refresh=None) -> tuple[ApiSession, list[float]]:  # type: ignore[no-untyped-def]
    """A session whose sleeps are recorded instead of slept."""
    slept: list[float] = []
    return ApiSession("p", classifier, POLICY, refresh_auth=refresh, sleep=slept.append), slept


OK = (200, {}, {"ok": True})


def test_retry_after_seconds_is_honoured(server: FakeServer) -> None:
    """429 with ``Retry-After: 7`` waits 7 s (at least), then succeeds."""
    server.script((429, {"Retry-After": "7"}, {}), OK)
    s, slept = session()
    assert s.get(server.url + "/x").json() == {"ok": True}
    assert len(server.seen) == 2 and slept == [pytest.approx(7.0)]


def test_retry_after_http_date_is_honoured(server: FakeServer) -> None:
    """``Retry-After`` as an HTTP-date 30 s ahead waits about 30 s."""
    when = datetime.now(UTC) + timedelta(seconds=30)
    server.script((503, {"Retry-After": format_datetime(when, usegmt=True)}, {}), OK)
    s, slept = session()
    s.get(server.url + "/x")
    assert len(slept) == 1 and 27.0 <= slept[0] <= 31.0


def _google_429(retry_delay: str | None) -> dict[str, object]:
    details: dict[str, object] = {"quotaErrorDetails": {"rateScope": "DEVELOPER"}}
    if retry_delay is not None:
        details = {"quotaErrorDetails": {"rateScope": "DEVELOPER", "retryDelay": retry_delay}}
    err = {"errorCode": {"quotaError": "RESOURCE_EXHAUSTED"}, "message": "quota", "details": details}
    return {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [{"errors": [err]}]}}


def test_google_retry_delay_is_honoured(server: FakeServer) -> None:
    """Google's 429 with ``retryDelay: "40s"`` waits 40 s, then succeeds."""
    server.script((429, {}, _google_429("40s")), OK)
    s, slept = session(GoogleAdsConnector.errors.resolve)
    s.post(server.url + "/search")
    assert slept == [pytest.approx(40.0)] and len(server.seen) == 2


def test_google_quota_without_retry_delay_is_retried(server: FakeServer) -> None:
    """429 RESOURCE_EXHAUSTED without ``retryDelay`` is transient: backed off and retried, not fatal."""
    server.script((429, {}, _google_429(None)), OK)
    s, slept = session(GoogleAdsConnector.errors.resolve)
    assert s.post(server.url + "/search").json() == {"ok": True}
    assert len(server.seen) == 2 and len(slept) == 1


@pytest.mark.parametrize("code", [4, 17, 613, 80000, 80004, 80014])
def test_meta_throttle_codes_wait_for_regained_access(server: FakeServer, code: int) -> None:
    """Meta's throttling codes (in an HTTP 400 or inside a 200) retry after ``estimated_time_to_regain_access``."""
    usage = json.dumps({"123": [{"type": "ads_insights", "estimated_time_to_regain_access": 2}]})
    status = 200 if code == 80004 else 400
    server.script(
        (status, {"X-Business-Use-Case-Usage": usage}, {"error": {"code": code, "message": "slow down"}}),
        (200, {}, {"data": []}),
    )
    s, slept = session(MetaAdsConnector.errors.resolve)
    assert s.get(server.url + "/insights").json() == {"data": []}
    assert slept == [pytest.approx(120.0)]


def test_meta_other_code_is_fatal(server: FakeServer) -> None:
    """A Meta error that is not throttling (100: invalid parameter) fails at once."""
    server.script((400, {}, {"error": {"code": 100, "message": "Invalid parameter"}}))
    s, slept = session(MetaAdsConnector.errors.resolve)
    with pytest.raises(FatalAPIError, match="Invalid parameter"):
        s.get(server.url + "/insights")
    assert len(server.seen) == 1 and slept == []


def test_impact_rate_limit_reset_is_honoured(server: FakeServer) -> None:
    """Impact's 429 waits ``X-RateLimit-Reset`` seconds (documented: seconds until the reset), here 20."""
    server.script((429, {"X-RateLimit-Reset": "20"}, {}), OK)
    s, slept = session(ImpactConnector.errors.resolve)
    s.get(server.url + "/Actions")
    assert slept == [pytest.approx(20.0)]


def test_tiktok_40100_inside_200_is_retried(server: FakeServer) -> None:
    """TikTok throttling arrives as HTTP 200 with code 40100: retried until code 0."""
    server.script(
        (200, {}, {"code": 40100, "message": "Too many requests"}),
        (200, {}, {"code": 40100, "message": "Too many requests"}),
        (200, {}, {"code": 0, "data": {"list": []}}),
    )
    s, slept = session(TikTokAdsConnector.errors.resolve)
    assert s.get(server.url + "/report").json()["code"] == 0
    assert len(server.seen) == 3 and len(slept) == 2


def test_tiktok_other_codes_are_fatal(server: FakeServer) -> None:
    """Any other non-zero TikTok code (40002: bad parameter) stops at once."""
    server.script((200, {}, {"code": 40002, "message": "Invalid advertiser_id"}))
    s, _ = session(TikTokAdsConnector.errors.resolve)
    with pytest.raises(FatalAPIError, match="40002"):
        s.get(server.url + "/report")
    assert len(server.seen) == 1


def test_401_refreshes_exactly_once_then_fails_clearly(server: FakeServer) -> None:
    """A 401 refreshes the token once and resends with it; a second 401 is a one-line auth error."""
    server.script((401, {}, {"error": "expired"}))
    calls: list[int] = []

    def refresh() -> dict[str, str]:
        calls.append(1)
        return {"Authorization": "Bearer fresh"}

    s, _ = session(refresh=refresh)
    with pytest.raises(AuthenticationError) as err:
        s.get(server.url + "/x", headers={"Authorization": "Bearer old"})
    assert calls == [1] and len(server.seen) == 2
    assert [r.headers["Authorization"] for r in server.seen] == ["Bearer old", "Bearer fresh"]
    assert "\n" not in str(err.value) and "credentials" in str(err.value)


def test_401_then_success_after_refresh(server: FakeServer) -> None:
    """An expired token is refreshed and the request succeeds."""
    server.script((401, {}, {}), OK)
    s, _ = session(refresh=lambda: {"Authorization": "Bearer fresh"})
    assert s.get(server.url + "/x").json() == {"ok": True}


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_other_4xx_fatal_at_once_one_line(server: FakeServer, status: int) -> None:
    """Other 4xx are not retried; the message is one line naming the status."""
    server.script((status, {}, b"nope\nsecond line"))
    s, slept = session()
    with pytest.raises(FatalAPIError) as err:
        s.get(server.url + "/x")
    assert len(server.seen) == 1 and slept == []
    assert "\n" not in str(err.value) and str(status) in str(err.value)


def test_retries_are_bounded(server: FakeServer) -> None:
    """A failure that persists gives up after ``max_attempts`` with a one-line message."""
    server.script((503, {}, {}))
    s, _ = session()
    with pytest.raises(RetriesExhaustedError) as err:
        s.get(server.url + "/x")
    assert len(server.seen) == POLICY.max_attempts and "\n" not in str(err.value)


def test_rate_limit_and_bounded_concurrency(server: FakeServer) -> None:
    """A run with 12 windows stays under 100 requests/s (backpressure) and never has more than 3 in flight."""
    server.script(OK)
    server.delay = 0.03
    server.max_in_flight = 0
    conn = FakeConnector(base_url=server.url, max_concurrency=3, requests_per_second=100.0)
    conn.via_http = True
    conn.settings = replace(conn.settings, burst=1)
    try:
        conn.extract("backfill", datetime(2026, 1, 20, tzinfo=UTC), date(2026, 1, 1), date(2026, 1, 12))
    finally:
        server.delay = 0.0
    times = sorted(r.at for r in server.seen)
    assert len(times) == 12 and len(conn.windows) == 12
    assert server.max_in_flight <= 3 and server.max_in_flight >= 2  # parallel, but bounded
    assert (times[-1] - times[0]) >= (12 - 1) / 100.0 * 0.9  # never faster than the set rate


def test_rate_limiter_spaces_requests() -> None:
    """The token bucket itself: 11 acquisitions at 200/s (burst 1) take at least 50 ms."""
    lim = RateLimiter(200.0, 1)
    t0 = time.monotonic()
    for _ in range(11):
        lim.acquire()
    assert time.monotonic() - t0 >= 0.045


def test_transport_error_is_retried() -> None:
    """A refused connection is retried, then reported in one line."""
    s, slept = session()
    with pytest.raises(RetriesExhaustedError) as err:
        s.get("http://127.0.0.1:9/x", timeout=0.5)  # port 9 (discard) is closed here
    assert len(slept) == POLICY.max_attempts - 1 and "connection error" in str(err.value)
    assert isinstance(err.value.__cause__, (requests.ConnectionError, type(None)))


def test_meta_report_run_polls_soon_then_every_two_base_delays(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick report run is read after a short wait; a slow one is polled every ``2 * base_delay``."""

    running = (200, {}, {"async_status": "Job Running", "async_percent_completion": 10})
    server.script(
        *[running] * 6, (200, {}, {"async_status": "Job Completed", "async_percent_completion": 100})
    )
    slept: list[float] = []
    monkeypatch.setattr(meta.time, "sleep", slept.append)
    conn = MetaAdsConnector(
        base_url=server.url,
        credentials={"access_token": "t", "account_ids": "1"},
        retry=RetryPolicy(base_delay=1.0),
        requests_per_second=0,
    )
    assert conn._wait(Account("1"), "6000") is True
    assert slept == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
