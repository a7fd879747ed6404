"""A real Prefect API for ``roi serve``: ``prefect server start`` as a child process.

Without ``PREFECT_API_URL`` Prefect talks to an ephemeral API, which runs no scheduler: served
deployments would never get a scheduled run (FIELD_NOTES.md). So when no API is configured,
``roi serve`` starts a Prefect server of its own: SQLite in ``<working folder>/prefect-server``
(a fresh database at each start: the pipeline's own record is ``audit.pipeline_runs``, and a
stale database would replay every run missed while stopped), 127.0.0.1 on a free port,
analytics and UI off, scheduler on. ``PREFECT_API_URL`` points at it for this process and the
flow runs it spawns; the server stops when serving stops.

Nothing here imports Prefect: the caller sets the API before Prefect is loaded, which reads its
settings once, at import (``temporary_settings`` covers a process that loaded it already).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from roi.core.errors import ConfigError

# A loaded 2-core machine needs far more than Prefect's 20 s to start a server (FIELD_NOTES.md).
DEFAULT_STARTUP_SECONDS = 180.0
STOP_SECONDS = 20.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(folder: Path, port: int) -> dict[str, str]:
    """The environment of the server process: our settings over the caller's."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        {
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{folder / 'prefect.db'}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true",
            "PREFECT_SERVER_LOGGING_LEVEL": env.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
        }
    )
    return env


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when ``roi serve`` dies, however it dies (PR_SET_PDEATHSIG)."""
    # elsewhere the server is stopped on the way out only
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # The server leads its own process group (start_new_session): stop it and its workers.
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_SECONDS)


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if proc.poll() is not None:
            raise ConfigError(
                f"the Prefect server for roi serve exited at start ({_last_line(log) or 'no output'}); "
                f"see {log}"
            )
        if time.monotonic() > deadline:
            raise ConfigError(
                f"the Prefect server for roi serve did not answer within {timeout:.0f} s "
                "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); see " + str(log)
            )
        time.sleep(0.25)


@contextmanager
def start_server(folder: Path, timeout: float | None = None) -> Iterator[str]:
    """Run a Prefect server (SQLite in ``folder``) for the block; yields its API URL."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = folder / "server.log"
    wait = timeout or float(
        os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", DEFAULT_STARTUP_SECONDS)
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env(folder, port),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # its own session: Ctrl-C reaches `roi serve`, which stops serving, then the server
            start_new_session=True,
            preexec_fn=_die_with_parent,  # one prctl call: safe between fork and exec
        )
    try:
        _wait_until_up(proc, url, log, wait)
        yield url
    finally:
        _stop(proc)


@contextmanager
def prefect_api(folder: Path) -> Iterator[str]:
    """The Prefect API to serve against: ``PREFECT_API_URL`` if set, else a server started here."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield configured
        return
    with ExitStack() as stack:
        url = stack.enter_context(start_server(folder))
        os.environ["PREFECT_API_URL"] = url  # this process and the flow runs it spawns
        stack.callback(os.environ.pop, "PREFECT_API_URL", None)
        if "prefect" in sys.modules:
            # Imported CLI start-up stays light: Prefect is only touched here if already loaded.
            from prefect.settings import PREFECT_API_URL, temporary_settings

            stack.enter_context(temporary_settings({PREFECT_API_URL: url}))
        yield url
