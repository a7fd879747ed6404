"""One HTTP server for every simulated ad API of a world, each under ``/<platform>/``.

Platforms: google_ads, meta_ads, tiktok_ads, apple_search_ads, impact, fx_rates (see
``docs/simulated_apis.md``). Test-only control endpoints live under ``/_sim/``: the as-of
time, fault injection (rate limits in each platform's own shape, 5xx, dropped connections,
slow answers, expired tokens), a page-size override and request statistics.

Use :class:`SimServer` in tests (a context manager running the server in a thread on
127.0.0.1) and :func:`run_server` from the CLI (blocking).
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from simulator import incidents as inc
from simulator.ads import api_apple, api_fx, api_google, api_impact, api_meta, api_tiktok
from simulator.ads.common import to_epoch
from simulator.ads.http import ApiError, Context, Request, Response
from simulator.ads.revoked import revoked
from simulator.ads.state import AdsWorld


class _Platform(Protocol):
    def handle(self, ctx: Context, req: Request) -> Response: ...
    def rate_limited(self, ctx: Context, req: Request) -> Response: ...
    def server_error(self, ctx: Context, req: Request) -> Response: ...
    def is_auth_endpoint(self, req: Request) -> bool: ...


PLATFORM_MODULES: dict[str, _Platform] = {
    "google_ads": api_google,
    "meta_ads": api_meta,
    "tiktok_ads": api_tiktok,
    "apple_search_ads": api_apple,
    "impact": api_impact,
    "fx_rates": api_fx,
}
FAULT_KINDS = ("rate_limit", "server_error", "drop_connection", "slow", "daily_quota")
# Faults answered by a platform's own function of that name, when it has one (Google's daily
# operations quota: a 429 with a retryDelay of hours); other platforms answer their rate limit.
OWN_FAULTS = ("daily_quota",)
# Switches a platform's handler reads itself (not drawn per request): Meta fails an async report
# run whose result has more rows than ``async_job_fail_rows``.
HANDLER_FAULTS = ("async_job_fail_rows",)


def parse_ts(value: str | datetime) -> int:
    """Epoch seconds of an ISO-8601 timestamp (naive = UTC) or a datetime."""
    if isinstance(value, datetime):
        return to_epoch(value)
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return to_epoch(ts if ts.tzinfo else ts.replace(tzinfo=UTC))


class _Sim:
    """Server state beyond the platform context: faults and statistics."""

    def __init__(self, ctx: Context, incidents: list[inc.Incident]) -> None:
        self.ctx = ctx
        self.incidents = incidents  # the world's api_outage / revoked_token ones answer by as-of time
        self.faults = ctx.faults
        self.stats: Counter[tuple[str, str]] = Counter()
        self.rng = random.Random(0)
        self.lock = threading.Lock()

    def draw_fault(self, platform: str) -> tuple[str | None, float]:
        """The fault to inject for one request (or None) and the slow delay in seconds."""
        with self.lock:
            f = self.faults.get(platform) or self.faults.get("*") or {}
            slow = 0.0
            if f.get("slow", 0) and self.rng.random() < f["slow"]:
                slow = float(f.get("slow_seconds", 2.0))
            for kind in ("drop_connection", "rate_limit", *OWN_FAULTS, "server_error"):
                p = f.get(kind, 0.0)
                if p and self.rng.random() < p:
                    return kind, slow
            return None, slow

    def incident_answer(self, platform: str, req: Request) -> tuple[str, Response] | None:
        """The answer of an api_outage or revoked_token incident of ``platform`` at the as-of time, if one holds."""
        as_of = self.ctx.as_of
        if inc.active(self.incidents, "api_outage", platform, as_of):
            return "incident_outage", PLATFORM_MODULES[platform].server_error(self.ctx, req)
        if inc.active(self.incidents, "revoked_token", platform, as_of):
            return "incident_revoked", revoked(platform, self.ctx, req)
        return None

    def count(self, platform: str, outcome: str) -> None:
        with self.lock:
            self.stats[(platform, outcome)] += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StreamRideSim/1.0"
    sim: _Sim  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and the demo make thousands of requests

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        segs = parts.path.split("/", 2)
        top = segs[1] if len(segs) > 1 else ""
        rest = "/" + segs[2] if len(segs) > 2 else "/"
        req = Request(
            method,
            rest,
            query,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            self.headers.get("Host", ""),
        )
        if top == "_sim":
            self._send(self._control(req))
            return
        mod = PLATFORM_MODULES.get(top)
        if mod is None:
            self._send(
                Response(404, {"error": f"unknown platform {top!r}; one of {sorted(PLATFORM_MODULES)}"})
            )
            return
        sim = self.sim
        incident = sim.incident_answer(top, req)
        if incident is not None:  # every request, the token endpoint's too
            sim.count(top, incident[0])
            self._send(incident[1])
            return
        if not mod.is_auth_endpoint(req):
            fault, slow = sim.draw_fault(top)
            if slow:
                sim.count(top, "slow")
                time.sleep(slow)
            if fault == "drop_connection":
                sim.count(top, "dropped")
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault == "rate_limit" or fault in OWN_FAULTS:
                sim.count(top, "rate_limited" if fault == "rate_limit" else str(fault))
                answer = (
                    getattr(mod, str(fault), mod.rate_limited) if fault in OWN_FAULTS else mod.rate_limited
                )
                self._send(answer(sim.ctx, req))
                return
            if fault == "server_error":
                sim.count(top, "server_error")
                self._send(mod.server_error(sim.ctx, req))
                return
        try:
            resp = mod.handle(sim.ctx, req)
        except ApiError as err:
            resp = err.response
        except Exception as exc:  # a simulator bug must not look like a dropped connection
            resp = Response(500, {"error": f"simulator bug: {type(exc).__name__}: {exc}"})
        outcome = "ok" if resp.status < 400 else f"http_{resp.status}"
        if isinstance(resp.body, dict) and resp.body.get("code") not in (None, 0) and top == "tiktok_ads":
            outcome = f"code_{resp.body['code']}"
        sim.count(top, outcome)
        self._send(resp)

    def _control(self, req: Request) -> Response:
        sim, ctx = self.sim, self.sim.ctx
        body = req.json() or {}
        if req.path == "/as-of":
            if req.method == "POST":
                try:
                    ctx.as_of = parse_ts(body["as_of"])
                except (KeyError, TypeError, ValueError):
                    return Response(400, {"error": 'body must be {"as_of": "<ISO-8601 UTC timestamp>"}'})
            return Response(200, {"as_of": datetime.fromtimestamp(ctx.as_of, UTC).isoformat()})
        if req.path == "/faults" and req.method == "POST":
            platform = body.get("platform", "*")
            if body.get("expire_tokens"):
                ctx.expire_tokens()
            if "retry_after_seconds" in body:
                ctx.retry_after_seconds = float(body["retry_after_seconds"])
            faults = {k: float(body[k]) for k in (*FAULT_KINDS, "slow_seconds", *HANDLER_FAULTS) if k in body}
            with sim.lock:
                sim.faults[platform] = faults
            return Response(200, {"platform": platform, "faults": faults})
        if req.path == "/page-size" and req.method == "POST":
            platform = body.get("platform", "*")
            size = body.get("page_size")
            with ctx.lock:
                if size:
                    ctx.page_size[platform] = int(size)
                else:
                    ctx.page_size.pop(platform, None)
            return Response(200, {"platform": platform, "page_size": size})
        if req.path == "/stats":
            with sim.lock:
                out: dict[str, dict[str, int]] = {}
                for (p, o), n in sorted(sim.stats.items()):
                    out.setdefault(p, {})[o] = n
            return Response(200, out)
        if req.path == "/reset" and req.method == "POST":
            with sim.lock:
                sim.faults.clear()
                sim.stats.clear()
            with ctx.lock:
                ctx.page_size.clear()
                ctx.retry_after_seconds = 1.0
            return Response(200, {"reset": True})
        return Response(
            404, {"error": "unknown control endpoint: /_sim/as-of, faults, page-size, stats, reset"}
        )

    def _send(self, resp: Response) -> None:
        if isinstance(resp.body, bytes | str):
            data = resp.body.encode() if isinstance(resp.body, str) else resp.body
        else:
            data = json.dumps(resp.body, separators=(",", ":")).encode()
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class SimServer:
    """The simulated APIs of one world, served from a background thread on 127.0.0.1.

    Usage (tests)::

        with SimServer(world_dir, port=0, as_of=None) as srv:
            srv.url                      # http://127.0.0.1:<port>
            srv.set_as_of("2026-10-30T00:00:00Z")
            srv.set_faults("google_ads", rate_limit=1.0)
            srv.set_page_size(5)

    ``as_of=None`` answers as at the world's end (the last account's last local day is over).
    """

    def __init__(self, world_dir: Path, port: int = 0, as_of: datetime | str | None = None) -> None:
        self.world = AdsWorld(Path(world_dir))
        start = parse_ts(as_of) if as_of is not None else self.world.end_utc
        self.ctx = Context(self.world, start)
        self.sim = _Sim(self.ctx, inc.read_incidents(Path(world_dir)))
        handler = type("Handler", (_Handler,), {"sim": self.sim})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> SimServer:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="sim-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def as_of(self) -> datetime:
        """The as-of time the platforms currently answer at."""
        return datetime.fromtimestamp(self.ctx.as_of, UTC)

    def set_as_of(self, ts: datetime | str) -> None:
        """Answer as the platforms would at ``ts`` (ISO string or datetime; naive = UTC)."""
        self.ctx.as_of = parse_ts(ts)

    def set_faults(
        self,
        platform: str = "*",
        *,
        rate_limit: float = 0.0,
        server_error: float = 0.0,
        drop_connection: float = 0.0,
        slow: float = 0.0,
        slow_seconds: float = 2.0,
        expire_tokens: bool = False,
        retry_after_seconds: float | None = None,
        daily_quota: float = 0.0,
        async_job_fail_rows: int = 0,
    ) -> None:
        """Fail each request of ``platform`` (or ``*``) that way with the given probabilities.

        ``async_job_fail_rows``: Meta report runs with more rows end ``Job Failed`` (0: never).
        """
        with self.sim.lock:
            self.sim.faults[platform] = {
                "rate_limit": rate_limit,
                "server_error": server_error,
                "drop_connection": drop_connection,
                "slow": slow,
                "slow_seconds": slow_seconds,
                "daily_quota": daily_quota,
                "async_job_fail_rows": async_job_fail_rows,
            }
        if expire_tokens:
            self.ctx.expire_tokens()
        if retry_after_seconds is not None:
            self.ctx.retry_after_seconds = retry_after_seconds

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self.sim.lock:
            self.sim.faults.clear()

    def set_page_size(self, page_size: int | None, platform: str = "*") -> None:
        """Override the page size of ``platform`` (or all); None removes the override."""
        with self.ctx.lock:
            if page_size:
                self.ctx.page_size[platform] = int(page_size)
            else:
                self.ctx.page_size.pop(platform, None)

    def stats(self) -> dict[str, dict[str, int]]:
        """Request counts per platform and outcome (ok, http_4xx, rate_limited, dropped, ...)."""
        with self.sim.lock:
            out: dict[str, dict[str, int]] = {}
            for (p, o), n in sorted(self.sim.stats.items()):
                out.setdefault(p, {})[o] = n
            return out


def run_server(world_dir: Path, port: int, as_of: datetime | None) -> None:
    """Serve a world's APIs on 127.0.0.1:``port`` until interrupted (``roi simulate serve``)."""
    srv = SimServer(world_dir, port=port, as_of=as_of)
    env = Path(world_dir) / "sim.env"
    print(f"Simulated ad APIs of {world_dir} at {srv.url} (as of {srv.as_of.isoformat()})")
    print(f"Point the pipeline at it:  source {env} && export ROI_API_BASE_URL={srv.url}")
    print(f'Move time:  curl -X POST {srv.url}/_sim/as-of -d \'{{"as_of": "2026-10-30T12:00:00Z"}}\'')
    try:
        srv.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.httpd.server_close()
