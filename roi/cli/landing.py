"""``roi landing requeue`` and ``roi deadletters replay``: recover landing input after a fix.

A landing file that cannot be loaded (unreadable, too large, or failing even alone) waits in
``raw_events.quarantined_files``; a line that breaks a rule waits in ``raw_events.dead_letters``.
These commands send them through ingestion again once the file or the rules are fixed.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

import typer
from rich.table import Table

from roi.cli.common import console, parse_date, warehouse_turn
from roi.core.errors import UserInputError
from roi.core.settings import get_settings

app = typer.Typer(help="Landing files: quarantine.", no_args_is_help=True)
deadletters_app = typer.Typer(help="Dead-lettered landing lines.", no_args_is_help=True)


@app.command("requeue")
def requeue(
    keys: Annotated[
        list[str],
        typer.Argument(
            metavar="KEY...",
            help="Keys of quarantined files, as raw_events.quarantined_files names them "
            "(events/dt=.../hour=.../part.jsonl.gz).",
        ),
    ],
) -> None:
    """Take landing files out of quarantine after a fix: the next run reads them again."""
    # imported here for start-up time: the connector loads dlt
    from connectors.product_events import requeue_file
    from connectors.product_events import settings as S
    from connectors.product_events.warehouse import quarantined_file_keys

    with warehouse_turn("landing requeue") as warehouse:
        pipeline = warehouse.dlt_pipeline(S.PIPELINE_NAME, S.DATASET)
        waiting = set(quarantined_file_keys(pipeline).to_list())
        unknown = [k for k in keys if k not in waiting]
        if unknown:
            raise UserInputError(
                f"{unknown[0]!r} is not in quarantine (see raw_events.quarantined_files where requeued_at "
                "is null): nothing requeued"
            )
        for key in dict.fromkeys(keys):
            requeue_file(pipeline, key)
    console.print(f"requeued {len(set(keys))} file(s): the next run reads them again")


@deadletters_app.command("replay")
def replay(
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Only this reason or its family (wrong_type takes wrong_type:<field>)."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only dead letters recorded since this UTC day (YYYY-MM-DD)."),
    ] = None,
) -> None:
    """Re-read dead-lettered lines through today's rules: those that pass load once and their
    dead letters are marked replayed; the others stay. Running it again changes nothing."""
    # imported here for start-up time: the connector loads dlt
    from connectors.product_events import settings as S
    from connectors.product_events.replay import replay_dead_letters

    day = parse_date(since, "--since") if since is not None else None
    if reason is not None and reason.split(":", 1)[0] not in S.DEAD_LETTER_REASONS:
        raise UserInputError(
            f"--reason {reason!r} is not a dead-letter reason: one of {', '.join(S.DEAD_LETTER_REASONS)}"
        )
    settings = get_settings()
    pepper = settings.require_pepper()
    with warehouse_turn("deadletters replay") as warehouse, console.status("replaying dead letters"):
        pipeline = warehouse.dlt_pipeline(S.PIPELINE_NAME, S.DATASET)
        s = replay_dead_letters(
            pipeline,
            settings.landing_url,
            pepper,
            reason=reason,
            since=datetime.combine(day, time(0), UTC) if day is not None else None,
            max_file_bytes=settings.landing_max_file_mb * 2**20,
        )
    table = Table(title="dead letters replayed")
    table.add_column("dead letters")
    table.add_column("lines", justify="right")
    for label, n in (
        ("selected (not replayed before)", s.selected),
        ("replayed: loaded", s.loaded),
        ("replayed: duplicates dropped", s.duplicates_dropped),
        ("replayed: erased subjects dropped", s.erased_dropped),
        ("still failing a rule", s.still_dead),
        ("unrecoverable (masked, landing line gone or changed)", s.unrecoverable),
    ):
        table.add_row(label, f"{n:,}")
    console.print(table)
