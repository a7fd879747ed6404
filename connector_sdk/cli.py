"""The ``roi connector`` commands (the lead wires ``app`` into ``roi.cli``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from connector_sdk.exceptions import ConnectorError
from connector_sdk.scaffold import scaffold

app = typer.Typer(help="Connectors: scaffold a new platform.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Connector commands."""


@app.command("new")
def new(
    name: str = typer.Argument(..., help="Platform name: a lowercase Python identifier, e.g. snap_ads."),
    root: Path = typer.Option(Path("."), help="Repository root (holds connectors/ and tests/)."),
) -> None:
    """Scaffold connectors/NAME and tests/connectors/test_NAME.py from the template."""
    console = Console()
    try:
        files = scaffold(name, root)
    except ConnectorError as exc:  # a bad or taken name: bad input, one line on stderr
        err = Console(stderr=True)
        err.print(f"error: {exc}", style="red", highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    for f in files:
        console.print(f"created {f}")
    console.print("next: fill in the TODOs, then run the contract suite (docs/connectors.md)")
