"""HTTP for connectors: a ``requests.Session`` that retries, throttles and refreshes tokens.

dlt's ``RESTClient`` (and its paginators) drives every request; this session is what it
sends through. dlt's own retrying client only honours ``Retry-After`` and cannot see errors
that arrive inside an HTTP 200 body (TikTok code 40100), nor Google's ``retryDelay``, Meta's
``estimated_time_to_regain_access`` or Impact's ``X-RateLimit-Reset``, so the retry loop is
ours: each connector declares an error mapping (:mod:`connector_sdk.responses`) that resolves
a response to a :class:`~connector_sdk.responses.ResponseAction`, and the session owns what
each action does: backoff, jitter, caps, the single token refresh and rate limiting.
Retrying at the session level keeps paging intact: the paginator never sees a failed page.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, assert_never
from urllib.parse import urlsplit

import requests
from requests.hooks import dispatch_hook

from connector_sdk.exceptions import AuthenticationError, FatalAPIError, PullDeferred, UntrustedHostError
from connector_sdk.responses import Decoder, Resolution, ResponseAction, install_decoder, not_json


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for retriable failures: exponential with full jitter, capped.

    ``max_wait`` caps any delay slept (tests use delays of ~0.01 s so fault runs do not
    really sleep). A platform's wait longer than the session's ``max_wait_seconds`` is not
    slept at all: the session defers the pull (:class:`~connector_sdk.exceptions.PullDeferred`).
    """

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_wait: float = 300.0
    jitter: float = 1.0

    def delay(self, attempt: int, asked: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        backoff = backoff * (1 - self.jitter) + backoff * self.jitter * rng.random()
        if asked is not None:
            backoff = max(backoff, asked)
        return float(min(backoff, self.max_wait))


FAST_RETRY = RetryPolicy(max_attempts=10, base_delay=0.005, max_delay=0.02, max_wait=0.05)
"""A policy for tests: same logic, no real sleeping."""


class RateLimiter:
    """A thread-safe token bucket: at most ``rate`` requests a second, bursts of ``burst``.

    Shared per (platform, account) so parallel windows of one account stay under the
    account's quota instead of bouncing off it (backpressure rather than 429s).
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = float(rate)
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until a request may be sent."""
        if self.rate <= 0:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            time.sleep(wait)


_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(platform: str, account: str, rate: float, burst: int) -> RateLimiter:
    """The process-wide limiter of one (platform, account)."""
    with _LIMITERS_LOCK:
        key = (platform, account)
        lim = _LIMITERS.get(key)
        if lim is None or lim.rate != rate:
            lim = _LIMITERS[key] = RateLimiter(rate, burst)
        return lim


Origin = tuple[str, str, int]
"""(scheme, host, port) of a URL: what "the same host" means for sending credentials."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> Origin | None:
    """The (scheme, lower-case host, port) of ``url``; None when it has no host or a bad port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    return (scheme, host, port) if host and scheme in _DEFAULT_PORTS else None


def _shown(url: str) -> str:
    """The host of ``url`` as a message names it (host and port, never user info or path)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


Classifier = Callable[[requests.Response], Resolution]
"""Maps a response to what the session does with it (a connector's ``errors.resolve``)."""


@dataclass
class SessionStats:
    """Counters of one run's HTTP traffic (requests, retries by cause, token refreshes)."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    refreshes: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_request(self) -> None:
        """Count one request sent (retries and refreshes included)."""
        with self.lock:
            self.requests += 1

    def count_refresh(self) -> None:
        """Count one token refresh."""
        with self.lock:
            self.refreshes += 1

    def count_retry(self, resolution: Resolution) -> None:
        """Count one retry, by cause (throttling, or the message up to its parenthesis)."""
        throttled = resolution.action is ResponseAction.RATE_LIMITED
        reason = "rate_limit" if throttled else resolution.message.split(" (")[0]
        with self.lock:
            self.retries += 1
            self.rate_limited += int(throttled)
            self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class ApiSession(requests.Session):
    """The session every connector request goes through (handed to dlt's ``RESTClient``).

    Parameters: ``platform`` (for messages), ``classifier`` (response -> :class:`Resolution`),
    ``policy`` (backoff), ``limiter`` (per-account throttle, may be None),
    ``refresh_auth`` (returns fresh auth headers; None when the platform has no refresh),
    ``decoder`` (bytes -> what ``response.json()`` returns on accepted responses; default orjson),
    ``max_wait_seconds`` (a wait the platform asks for beyond it raises
    :class:`~connector_sdk.exceptions.PullDeferred` instead of sleeping; None: never defer),
    ``cancelled`` (once set, the next attempt raises ``PullDeferred``: another request of the
    same pull was deferred, so this one stops too). ``sleep`` may return early (an
    ``Event.wait``): the attempt after it checks ``cancelled``. ``trusted`` (URLs): when given,
    a request (a next-page link, a redirect, a token URL) to any other scheme, host or port
    raises :class:`~connector_sdk.exceptions.UntrustedHostError` before anything is sent.
    """

    def __init__(
        self,
        platform: str,
        classifier: Classifier,
        policy: RetryPolicy,
        limiter: RateLimiter | None = None,
        refresh_auth: Callable[[], dict[str, str]] | None = None,
        stats: SessionStats | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], object] = time.sleep,
        decoder: Decoder | None = None,
        max_wait_seconds: float | None = None,
        cancelled: threading.Event | None = None,
        trusted: Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        self.trusted = None if trusted is None else frozenset(o for o in map(origin, trusted) if o)
        self.decoder = decoder
        self.max_wait_seconds = max_wait_seconds
        self.cancelled = cancelled
        self.platform = platform
        self.classifier = classifier
        self.policy = policy
        self.limiter = limiter
        self.refresh_auth = refresh_auth
        self.stats = stats or SessionStats()
        self.timeout = timeout
        self._sleep = sleep
        self._rng = random.Random()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send with retries; return only an accepted response, else raise an SDK exception."""
        # requests follows redirects by calling send() again: each hop is checked here too.
        self.check_host(str(request.url))
        kwargs.setdefault("timeout", self.timeout)
        # dlt attaches a raise-for-status response hook; requests runs hooks inside send(),
        # before the classifier could see a 429 or an in-body error, so we run them ourselves
        # on the accepted response only.
        hooks = request.hooks
        request.hooks = {"response": []}
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            response, resolution = self._attempt(request, kwargs)
            if resolution.action is ResponseAction.SUCCESS:
                assert response is not None  # transport errors resolve to RETRY
                resolution = self._decode(response, kwargs)
            match resolution.action:
                case ResponseAction.SUCCESS:
                    return dispatch_hook("response", hooks, response, **kwargs)  # type: ignore[no-any-return,no-untyped-call]
                case ResponseAction.REFRESH_TOKEN:
                    self._refresh(request, resolution, refreshed)
                    refreshed = True
                case ResponseAction.FAIL:
                    status = response.status_code if response is not None else None
                    raise FatalAPIError(resolution.message, platform=self.platform, status=status)
                case ResponseAction.RETRY | ResponseAction.RATE_LIMITED:
                    self._back_off(attempt, resolution)
                case _:
                    assert_never(resolution.action)

    def check_host(self, url: str) -> None:
        """Raise :class:`UntrustedHostError` when ``url`` is not on a trusted host (nothing is sent)."""
        if self.trusted is None or origin(url) in self.trusted:
            return
        raise UntrustedHostError(
            f"refused to send a request to {_shown(url)}: only the platform's own hosts and the "
            "configured base URL's get its credentials (a next-page link, redirect or token URL "
            "pointed elsewhere); nothing was sent",
            platform=self.platform,
        )

    def _attempt(
        self, request: requests.PreparedRequest, kwargs: dict[str, Any]
    ) -> tuple[requests.Response | None, Resolution]:
        """One send, throttled: the response (None when the connection failed) and its resolution."""
        if self.cancelled is not None and self.cancelled.is_set():
            raise PullDeferred(
                0.0, "stopped: another request of this pull was deferred", platform=self.platform
            )
        if self.limiter is not None:
            self.limiter.acquire()
        self.stats.count_request()
        try:
            response = super().send(request, **kwargs)
            if not kwargs.get("stream"):
                _ = response.content  # a connection dropped mid-body fails here, inside the retry
        except TRANSPORT_ERRORS as exc:
            return None, Resolution(ResponseAction.RETRY, f"connection error ({type(exc).__name__})")
        return response, self.classifier(response)

    def _decode(self, response: requests.Response, kwargs: dict[str, Any]) -> Resolution:
        """Make ``response.json()`` decode once (lazily unless needed); a body that is not JSON is a retry.

        The body is decoded here, inside the retry loop, so a 200 carrying an HTML error page or
        a cut-off body is retried and ends in a named error instead of a raw decode error in
        dlt's paginator. Streamed responses are left alone.
        """
        install_decoder(response, self.decoder)
        if kwargs.get("stream") or not response.content:
            return Resolution(ResponseAction.SUCCESS)
        try:
            response.json()
        except ValueError:
            return not_json(response)
        return Resolution(ResponseAction.SUCCESS)

    def _refresh(self, request: requests.PreparedRequest, resolution: Resolution, refreshed: bool) -> None:
        """Put fresh auth headers on ``request``; a second refusal (or no refresh) is an auth error."""
        if self.refresh_auth is None or refreshed:
            raise AuthenticationError(
                f"credentials refused ({resolution.message}); check the platform's credentials",
                platform=self.platform,
                status=401,
            )
        self.stats.count_refresh()
        request.headers.update(self.refresh_auth())

    def _back_off(self, attempt: int, resolution: Resolution) -> None:
        """Count the retry and wait before the next attempt; past the budget, give up.

        A wait the platform asked for beyond ``max_wait_seconds`` is not slept: the pull is deferred.
        """
        asked = resolution.delay
        if asked is not None and self.max_wait_seconds is not None and asked > self.max_wait_seconds:
            if self.cancelled is not None:
                self.cancelled.set()  # the other requests of the pull stop before their next attempt
            raise PullDeferred(
                asked,
                f"the API asked to wait {asked:.0f} s ({resolution.message}), "
                f"more than max_wait_seconds={self.max_wait_seconds:.0f}",
                platform=self.platform,
            )
        self.stats.count_retry(resolution)
        if attempt >= self.policy.max_attempts:
            raise resolution.exhausted(
                f"gave up after {attempt} attempts, last: {resolution.message}; try again later",
                platform=self.platform,
            )
        self._sleep(self.policy.delay(attempt, resolution.delay, self._rng))
