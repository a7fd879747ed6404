"""A whole simulated StreamRide world: ad side, event side, ``world.json``; publishing it; reading it.

``generate_world`` is what ``roi simulate generate`` runs. Same arguments, same bytes: every
file the world holds is a pure function of (start, days, seed, scale, dirt). ``read_world`` and
``read_sim_env`` are how everything else (tests, benchmarks, the demo) reads a world's
``world.json`` and ``sim.env``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from simulator import incidents as inc
from simulator.ads import entity_changes, generate_ads
from simulator.entities import build_entities
from simulator.events import DirtRates, EventsConfig, generate_events
from simulator.events.config import TAIL_MS
from simulator.events.generate import PART_SIGNUPS
from simulator.events.publish import PublishResult, publish

__all__ = [
    "PublishResult",
    "credentials_by_source",
    "generate_world",
    "publish",
    "read_sim_env",
    "read_world",
]


def generate_world(
    out: Path,
    start: date,
    days: int,
    seed: int = 7,
    scale: float = 0.01,
    dirt: DirtRates | None = None,
    events_config: EventsConfig | None = None,
    show_progress: bool = True,
    part_signups: int = PART_SIGNUPS,
    incidents: bool | Sequence[inc.Incident] = False,
) -> None:
    """Write a world to ``out``: ``landing/``, ``landing_manifest.parquet``, ``truth/``, ``state/``, ``sim.env``,
    ``world.json``. ``dirt`` overrides the landing files' dirt rates (default: ``DirtRates()``);
    ``part_signups`` is the event side's slice size (sign-ups per slice of a day; lower only in tests).

    ``incidents``: ``True`` draws the world's incident schedule (:func:`simulator.incidents.schedule`),
    a list injects exactly those; either way ``truth/incidents.parquet`` labels them and
    ``world.json`` records them. ``False`` (default): no incidents, and no trace of them."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = events_config or EventsConfig()
    if dirt is not None:
        cfg = EventsConfig(dirt=dirt, promo=cfg.promo, mix=cfg.mix)
    chosen = _incidents(incidents, seed, start, days, scale)
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
        transient=False,
    ) as bar:
        ads_task = bar.add_task("ad platforms", total=1)
        generate_ads(out, start, days, seed, scale, incidents=chosen)
        bar.update(ads_task, completed=1)
        tasks: dict[str, TaskID] = {}

        def on_progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        counts = generate_events(
            out,
            start,
            days,
            seed,
            scale,
            cfg,
            progress=on_progress,
            part_signups=part_signups,
            incidents=chosen,
        )
    end = start + timedelta(days=days)
    start_dt = datetime(start.year, start.month, start.day, tzinfo=UTC)
    meta = {
        "start": start.isoformat(),
        "days": days,
        "seed": seed,
        "scale": scale,
        "end": end.isoformat(),
        "start_ts": start_dt.isoformat().replace("+00:00", "Z"),
        "end_ts": (start_dt + timedelta(days=days)).isoformat().replace("+00:00", "Z"),
        "landing_until_ts": (start_dt + timedelta(days=days, milliseconds=TAIL_MS))
        .isoformat()
        .replace("+00:00", "Z"),
        "events": counts,
    }
    if incidents is not False:  # a world without incidents keeps the world.json it always had
        inc.write_incidents(out / "truth" / "incidents.parquet", chosen)
        meta["incidents"] = {
            "mode": "scheduled" if incidents is True else "explicit",
            "count": len(chosen),
            "kinds": sorted({i.kind for i in chosen}),
        }
    (out / "world.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


def _incidents(
    incidents: bool | Sequence[inc.Incident], seed: int, start: date, days: int, scale: float
) -> tuple[inc.Incident, ...]:
    """The incidents to inject: none, the world's schedule, or the given list (ids must be unique)."""
    if incidents is False:
        return ()
    if incidents is True:
        ents = build_entities(seed, scale)
        return tuple(inc.schedule(seed, start, days, ents, entity_changes(ents, seed, start, days)))
    chosen = tuple(incidents)
    if len({i.incident_id for i in chosen}) != len(chosen):
        raise ValueError("incident ids must be unique")
    return chosen


def read_world(world: Path) -> dict[str, object]:
    """``world.json`` of a generated world (FileNotFoundError with a hint when it is not one)."""
    path = Path(world) / "world.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{world} is not a simulated world (no world.json): run `roi simulate generate`"
        )
    meta: dict[str, object] = json.loads(path.read_text())
    return meta


def read_sim_env(path: Path) -> dict[str, str]:
    """The variables a world's ``sim.env`` exports: what ``source sim.env`` would set.

    Only ``export KEY=VALUE`` lines count; values are unquoted as a shell would, and comments
    (the block markers) are skipped.
    """
    env: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) >= 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


def credentials_by_source(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """dlt-style ``SOURCES__<SOURCE>__<KEY>`` variables as ``{source: {key: value}}``, names lower-cased."""
    out: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        parts = name.split("__")
        if len(parts) == 3 and parts[0] == "SOURCES":
            out.setdefault(parts[1].lower(), {})[parts[2].lower()] = value
    return out
