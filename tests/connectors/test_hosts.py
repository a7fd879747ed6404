"""Credentials go only to the platform's own hosts or the configured base URL's: never where a
response (Meta's ``paging.next``, a redirect) or a token URL points elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector_sdk.exceptions import UntrustedHostError
from connector_sdk.http import RetryPolicy
from connector_sdk.specs import Account
from connectors.apple_search_ads import AppleSearchAdsConnector
from connectors.apple_search_ads import settings as apple_settings
from connectors.google_ads import GoogleAdsConnector
from connectors.google_ads import settings as google_settings
from connectors.meta_ads import MetaAdsConnector
from tests.connectors.fakes import FakeServer

POLICY = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002, max_wait=1.0)
GOOGLE = {
    "developer_token": "dev-token-0123456789",
    "client_id": "client-id",
    "client_secret": "client-secret-0123456789",
    "refresh_token": "refresh-token-0123456789",
    "customer_ids": "1234567890",
}


@pytest.fixture
def servers() -> Iterator[tuple[FakeServer, FakeServer]]:
    """The configured base (127.0.0.1) and another host (``localhost`` on another port)."""
    with FakeServer() as base, FakeServer() as other:
        yield base, other


def elsewhere(server: FakeServer) -> str:
    """``server`` under another host name: a host the connector must not trust."""
    return server.url.replace("127.0.0.1", "localhost")


def _meta(base: FakeServer) -> MetaAdsConnector:
    creds = {"access_token": "meta-token-0123456789", "account_ids": "1"}
    return MetaAdsConnector(base_url=base.url, credentials=creds, retry=POLICY, requests_per_second=0)


def test_meta_paging_next_to_another_host_is_fatal_and_sends_nothing(
    servers: tuple[FakeServer, FakeServer],
) -> None:
    base, other = servers
    host = elsewhere(other).removeprefix("http://")
    base.script((200, {}, {"data": [{"id": "1"}], "paging": {"next": f"http://{host}/v1/next?after=x"}}))
    conn = _meta(base)
    pages: list[Any] = []
    with pytest.raises(UntrustedHostError, match=host) as err:
        pages.extend(conn._pages(Account("1"), "act_1/campaigns", {"limit": 10}))
    assert other.seen == [] and len(pages) == 1
    assert "meta-token" not in str(err.value) and "\n" not in str(err.value)


def test_meta_paging_next_on_the_base_host_is_followed(servers: tuple[FakeServer, FakeServer]) -> None:
    base, _ = servers
    base.script(
        (200, {}, {"data": [{"id": "1"}], "paging": {"next": f"{base.url}/meta_ads/v1/next?after=x"}}),
        (200, {}, {"data": [{"id": "2"}]}),
    )
    pages = list(_meta(base)._pages(Account("1"), "act_1/campaigns", {"limit": 10}))
    assert [row["id"] for page in pages for row in page] == ["1", "2"]


def test_a_token_url_on_another_host_gets_no_client_secret(servers: tuple[FakeServer, FakeServer]) -> None:
    base, other = servers
    conn = GoogleAdsConnector(base_url=base.url, credentials=GOOGLE, retry=POLICY, requests_per_second=0)
    form = {"client_secret": GOOGLE["client_secret"], "refresh_token": GOOGLE["refresh_token"]}
    with pytest.raises(UntrustedHostError, match="localhost"):
        conn.fetch_token(elsewhere(other) + "/token", form, refused="refused")
    assert other.seen == []


def test_a_redirect_to_another_host_resends_nothing(servers: tuple[FakeServer, FakeServer]) -> None:
    """A 307 from the token endpoint would resend the form (client_secret) to its Location."""
    base, other = servers
    base.script((307, {"Location": elsewhere(other) + "/token"}, {}))
    conn = GoogleAdsConnector(base_url=base.url, credentials=GOOGLE, retry=POLICY, requests_per_second=0)
    with pytest.raises(UntrustedHostError, match="localhost"):
        conn.auth_headers()
    assert len(base.seen) == 1 and other.seen == []


@pytest.mark.parametrize(
    ("connector", "urls"),
    [
        (GoogleAdsConnector, (google_settings.DEFAULT_HOST + "/v21/x", google_settings.OAUTH_TOKEN_URL)),
        (
            AppleSearchAdsConnector,
            (apple_settings.DEFAULT_HOST + "/api/v5/x", apple_settings.OAUTH_TOKEN_URL),
        ),
        (MetaAdsConnector, ("https://graph.facebook.com/v23.0/1/insights?after=x",)),
    ],
)
def test_production_hosts_are_trusted(connector: Any, urls: tuple[str, ...]) -> None:
    session = connector().session()
    for url in urls:
        session.check_host(url)
    with pytest.raises(UntrustedHostError, match="evil.example.com"):
        session.check_host("https://evil.example.com/token")


@pytest.mark.parametrize(
    "url",
    [
        "http://graph.facebook.com/x",
        "https://graph.facebook.com:8443/x",
        "https://graph.facebook.com.evil.io/x",
    ],
)
def test_another_scheme_port_or_suffix_is_another_host(url: str) -> None:
    with pytest.raises(UntrustedHostError):
        MetaAdsConnector().session().check_host(url)
