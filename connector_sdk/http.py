"""HTTP for connectors: a ``requests.Session`` that retries, throttles and refreshes tokens.

dlt's ``RESTClient`` (and its paginators) drives every request; this session is what it
sends through. dlt's own retrying client only honours ``Retry-After`` and cannot see errors
that arrive inside an HTTP 200 body (TikTok code 40100), nor Google's ``retryDelay``, Meta's
``estimated_time_to_regain_access`` or Impact's ``X-RateLimit-Reset``, so the retry loop is
ours: each connector supplies a *classifier* that maps a response to a :class:`Verdict`,
and the session owns backoff, jitter, caps, the single token refresh and rate limiting.
Retrying at the session level keeps paging intact: the paginator never sees a failed page.
"""

from __future__ import annotations

import email.utils
import json as _json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.hooks import dispatch_hook

from connector_sdk.exceptions import (
    AuthenticationError,
    FatalAPIError,
    RateLimitError,
    RetriableAPIError,
    RetriesExhaustedError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for retriable failures: exponential with full jitter, capped.

    ``max_wait`` caps any delay the platform asks for (a ``Retry-After`` of an hour would
    stall a run; past the cap we fail and let the orchestrator retry later). Tests use
    delays of ~0.01 s so fault runs do not really sleep.
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


@dataclass(frozen=True)
class Verdict:
    """What to do with a response: ``ok``, ``retry`` (after ``delay`` if given), ``refresh`` or ``fatal``."""

    action: str
    message: str = ""
    delay: float | None = None
    rate_limited: bool = False

    @staticmethod
    def ok() -> Verdict:
        """Accept the response."""
        return _OK

    @staticmethod
    def retry(message: str, delay: float | None = None, *, rate_limited: bool = False) -> Verdict:
        """Retry after backoff (at least ``delay`` seconds when the platform said so)."""
        return Verdict("retry", message, delay, rate_limited)

    @staticmethod
    def refresh(message: str = "token expired") -> Verdict:
        """Refresh the access token once and resend."""
        return Verdict("refresh", message)

    @staticmethod
    def fatal(message: str) -> Verdict:
        """Stop the run: retrying cannot help."""
        return Verdict("fatal", message)


_OK = Verdict("ok")

Classifier = Callable[[requests.Response], Verdict]


_orjson_loads: Callable[[bytes | str], Any] | None
try:  # orjson ships with dlt; ~3x faster than the stdlib on object-heavy report pages
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - dlt depends on it
    _orjson_loads = None


def fast_loads(body: bytes | str) -> Any:
    """Parse JSON with orjson (the stdlib when absent)."""
    if _orjson_loads is not None:
        return _orjson_loads(body)
    return _json.loads(body)  # pragma: no cover


Decoder = Callable[[bytes], Any]
"""Turns a response body into what ``response.json()`` returns (e.g. Arrow arrays for a report)."""


def cached_json(response: requests.Response) -> Any:
    """The response's JSON, parsed once and then reused by classifier, selector and paginator.

    ``requests`` would parse with simplejson on every ``.json()`` call, and dlt's selector and
    paginator each call it: parsing once (with orjson) removes most of the client's work.
    """
    cache = getattr(response, "_sdk_json", _MISSING)
    if cache is _MISSING:
        cache = fast_loads(response.content) if response.content else None
        response._sdk_json = cache  # type: ignore[attr-defined]
        response.json = lambda **_: cache  # type: ignore[method-assign]
    return cache


def install_decoder(response: requests.Response, decoder: Decoder | None) -> None:
    """Make ``response.json()`` lazy and cached, through ``decoder`` when given (else orjson)."""
    if decoder is None:
        if getattr(response, "_sdk_json", _MISSING) is not _MISSING:
            return
        response.json = lambda **_: cached_json(response)  # type: ignore[method-assign]
        return
    box: list[Any] = []

    def decoded(**_: Any) -> Any:
        if not box:
            box.append(decoder(response.content))
        return box[0]

    response.json = decoded  # type: ignore[method-assign]


_MISSING = object()


def retry_after_seconds(response: requests.Response, now: float | None = None) -> float | None:
    """The ``Retry-After`` header in seconds: delta-seconds or an HTTP-date (RFC 9110), else None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def body_excerpt(response: requests.Response, limit: int = 160) -> str:
    """A short one-line excerpt of an error body, for messages (never the request)."""
    text = response.text if response.content else ""
    return " ".join(text.split())[:limit]


def default_classifier(response: requests.Response) -> Verdict:
    """Status-code rules shared by every platform: 2xx ok, 401 refresh, 408/429/5xx retry, other 4xx fatal."""
    status = response.status_code
    if status < 300:
        return Verdict.ok()
    if status == 401:
        return Verdict.refresh(f"HTTP 401: {body_excerpt(response)}")
    if status == 429:
        return Verdict.retry("HTTP 429 rate limited", retry_after_seconds(response), rate_limited=True)
    if status in (408, 500, 502, 503, 504) or status >= 500:
        return Verdict.retry(f"HTTP {status}", retry_after_seconds(response))
    return Verdict.fatal(f"HTTP {status} from the API: {body_excerpt(response)}")


@dataclass
class SessionStats:
    """Counters of one run's HTTP traffic (requests, retries by cause, token refreshes)."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    refreshes: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, reason: str) -> None:
        """Count one retry for ``reason``."""
        with self.lock:
            self.retries += 1
            self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class ApiSession(requests.Session):
    """The session every connector request goes through (handed to dlt's ``RESTClient``).

    Parameters: ``platform`` (for messages), ``classifier`` (response -> Verdict),
    ``policy`` (backoff), ``limiter`` (per-account throttle, may be None),
    ``refresh_auth`` (returns fresh auth headers; None when the platform has no refresh),
    ``decoder`` (bytes -> what ``response.json()`` returns on accepted responses; default orjson).
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
        sleep: Callable[[float], None] = time.sleep,
        decoder: Decoder | None = None,
    ) -> None:
        super().__init__()
        self.decoder = decoder
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
        kwargs.setdefault("timeout", self.timeout)
        # dlt attaches a raise-for-status response hook; requests runs hooks inside send(),
        # before our classifier could see a 429 or an in-body error, so we run them ourselves
        # on the accepted response only.
        hooks = request.hooks
        request.hooks = {"response": []}
        refreshed = False
        attempt = 0
        last = ""
        while True:
            attempt += 1
            if self.limiter is not None:
                self.limiter.acquire()
            with self.stats.lock:
                self.stats.requests += 1
            try:
                response = super().send(request, **kwargs)
                if not kwargs.get("stream"):
                    _ = response.content  # a connection dropped mid-body fails here, inside the retry
            except TRANSPORT_ERRORS as exc:
                verdict = Verdict.retry(f"connection error ({type(exc).__name__})")
            else:
                verdict = self.classifier(response)
            if verdict.action == "ok":
                install_decoder(response, self.decoder)
                return dispatch_hook("response", hooks, response, **kwargs)  # type: ignore[no-any-return,no-untyped-call]
            if verdict.action == "refresh":
                if self.refresh_auth is None or refreshed:
                    raise AuthenticationError(
                        f"credentials refused ({verdict.message}); check the platform's credentials",
                        platform=self.platform,
                        status=401,
                    )
                refreshed = True
                with self.stats.lock:
                    self.stats.refreshes += 1
                request.headers.update(self.refresh_auth())
                continue
            if verdict.action == "fatal":
                raise FatalAPIError(verdict.message, platform=self.platform, status=response.status_code)
            last = verdict.message
            self.stats.count("rate_limit" if verdict.rate_limited else verdict.message.split(" (")[0])
            if verdict.rate_limited:
                with self.stats.lock:
                    self.stats.rate_limited += 1
            if attempt >= self.policy.max_attempts:
                raise RetriesExhaustedError(
                    f"gave up after {attempt} attempts, last: {last}; try again later", platform=self.platform
                )
            self._sleep(self.policy.delay(attempt, verdict.delay, self._rng))


def raise_for_verdict(platform: str, verdict: Verdict, status: int | None = None) -> None:
    """Turn a non-ok verdict into the matching exception (for calls made outside a session)."""
    if verdict.action == "retry":
        cls = RateLimitError if verdict.rate_limited else RetriableAPIError
        raise cls(verdict.message, platform=platform, status=status, retry_after=verdict.delay)
    if verdict.action in ("fatal", "refresh"):
        raise FatalAPIError(verdict.message, platform=platform, status=status)
