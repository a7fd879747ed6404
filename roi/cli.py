"""The ``roi`` command line (typer + rich).

Every command exits 0 only on success. Errors a user can cause (bad option, bad date, unknown
platform, missing credentials, unreadable file) print one line ``error: ...`` and exit
non-zero; a traceback means a bug.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console

import roi
from roi.errors import RoiError
from roi.settings import get_settings
from roi.warehouse import get_warehouse

console = Console()
err_console = Console(stderr=True)

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
        console.print(f"roi {roi.__version__}")
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


@app.command()
def bootstrap() -> None:
    """Create the warehouse schemas and audit tables (idempotent) and record the run."""
    from flows.bootstrap import bootstrap_warehouse

    get_warehouse()  # missing credentials fail here, in one line, before Prefect starts
    run_id = bootstrap_warehouse()
    console.print(f"warehouse ready (run {run_id})")


# Sub-commands of other areas register here, one line each.


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn user errors into one line and an exit code."""
    # Flow progress is shown by our own rich output; Prefect's INFO lines would bury it.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    try:
        app(args=argv, standalone_mode=False, prog_name="roi")
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("error: aborted")
        return 130
    except typer.TyperException as exc:
        # typer vendors click; its usage errors carry the context for help and the exit code.
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            console.print(ctx.get_help())
            return 0
        fmt = getattr(exc, "format_message", None)
        msg = (fmt() if fmt else str(exc)).replace("\n", " ").strip()
        where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        err_console.print(f"error: {msg}{where}", highlight=False, soft_wrap=True)
        return int(getattr(exc, "exit_code", 2))
    except RoiError as exc:
        err_console.print(f"error: {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("error: interrupted")
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
