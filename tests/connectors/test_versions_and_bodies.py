"""API versions judged at the run's logical time, and 200 answers whose body is not JSON
(a toy connector on a scripted local server; no simulator)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connector_sdk.exceptions import ApiVersionSunsetError, UnparseableResponseError
from connector_sdk.http import FAST_RETRY
from connector_sdk.specs import ConnectorSettings
from connector_sdk.testing import duckdb_pipeline, read_rows
from tests.connectors.fakes import FakeConnector, FakeServer, Reply

SUNSET = date(2027, 2, 15)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A scripted server per test."""
    with FakeServer() as srv:
        yield srv


class VersionedConnector(FakeConnector):
    """The fake connector calling API v23, which its settings say is switched off on 2027-02-15."""

    settings = ConnectorSettings(lookback_days=1, max_span_days=1, api_version="v23", sunsets={"v23": SUNSET})


def _versioned(server: FakeServer, **kwargs: object) -> VersionedConnector:
    conn = VersionedConnector(base_url=server.url, requests_per_second=0, retry=FAST_RETRY, **kwargs)  # type: ignore[arg-type]
    conn.via_http = True
    return conn


def test_warning_within_60_days_of_the_sunset(server: FakeServer, tmp_path: Path) -> None:
    """45 days before the sunset (logical time) the summary warns and names the setting."""
    server.script((200, {}, {"ok": True}))
    summary = _versioned(server).load(
        duckdb_pipeline(tmp_path, "warn"), mode="hourly", logical_time=datetime(2027, 1, 1, 6, tzinfo=UTC)
    )
    expected = "fake_ads API v23 sunsets on 2027-02-15 (in 45 days): set sources.fake_ads.api_version"
    assert summary.warnings == [expected]
    assert expected in summary.one_line()


def test_no_warning_further_away(server: FakeServer) -> None:
    """61 days before: nothing to say."""
    conn = _versioned(server)
    assert conn.check_api_version(datetime(2026, 12, 16, tzinfo=UTC)) == []
    assert conn.check_api_version(datetime(2026, 12, 17, tzinfo=UTC)) != []


@pytest.mark.parametrize("at", [datetime(2027, 2, 15, tzinfo=UTC), datetime(2027, 6, 1, 12, tzinfo=UTC)])
def test_run_at_or_after_the_sunset_is_refused_before_any_request(
    server: FakeServer, tmp_path: Path, at: datetime
) -> None:
    """From the sunset date on (logical time, not the wall clock) the run fails in one line, sending nothing."""
    server.script((200, {}, {"ok": True}))
    with pytest.raises(ApiVersionSunsetError) as err:
        _versioned(server).load(duckdb_pipeline(tmp_path, "sunset"), mode="hourly", logical_time=at)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("fake_ads:") and "v23" in msg and "2027-02-15" in msg
    assert "SOURCES__FAKE_ADS__API_VERSION" in msg
    assert server.seen == []


def test_version_from_dlt_config_and_from_the_run(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sources.<platform>.api_version`` (env SOURCES__FAKE_ADS__API_VERSION) overrides the declared
    default; a version without a known sunset runs after v23's; the constructor argument wins."""
    after = datetime(2027, 3, 1, tzinfo=UTC)
    monkeypatch.setenv("SOURCES__FAKE_ADS__API_VERSION", "v24")
    conn = _versioned(server)
    assert conn.settings.api_version == "v24" and conn.check_api_version(after) == []
    assert _versioned(server, api_version="v25").settings.api_version == "v25"
    monkeypatch.delenv("SOURCES__FAKE_ADS__API_VERSION")
    assert _versioned(server).settings.api_version == "v23"


# -- a 200 whose body is not JSON -----------------------------------------------------------

HTML: Reply = (
    200,
    {"Content-Type": "text/html; charset=utf-8"},
    b"<html><body>Service Unavailable</body></html>",
)
CUT: Reply = (200, {}, b'{"results": [{"a": 1}, {"a"')  # a body cut off mid-way, sent as JSON


@pytest.mark.parametrize(("reply", "ctype"), [(HTML, "text/html"), (CUT, "application/json")])
def test_non_json_200_fails_in_one_named_line(
    server: FakeServer, tmp_path: Path, reply: Reply, ctype: str
) -> None:
    """Retried like a transient failure, then a named one-line error: platform, status, content
    type; never the decoder's message or the body. Nothing is loaded."""
    server.script(reply)
    pipe = duckdb_pipeline(tmp_path, "html")
    with pytest.raises(UnparseableResponseError) as err:
        conn = _versioned(server, max_concurrency=1)  # one window at a time: the first one's retries
        conn.load(pipe, mode="hourly", logical_time=datetime(2026, 10, 25, tzinfo=UTC))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("fake_ads:")
    assert "HTTP 200" in msg and f"content type {ctype}" in msg
    assert "<html" not in msg and "Service Unavailable" not in msg and "results" not in msg
    assert "char" not in msg.replace("charset", "") and "Expecting" not in msg  # no decoder message
    assert len(server.seen) == FAST_RETRY.max_attempts


def test_non_json_200_once_is_retried(server: FakeServer, tmp_path: Path) -> None:
    """A single HTML answer (a proxy's error page) is retried and the run succeeds."""
    server.script(HTML, (200, {}, {"ok": True}))
    conn = _versioned(server)
    conn.data = {("a1", date(2026, 10, 25)): [("x", 1.0)]}
    pipe = duckdb_pipeline(tmp_path, "once")
    summary = conn.load(pipe, mode="hourly", logical_time=datetime(2026, 10, 25, tzinfo=UTC))
    assert summary.retries == 1
    assert read_rows(pipe, "fake_ads__items", ["item_id"]) == [("x",)]
