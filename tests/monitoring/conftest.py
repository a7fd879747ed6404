"""Monitoring tests: a fresh warehouse with synthetic audit and landing rows, a local receiver.

The receiver is an HTTP server on 127.0.0.1 that Apprise's ``json://`` URL posts to; it can be
stopped and started again on the same port (a receiver that is down, then back).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from roi.core.warehouse import get_warehouse


@dataclass
class Warehouse:
    """The test's warehouse: run statements, read rows (each in a turn)."""

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        wh = get_warehouse()
        with wh.session("test"):
            cur = wh.connection().cursor()
            try:
                return cur.execute(sql, params or []).fetchall()
            finally:
                cur.close()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self.rows(sql, params)

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        wh = get_warehouse()
        with wh.session("test"):
            cur = wh.connection().cursor()
            try:
                cur.executemany(sql, rows)
            finally:
                cur.close()


@pytest.fixture
def wh(fresh_warehouse: Path) -> Warehouse:
    """A bootstrapped empty warehouse, plus the landing tables the rules read (their read columns)."""
    warehouse = get_warehouse()
    with warehouse.session("test bootstrap"):
        warehouse.bootstrap()
    w = Warehouse()
    # modified_at as the loader declares it (connectors/product_events/warehouse.py): with time
    # zone. A naive column here hid that landing_stall compared aware stamps with a naive now.
    w.execute(
        "create table raw_events.landing_manifest "
        "(file_key varchar, modified_at timestamp with time zone, lines_read bigint)"
    )
    w.execute(
        "create table raw_events.dead_letters (file_key varchar, line_no bigint, replayed_at timestamp)"
    )
    return w


@dataclass
class Receiver:
    """A JSON webhook receiver on 127.0.0.1: what it got, and a switch to take it down."""

    port: int
    received: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/alerts"

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                size = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(size)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def titles(self) -> list[str]:
        return [m["title"] for m in self.received]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A running receiver whose URL is the only one in ROI_ALERT_URLS."""
    from roi.core.settings import reset_settings

    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()
    r = Receiver(port)
    r.start()
    monkeypatch.setenv("ROI_ALERT_URLS", r.url)
    reset_settings()
    yield r
    r.stop()
    reset_settings()
