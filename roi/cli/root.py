"""The ``roi`` app: every command group assembled, and the one entry point that runs it.

Every command exits 0 only on success. Errors a user can cause (bad option, bad date, unknown
platform, missing credentials, unreadable file) print one line ``error: ...`` and exit
non-zero; a traceback means a bug.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from connector_sdk.cli import app as connector_app
from connector_sdk.exceptions import ConnectorConfigError, ConnectorError, InvalidRunError
from roi.cli import attribution, checks, demo, pipeline, restatements, simulate
from roi.cli.common import console, err_console
from roi.core import __version__
from roi.core.errors import RoiError
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
app.add_typer(simulate.app, name="simulate")
app.add_typer(connector_app, name="connector")
app.add_typer(attribution.app, name="attribution")


def _usage_error(exc: typer.TyperException) -> int:
    """A click usage error (typer vendors click) as one line and its exit code; bare groups print help."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        console.print(ctx.get_help())
        return 0
    fmt = getattr(exc, "format_message", None)
    msg = (fmt() if fmt else str(exc)).replace("\n", " ").strip()
    where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    err_console.print(f"error: {msg}{where}", highlight=False, soft_wrap=True)
    return int(getattr(exc, "exit_code", 2))


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn user errors into one line and an exit code."""
    # Flow progress is shown by our own rich output; Prefect's INFO lines would bury it.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    try:
        # Without standalone mode click returns a typer.Exit's code instead of raising it.
        rv = app(args=argv, standalone_mode=False, prog_name="roi")
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("error: aborted")
        return 130
    except typer.TyperException as exc:
        return _usage_error(exc)
    except RoiError as exc:
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except ConnectorError as exc:
        # The SDK has its own errors (it imports nothing of the project); each is one line already.
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        return 2 if isinstance(exc, ConnectorConfigError | InvalidRunError) else 1
    except KeyboardInterrupt:
        err_console.print("error: interrupted")
        return 130
    return rv if isinstance(rv, int) else 0
