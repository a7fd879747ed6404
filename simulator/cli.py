"""``roi simulate``: generate a world, serve its ad APIs, publish its landing files.

Wired into the ``roi`` CLI as a sub-app; also runnable alone (``python -m simulator.cli``).
Bad input (a malformed date, ``--days 0``, a folder that is not a world) is a one-line error
and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

# The simulator imports no pipeline code, so it sets the one opt-out its libraries read itself.
os.environ.setdefault("DO_NOT_TRACK", "1")

app = typer.Typer(
    name="simulate",
    help="The simulated StreamRide world: ad APIs, landing files and ground truth.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


# Worlds live in this century: a date far outside it is a typo (and 9999-12-31 or 0001-01-01
# overflow as soon as a day is added or a zone applied).
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)
MAX_DAYS = 3660


def _in_range(day: date, value: str, option: str) -> None:
    if not EARLIEST <= day <= LATEST:
        raise typer.BadParameter(f"{value!r} is out of range: use {EARLIEST} to {LATEST}", param_hint=option)


def _parse_date(value: str, option: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD", param_hint=option) from None
    _in_range(day, value, option)
    return day


def _parse_ts(value: str, option: str) -> datetime:
    """ISO-8601 timestamp or date; ``Z`` allowed; naive means UTC."""
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        _in_range(ts.date(), value, option)
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except (ValueError, OverflowError):
        raise typer.BadParameter(
            f"{value!r} is not a timestamp; use e.g. 2026-10-25T12:00:00Z", param_hint=option
        ) from None


def _fail(message: str) -> NoReturn:
    """Print ``error: <message>`` on one line (no wrapping, no traceback) and exit with code 2."""
    console.print(f"error: {message}".replace("\n", " "), highlight=False, soft_wrap=True, markup=False)
    raise typer.Exit(2)


def _is(check: Callable[[], bool], value: object, option: str) -> bool:
    """``check()`` of a path the user named; a path the OS refuses (too long, no access) is bad input."""
    try:
        return check()
    except OSError as exc:
        raise typer.BadParameter(f"{value}: {exc.strerror or exc}", param_hint=option) from None


def _world_dir(world: Path) -> Path:
    if not _is((world / "world.json").is_file, world, "--world"):
        raise typer.BadParameter(
            f"{world} is not a simulated world (no world.json); create one with `roi simulate generate`",
            param_hint="--world",
        )
    return world


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the world to (created).")],
    start: Annotated[str, typer.Option("--start", help="First UTC day, YYYY-MM-DD.")],
    days: Annotated[int, typer.Option("--days", help="Number of days (at least 1).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same bytes.")] = 7,
    scale: Annotated[
        float, typer.Option("--scale", help="1.0 = a StreamRide peak day (800K sign-ups).")
    ] = 0.01,
    incidents: Annotated[
        bool,
        typer.Option(
            "--incidents",
            help="Inject labelled incidents (about one a day after the first week; truth/incidents.parquet).",
        ),
    ] = False,
) -> None:
    """Write a simulated world: landing files + manifest, ad API state, sim.env and truth/."""
    start_date = _parse_date(start, "--start")
    if not 1 <= days <= MAX_DAYS:
        raise typer.BadParameter(f"must be 1 to {MAX_DAYS}, got {days}", param_hint="--days")
    _in_range(start_date + timedelta(days=days - 1), f"{start} + {days} days", "--days")
    if not 0 <= seed < 2**63:
        raise typer.BadParameter(f"must be 0 to 2**63 - 1, got {seed}", param_hint="--seed")
    if not 0 < scale <= 10:
        raise typer.BadParameter(f"must be in (0, 10], got {scale}", param_hint="--scale")
    if _is(out.exists, out, "--out") and not out.is_dir():
        raise typer.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    from simulator.world import generate_world  # imported on use: keeps `roi --help` fast

    generate_world(out, start_date, days, seed=seed, scale=scale, incidents=incidents)
    extra = ", with incidents (truth/incidents.parquet)" if incidents else ""
    console.print(f"world written to {out} ({start_date} + {days} days, seed {seed}, scale {scale}{extra})")


@app.command()
def serve(
    world: Annotated[Path, typer.Option("--world", help="A world folder made by `generate`.")],
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0 = any free port).")] = 8765,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Answer as the platforms would at this UTC time (default: world end)."),
    ] = None,
) -> None:
    """Serve every simulated ad API of a world on 127.0.0.1 until interrupted."""
    _world_dir(world)
    if not 0 <= port <= 65535:
        raise typer.BadParameter(f"must be 0-65535, got {port}", param_hint="--port")
    ts = _parse_ts(as_of, "--as-of") if as_of else None
    from simulator.server import run_server  # imported on use: keeps `roi --help` fast

    try:
        run_server(world, port, ts)
    except KeyboardInterrupt:
        console.print("stopped")
    except FileNotFoundError as exc:  # a world generated without its ad side (or a half-deleted one)
        _fail(f"{exc}")
    except OSError as exc:  # port in use, or not ours to bind
        reason = exc.strerror or str(exc)
        _fail(f"cannot listen on 127.0.0.1:{port}: {reason}; pick another --port (0 = any free port)")


@app.command()
def publish(
    world: Annotated[Path, typer.Option("--world", help="A world folder made by `generate`.")],
    to: Annotated[str, typer.Option("--to", help="Destination folder or s3://bucket/prefix.")],
    until: Annotated[str, typer.Option("--until", help="Copy the files that arrived by this UTC time.")],
) -> None:
    """Copy the landing files that have arrived by --until (idempotent: present files are skipped)."""
    _world_dir(world)
    ts = _parse_ts(until, "--until")
    if not to.startswith("s3://") and _is(Path(to).exists, to, "--to") and not Path(to).is_dir():
        raise typer.BadParameter(f"{to} exists and is not a folder", param_hint="--to")
    from simulator.world import publish as do_publish  # imported on use: keeps `roi --help` fast

    try:
        res = do_publish(world, to, ts)
    except Exception as exc:  # S3 errors (no bucket, bad credentials) are the user's to fix
        if type(exc).__module__.startswith(("botocore", "boto3")):
            _fail(f"cannot publish to {to}: {exc}")
        raise
    console.print(
        f"published {res.copied} new files to {to} ({res.skipped} already there, {res.pending} not arrived yet)"
    )


if __name__ == "__main__":
    app()
