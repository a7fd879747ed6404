"""The request/response plumbing shared by the platform handlers of :mod:`simulator.server`."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs

from simulator.ads.state import AdsWorld

T = TypeVar("T")


@dataclass
class Request:
    """One HTTP request, with the platform prefix removed from ``path``."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    host: str

    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty or not JSON)."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded``."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header."""
        auth = self.headers.get("authorization", "")
        return auth[7:].strip() if auth[:7].lower() == "bearer " else None


@dataclass
class Response:
    """What a handler answers: status, a JSON-able body (or raw bytes) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class ApiError(Exception):
    """Raised by a handler to answer with a platform-shaped error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


class Context:
    """Server-wide state the handlers share: the world, the as-of time, tokens, page size."""

    def __init__(self, world: AdsWorld, as_of: int) -> None:
        self.world = world
        self.as_of = as_of
        self.lock = threading.Lock()
        self.page_size: dict[str, int] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (platform, wall-clock expiry)
        self.report_runs: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, int] = {}
        self.retry_after_seconds = 1.0
        # the fault switches by platform (``/_sim/faults``), shared with the server's fault draw
        self.faults: dict[str, dict[str, float]] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}

    def override_page_size(self, platform: str, requested: int) -> int:
        """The test-only page size when set (per platform, or for all with ``*``), else ``requested``."""
        with self.lock:
            return self.page_size.get(platform) or self.page_size.get("*") or requested

    def issue_token(self, platform: str, lifetime: int) -> str:
        """A new bearer token valid for ``lifetime`` wall-clock seconds."""
        tok = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[tok] = (platform, time.time() + lifetime)
        return tok

    def token_state(self, platform: str, token: str | None) -> str:
        """``valid``, ``expired`` or ``invalid``."""
        if not token:
            return "invalid"
        with self.lock:
            entry = self.tokens.get(token)
        if entry is None or entry[0] != platform:
            return "invalid"
        return "valid" if time.time() < entry[1] else "expired"

    def expire_tokens(self) -> None:
        """Expire every token issued so far (the fault switch ``expire_tokens``)."""
        with self.lock:
            self.tokens = {k: (p, 0.0) for k, (p, _) in self.tokens.items()}

    def memo(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """``compute()`` cached under ``key`` (small cache: pages of one report reuse its rows)."""
        with self.lock:
            if key in self._memo:
                cached: T = self._memo[key]
                return cached
        value = compute()
        with self.lock:
            if len(self._memo) >= 16:
                self._memo.pop(next(iter(self._memo)))
            self._memo[key] = value
        return value

    def count_call(self, key: str) -> int:
        """Count a call under ``key`` and return the new count (for usage headers)."""
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            return self.calls[key]


def request_id() -> str:
    """A request id in the shape most platforms use."""
    return uuid.uuid4().hex[:22]


def encode_cursor(obj: dict[str, Any]) -> str:
    """An opaque URL-safe paging token."""
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> dict[str, Any] | None:
    """The object behind :func:`encode_cursor`, or None for a malformed token."""
    try:
        pad = "=" * (-len(token) % 4)
        obj = json.loads(base64.urlsafe_b64decode(token + pad))
        return obj if isinstance(obj, dict) else None
    except (ValueError, TypeError):
        return None


def money(micros: int) -> str:
    """A decimal string with two places from micros (``1230000`` -> ``"1.23"``)."""
    cents = int(micros) // 10_000
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"
