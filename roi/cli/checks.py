"""``roi checks``: every Soda contract against the warehouse, as a table."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from flows.checks import CheckResult, ChecksFailed, run_all_checks
from roi.cli.common import console
from roi.core.errors import UserInputError

_OUTCOME_STYLE = {
    "passed": "green",
    "warned": "yellow",
    "failed": "red",
    "error": "red",
    "not_evaluated": "red",
}


def results_table(results: list[CheckResult]) -> Table:
    """A rich table of check results, one row per check."""
    table = Table(title="Soda contracts")
    for col in ("contract", "column", "check", "outcome", "diagnostics"):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.contract,
            r.column or "",
            r.check,
            f"[{_OUTCOME_STYLE.get(r.outcome, 'white')}]{r.outcome}[/]",
            r.diagnostics,
        )
    return table


def _parse(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise UserInputError(
            f"--{what} {value!r} is not an ISO date or timestamp (e.g. 2024-11-05)"
        ) from None


def checks(
    start: Annotated[str | None, typer.Option(help="Window start (UTC date or timestamp).")] = None,
    end: Annotated[str | None, typer.Option(help="Window end, exclusive (UTC date or timestamp).")] = None,
) -> None:
    """Run every Soda contract; exit non-zero when one fails or errors."""
    s, e = _parse(start, "start"), _parse(end, "end")
    if (s is None) != (e is None):
        raise UserInputError("pass both --start and --end, or neither")
    results = run_all_checks(s, e)
    console.print(results_table(results))
    bad = [r for r in results if not r.ok]
    if bad:
        raise ChecksFailed(f"{len(bad)} of {len(results)} Soda checks failed or errored")
    typer.echo(f"all {len(results)} Soda checks passed")
