"""``roi checks``: every Soda contract against the warehouse, as a table."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from flows.checks import CheckResult, ChecksFailed, run_all_checks
from roi.cli.common import console, parse_ts
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


def checks(
    start: Annotated[str | None, typer.Option(help="Window start (UTC date or timestamp).")] = None,
    end: Annotated[str | None, typer.Option(help="Window end, exclusive (UTC date or timestamp).")] = None,
) -> None:
    """Run every Soda contract; exit non-zero when one fails or errors."""
    if (start is None) != (end is None):
        raise UserInputError("pass both --start and --end, or neither")
    s = parse_ts(start, "--start") if start is not None else None
    e = parse_ts(end, "--end") if end is not None else None
    if s is not None and e is not None and s >= e:
        raise UserInputError(
            f"--start {start} is not before --end {end}: the window is half-open [start, end)"
        )
    results = run_all_checks(s, e)
    console.print(results_table(results))
    bad = [r for r in results if not r.ok]
    if bad:
        raise ChecksFailed(f"{len(bad)} of {len(results)} Soda checks failed or errored")
    typer.echo(f"all {len(results)} Soda checks passed")
