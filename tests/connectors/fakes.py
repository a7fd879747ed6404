"""A tiny scripted HTTP server on 127.0.0.1 (port 0) and a fake connector, for deterministic SDK tests.

The server answers each request with the next scripted ``(status, headers, body)`` (the last
one repeats), after an optional tiny delay, and records every request it saw (time, path,
headers) and the most requests it had in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa

from connector_sdk.base import Connector
from connector_sdk.specs import Account, ConnectorSettings, Field, ReportSpec
from connector_sdk.windows import DateWindow

Reply = tuple[int, Mapping[str, str], Any]


@dataclass
class Seen:
    """One request as the server received it."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class FakeServer:
    """Scripted answers; ``seen`` lists the requests; ``max_in_flight`` the peak concurrency."""

    replies: list[Reply] = field(default_factory=lambda: [(200, {}, {"ok": True})])
    delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    max_in_flight: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` in order (the last one repeats)."""
        with self._lock:
            self.replies = list(replies)
            self.seen.clear()

    def _next(self) -> Reply:
        with self._lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def __enter__(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake._lock:
                    fake.seen.append(
                        Seen(time.monotonic(), self.command, self.path, dict(self.headers), body)
                    )
                    fake._in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
                try:
                    if fake.delay:
                        time.sleep(fake.delay)
                    status, headers, body = fake._next()
                    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                    self.send_response(status)
                    if not any(k.lower() == "content-type" for k in headers):
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(raw)
                finally:
                    with fake._lock:
                        fake._in_flight -= 1

            do_GET = do_POST = _answer

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()


FAKE_REPORT = ReportSpec(
    table="items",
    fields=(
        Field("account_id"),
        Field("item_id", "item_id"),
        Field("report_date", type=pa.date32()),
        Field("spend", "spend", type=pa.float64()),
    ),
    grain=("account_id", "item_id", "report_date"),
)


class FakeConnector(Connector):
    """A connector whose report comes from ``data`` (per account and date) or, with ``via_http``, a GET per window.

    ``windows`` records every (account, window) fetched, so tests see what a run asked for.
    """

    name = "fake_ads"
    default_host = "https://fake.invalid"
    report = FAKE_REPORT
    settings = ConnectorSettings(lookback_days=3, max_span_days=1)

    accounts: Sequence[Account] = (Account("a1", "UTC"),)
    data: dict[tuple[str, date], list[tuple[str, float]]] = {}
    via_http = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.windows: list[tuple[str, DateWindow]] = []
        self._lock = threading.Lock()

    def list_accounts(self) -> list[Account]:
        """The configured accounts."""
        return list(self.accounts)

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """Rows of ``data`` for each date of the window (one GET per window when ``via_http``)."""
        with self._lock:
            self.windows.append((account.account_id, window))
        if self.via_http:
            self.get_json(account.account_id, "/report", params={"day": window.first.isoformat()})
        for d in window.dates():
            rows = self.data.get((account.account_id, d), [])
            if rows:
                page = [{"item_id": item, "spend": spend} for item, spend in rows]
                yield self.report_page(page, account, report_date=d)
