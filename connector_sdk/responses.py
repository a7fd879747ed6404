"""What a response means: reading it once, and mapping it to a :class:`ResponseAction`.

Every response a connector receives is judged by an :class:`ErrorMapping`: the platform's
:class:`Rule` s, tried in order, then the HTTP rules every platform shares
(:data:`HTTP_RULES`). A rule is data: the HTTP statuses and in-body error codes it applies to,
an optional predicate for what neither can say, the action, a one-line message template and
where the platform's requested wait comes from. The session (:mod:`connector_sdk.http`) owns
what each action does; a new action is a new enum member and one branch there.

Platforms signal trouble in their own ways (TikTok inside an HTTP 200, Google's
``retryDelay``, Meta's usage header, Impact's ``X-RateLimit-Reset``), which dlt's retrying
client cannot see: that is why this map exists instead of dlt's ``Retry-After``-only retries.
"""

from __future__ import annotations

import email.utils
import json as _json
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any

import requests

from connector_sdk.exceptions import RetriesExhaustedError, UnparseableResponseError

_orjson_loads: Callable[[bytes | str], Any] | None
try:  # orjson ships with dlt; ~3x faster than the stdlib on object-heavy report pages
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - dlt depends on it
    _orjson_loads = None


class ResponseAction(Enum):
    """What the session does with a response."""

    SUCCESS = "success"
    """Accept it: hand it to the paginator and data selector."""
    RETRY = "retry"
    """A transient failure: back off (at least the platform's wait) and resend."""
    RATE_LIMITED = "rate_limited"
    """Throttled: back off like RETRY, counted apart."""
    REFRESH_TOKEN = "refresh_token"
    """The access token expired: refresh it once and resend."""
    FAIL = "fail"
    """Retrying cannot help: stop the run with the message."""


@dataclass(frozen=True)
class Resolution:
    """The action for one response, a one-line message, and the wait the platform asked for (seconds).

    ``exhausted``: the error a retried failure ends in once the retry budget is spent.
    """

    action: ResponseAction
    message: str = ""
    delay: float | None = None
    exhausted: type[RetriesExhaustedError] = RetriesExhaustedError


SUCCESS = Resolution(ResponseAction.SUCCESS)


@dataclass(frozen=True)
class BodyError:
    """A platform's error as its response body states it."""

    code: int
    message: str = ""
    transient: bool = False


def fast_loads(body: bytes | str) -> Any:
    """Parse JSON with orjson (the stdlib when absent)."""
    if _orjson_loads is not None:
        return _orjson_loads(body)
    return _json.loads(body)  # pragma: no cover


_MISSING = object()


def cached_json(response: requests.Response) -> Any:
    """The response's JSON, parsed once and then reused by the rules, selector and paginator.

    ``requests`` would parse with simplejson on every ``.json()`` call, and dlt's selector and
    paginator each call it: parsing once (with orjson) removes most of the client's work.
    """
    cache = getattr(response, "_sdk_json", _MISSING)
    if cache is _MISSING:
        cache = fast_loads(response.content) if response.content else None
        response._sdk_json = cache  # type: ignore[attr-defined]
        response.json = lambda **_: cache  # type: ignore[method-assign]
    return cache


Decoder = Callable[[bytes], Any]
"""Turns a response body into what ``response.json()`` returns (e.g. Arrow arrays for a report)."""


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


def content_type(response: requests.Response) -> str:
    """The response's media type for messages (``text/html``), ``none`` when it sent none."""
    value = response.headers.get("Content-Type") or "none"
    return " ".join(value.split(";")[0].split())[:80] or "none"


def not_json(response: requests.Response) -> Resolution:
    """A 2xx whose body could not be decoded: retried like a transient failure, then a named error.

    The message names the status and the content type only (never the decoder's error, which
    quotes the body).
    """
    return Resolution(
        ResponseAction.RETRY,
        f"HTTP {response.status_code} with a body that is not JSON (content type {content_type(response)})",
        exhausted=UnparseableResponseError,
    )


def body_excerpt(response: requests.Response, limit: int = 160) -> str:
    """A short one-line excerpt of an error body, for messages (never the request)."""
    text = response.text if response.content else ""
    return " ".join(text.split())[:limit]


class Signal:
    """One response as the rules read it: the body is parsed only when a rule asks, and once."""

    def __init__(
        self, response: requests.Response, body_error: Callable[[Any], BodyError | None] | None
    ) -> None:
        self.response = response
        self.status = response.status_code
        self._body_error = body_error

    @cached_property
    def unparseable(self) -> bool:
        """True when the body is not JSON."""
        try:
            cached_json(self.response)
        except ValueError:
            return True
        return False

    @property
    def json(self) -> Any:
        """The parsed body (None when empty or not JSON)."""
        return None if self.unparseable else cached_json(self.response)

    @cached_property
    def error(self) -> BodyError | None:
        """The platform's in-body error, when it has a reader for one and the body states one."""
        if self._body_error is None or self.unparseable:
            return None
        return self._body_error(cached_json(self.response))


class _MessageFields:
    """What a rule's message may name: ``status``, ``code``, ``detail`` (the platform's message), ``excerpt``."""

    def __init__(self, signal: Signal) -> None:
        self._signal = signal

    def __getitem__(self, key: str) -> object:
        if key == "status":
            return self._signal.status
        if key == "excerpt":
            return body_excerpt(self._signal.response)
        error = self._signal.error
        if key == "code":
            return error.code if error else ""
        if key == "detail":
            return error.message if error else ""
        raise KeyError(key)


class _AnyCode(Container[int]):
    def __contains__(self, code: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY_CODE"


ANY_CODE: Container[int] = _AnyCode()
"""``Rule.codes``: any in-body error, whatever its code."""


@dataclass(frozen=True)
class Rule:
    """When a response matches ``status``, ``codes`` and ``when``: ``action``, with ``message``.

    ``status``: HTTP statuses (None: any). ``codes``: the platform's in-body error codes (needs
    the mapping's ``body_error`` reader; None: the body is not looked at). ``when``: a predicate
    for a signal neither can express. ``message`` may name ``{status}``, ``{code}``, ``{detail}``
    and ``{excerpt}``. ``wait`` reads how long the platform asked us to wait.
    """

    action: ResponseAction
    message: str = ""
    status: Container[int] | None = None
    codes: Container[int] | None = None
    when: Callable[[Signal], bool] | None = None
    wait: Callable[[Signal], float | None] | None = None

    def matches(self, signal: Signal) -> bool:
        """True when this rule applies to the response."""
        if self.status is not None and signal.status not in self.status:
            return False
        if self.codes is not None and (signal.error is None or signal.error.code not in self.codes):
            return False
        return self.when is None or self.when(signal)

    def resolve(self, signal: Signal) -> Resolution:
        """The resolution this rule gives the response."""
        if self.action is ResponseAction.SUCCESS:
            return SUCCESS
        message = self.message.format_map(_MessageFields(signal))
        return Resolution(self.action, message, self.wait(signal) if self.wait else None)


def unparseable_body(signal: Signal) -> bool:
    """``Rule.when``: the body is not JSON (a platform that always answers JSON was cut off)."""
    return signal.unparseable


def _retry_after(signal: Signal) -> float | None:
    return retry_after_seconds(signal.response)


SUCCESSFUL = range(0, 300)
TRANSIENT = frozenset({408, *range(500, 1000)})

HTTP_RULES: tuple[Rule, ...] = (
    Rule(ResponseAction.SUCCESS, status=SUCCESSFUL),
    Rule(ResponseAction.REFRESH_TOKEN, "HTTP 401: {excerpt}", status=(401,)),
    Rule(ResponseAction.RATE_LIMITED, "HTTP 429 rate limited", status=(429,), wait=_retry_after),
    Rule(ResponseAction.RETRY, "HTTP {status}", status=TRANSIENT, wait=_retry_after),
    Rule(ResponseAction.FAIL, "HTTP {status} from the API: {excerpt}"),
)
"""The rules every platform shares, after its own: 2xx accepted, 401 refreshes once,
408/429/5xx retried (after ``Retry-After`` when sent), any other status fatal."""


@dataclass(frozen=True)
class ErrorMapping:
    """A platform's response rules, tried in order before :data:`HTTP_RULES`.

    ``body_error`` reads the platform's error out of a parsed JSON body (None when the body
    states none); rules with ``codes`` match on it.
    """

    rules: tuple[Rule, ...] = ()
    body_error: Callable[[Any], BodyError | None] | None = None

    @cached_property
    def _all_rules(self) -> tuple[Rule, ...]:
        return (*self.rules, *HTTP_RULES)

    def resolve(self, response: requests.Response) -> Resolution:
        """The resolution of the first rule that matches (HTTP_RULES end with a catch-all)."""
        signal = Signal(response, self.body_error)
        return next(rule.resolve(signal) for rule in self._all_rules if rule.matches(signal))


HTTP_ONLY = ErrorMapping()
"""The mapping of a platform that signals everything with HTTP statuses."""
