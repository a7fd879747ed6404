"""The ``roi`` app: every command group assembled, and the one entry point that runs it.

Every command exits 0 only on success. Every failure prints one line ``error: ...`` (never a
traceback, never a response body or a secret) and exits 2 for bad input (bad option, bad
date, unknown platform, unreadable file), 3 for configuration (settings, credentials, a
warehouse another process holds), 1 when the run itself failed, 130 when interrupted.
``ROI_DEBUG=1`` lets an unexpected error raise with its traceback.
"""

from __future__ import annotations

import os
from typing import Annotated

import duckdb
import typer

from connector_sdk.cli import app as connector_app
from connector_sdk.exceptions import ConnectorConfigError, ConnectorError, InvalidRunError
from roi.cli import alerts as alerts_cli
from roi.cli import attribution, checks, close, demo, explain, landing, pipeline, restatements, simulate
from roi.cli import privacy as privacy_cli
from roi.cli import retention as retention_cli
from roi.cli.common import console, err_console
from roi.core import __version__
from roi.core.errors import RoiError
from roi.core.redact import DEBUG_VARIABLE, one_line, one_line_error, redact
from roi.core.settings import get_settings

app = typer.Typer(
    name="roi",
    help="StreamRide marketing ROI pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"roi {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """StreamRide marketing ROI pipeline: ads, events, attribution, the daily ROI mart."""
    # Settings are validated before any command runs, so a bad ROI_* value is one line.
    get_settings()


# Commands, then groups, in the order `roi --help` lists them.
app.command()(pipeline.bootstrap)
app.command()(pipeline.run)
app.command()(pipeline.backfill)
app.command()(pipeline.serve)
app.command()(demo.demo)
app.command()(restatements.restatements)
app.command()(checks.checks)
app.command()(explain.explain)
app.command()(retention_cli.retention)
app.add_typer(simulate.app, name="simulate")
app.add_typer(connector_app, name="connector")
app.add_typer(attribution.app, name="attribution")
app.add_typer(landing.app, name="landing")
app.add_typer(landing.deadletters_app, name="deadletters")
app.add_typer(close.app, name="close")
app.add_typer(alerts_cli.app, name="alerts")
app.add_typer(privacy_cli.app, name="privacy")


def _usage_error(exc: typer.TyperException) -> tuple[int, str | None]:
    """A click usage error (typer vendors click) as its exit code and line; bare groups print help (no line)."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        console.print(ctx.get_help())
        return 0, None
    fmt = getattr(exc, "format_message", None)
    msg = fmt() if fmt else str(exc)
    where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    return int(getattr(exc, "exit_code", 2)), f"{' '.join(msg.split())}{where}"


def _is_lock_error(exc: BaseException) -> bool:
    """DuckDB's refusal to open a file another process holds (its message names the lock)."""
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def _describe(exc: BaseException) -> tuple[int, str | None]:
    """The exit code and the one line (None: nothing to print) for any failure of a command.

    1: the run failed (an API refused, a check failed, a bug); 2: bad input; 3: configuration
    or environment (settings, credentials, a warehouse another process holds); 130: interrupted.
    """
    if isinstance(exc, typer.Abort):
        return 130, "aborted"
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    if isinstance(exc, typer.TyperException):
        return _usage_error(exc)
    if isinstance(exc, RoiError):
        return exc.exit_code, redact(" ".join(str(exc).split()))
    if isinstance(exc, ConnectorError):
        # The SDK has its own errors (it imports nothing of the project); each is one line already.
        code = 3 if isinstance(exc, ConnectorConfigError) else 2 if isinstance(exc, InvalidRunError) else 1
        return code, one_line(str(exc))
    if _is_lock_error(exc):
        return 3, (
            f"the warehouse is in use by another process ({one_line(str(exc), 200)}): "
            "wait for it to finish, or stop it"
        )
    # Not ours (an overflow, a panic in a library, a bug): one line; the traceback on demand.
    return 1, f"{one_line_error(exc)} (unexpected; run with {DEBUG_VARIABLE}=1 for the traceback)"


def _printable(text: str) -> str:
    """``text`` with control characters and line breaks escaped: what is printed is one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every failure into one line ``error: ...`` and an exit code."""
    # Flow progress is shown by our own rich output; Prefect's INFO lines would bury it.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    try:
        # Without standalone mode click returns a typer.Exit's code instead of raising it.
        rv = app(args=argv, standalone_mode=False, prog_name="roi")
    except typer.Exit as exc:
        return exc.exit_code
    except BaseException as exc:  # panics of Rust libraries are BaseExceptions too
        if isinstance(exc, SystemExit | GeneratorExit) or os.environ.get(DEBUG_VARIABLE) == "1":
            raise
        code, line = _describe(exc)
        if line is not None:
            err_console.print(f"error: {_printable(line)}", highlight=False, soft_wrap=True, markup=False)
        return code
    return rv if isinstance(rv, int) else 0
