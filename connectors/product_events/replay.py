"""Dead letters replayed through today's rules (``roi deadletters replay``), idempotently.

A dead letter keeps its line with PII masked (``pii.mask_lines``: values of personal keys
whatever their spelling, e-mail, phone and IP-looking text, escapes decoded); plaintext never reaches the
warehouse. So the line replayed is:

- the stored line itself when masking changed nothing (it holds no mask): exact;
- otherwise the landing file's line at (``file_key``, ``line_no``), read again, if it is the
  line dead-lettered: its HMAC is the stored ``line_hash`` (dead letters from before the hash:
  masking it gives the stored line);
- otherwise none: the masked values cannot be restored (the file is gone or changed), and the
  dead letter stays, counted as ``unrecoverable``.

The lines go through the same transform as a load (parse and rules, PII hashing, erasure,
dedupe by ``event_id`` against what is loaded, routing, identity): a line that now passes is
loaded once, and its dead letter is marked ``replayed_at`` in the same dlt package (never
deleted); one that still fails stays as it was. A second replay selects only dead letters not
replayed, which fail again and write nothing; a replay killed midway is completed by the next
(the lines it loaded count as loaded, not written twice). The files' manifest rows are not
rewritten: they tell what happened when the files were loaded.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from connector_sdk.land import finish_pending_loads
from connectors.product_events import (
    configure_pipeline,
    erased_subjects,
    load_batch,
    pii,
    tables,
    transform_batch,
    warehouse,
)
from connectors.product_events import settings as S
from connectors.product_events.discovery import LISTING_SCHEMA, FileReader, Unreadable
from connectors.product_events.parse import FileLines, LineParser

# Lines per replay package (a day of dead letters is far fewer).
REPLAY_CHUNK_LINES = 200_000
_DEAD_KEYS = ["file_key", "line_no"]


@dataclass
class ReplaySummary:
    """What one replay did: of the dead letters ``selected``, those ``replayed`` (now valid:
    ``loaded``, ``duplicates_dropped`` or ``erased_dropped``), ``still_dead`` and
    ``unrecoverable`` (masked, and their landing line is gone or changed)."""

    selected: int = 0
    replayed: int = 0
    loaded: int = 0
    duplicates_dropped: int = 0
    erased_dropped: int = 0
    still_dead: int = 0
    unrecoverable: int = 0
    load_ids: list[str] = field(default_factory=list)


def replay_dead_letters(
    pipeline: Any,
    landing_url: str,
    pepper: bytes,
    *,
    reason: str | None = None,
    since: datetime | None = None,
    max_file_bytes: int = S.DEFAULT_MAX_FILE_BYTES,
) -> ReplaySummary:
    """Replay the dead letters not replayed yet (of ``reason``'s family, recorded since
    ``since``, when given) through today's rules; see the module docstring."""
    configure_pipeline(pipeline)
    warehouse.ensure_side_tables(pipeline)
    finish_pending_loads(pipeline)
    with pipeline.sql_client() as client:
        dead = warehouse.dead_letters_to_replay(client, reason, since)
    summary = ReplaySummary(selected=dead.height)
    if dead.height == 0:
        return summary
    erased = erased_subjects(pipeline)
    with LineParser() as parser:
        for part in _chunks(dead, REPLAY_CHUNK_LINES):
            lines, lost = recover_lines(part, landing_url, max_file_bytes, pepper)
            summary.unrecoverable += lost
            if lines.height:
                _replay_chunk(pipeline, lines, pepper, erased, parser, summary)
            gc.collect()
    return summary


def _chunks(dead: pl.DataFrame, max_lines: int) -> Iterator[pl.DataFrame]:
    """``dead`` (sorted by file) in parts of whole files, about ``max_lines`` lines each."""
    start = 0
    ends = dead.with_row_index("_i").group_by("file_key", maintain_order=True).agg(pl.col("_i").max())
    for end in ends["_i"].to_list():
        if end + 1 - start >= max_lines:
            yield dead.slice(start, end + 1 - start)
            start = end + 1
    if start < dead.height:
        yield dead.slice(start)


def recover_lines(
    dead: pl.DataFrame, landing_url: str, max_file_bytes: int, pepper: bytes
) -> tuple[pl.DataFrame, int]:
    """The raw lines of ``dead`` (its rows with ``raw``), and how many cannot be recovered:
    stored lines without a mask as they are; masked ones from their landing file, when that
    line is the one dead-lettered (its HMAC is the stored ``line_hash``; for dead letters from
    before the hash, masking it gives the stored line)."""
    masked = dead.select(pii.maybe_masked(pl.col("line"))).to_series()
    plain = dead.filter(~masked).with_columns(raw=pl.col("line"))
    todo = dead.filter(masked)
    if todo.height == 0:
        return plain, 0
    read = FileReader(landing_url, max_file_bytes).opener()
    found = []
    for (key,), rows in todo.group_by("file_key", maintain_order=True):
        text = _landing_lines(read, str(key), rows["line_no"])
        if text is not None:
            found.append(rows.with_columns(raw=text))
    if not found:
        return plain, todo.height
    again = pl.concat(found).filter(pl.col("raw").is_not_null())
    again = again.with_columns(_h=pii.hmac_hex(pepper, again["raw"])).filter(
        pl.when(pl.col("line_hash").is_not_null())
        .then(pl.col("_h") == pl.col("line_hash"))
        .otherwise(pii.mask_lines(again["raw"]) == pl.col("line"))
    )
    return pl.concat([plain, again.drop("_h")]), todo.height - again.height


def _landing_lines(read: Any, key: str, line_no: pl.Series) -> pl.Series | None:
    """Lines ``line_no`` of landing file ``key`` without their line ends (null past its end);
    None when it cannot be read."""
    try:
        got = read(key)
    except FileNotFoundError:
        return None
    if isinstance(got, Unreadable):
        return None
    lines = pl.Series("raw", got.lines, dtype=pl.String)
    at = (
        (line_no.cast(pl.Int64) - 1)
        .to_frame("i")
        .select(pl.when(pl.col("i") < lines.len()).then(pl.col("i")))["i"]
    )
    return lines.gather(at).str.strip_chars_end("\r\n")


def _replay_chunk(
    pipeline: Any,
    lines: pl.DataFrame,
    pepper: bytes,
    erased: pl.DataFrame,
    parser: LineParser,
    summary: ReplaySummary,
) -> None:
    """Transform recovered lines as a batch of their files; load those that pass with their
    dead letters marked replayed, in one package."""
    files = [
        FileLines(
            str(key),
            pa.array((rows["raw"] + "\n").to_list(), pa.string()),
            pa.array(rows["line_no"].to_list(), pa.int32()),
        )
        for (key,), rows in lines.group_by("file_key", maintain_order=True)
    ]
    listing = pl.DataFrame({"file_key": [f.file_key for f in files]}).with_columns(
        [pl.lit(None, t).alias(c) for c, t in LISTING_SCHEMA.items() if c != "file_key"]
    )
    result = transform_batch(pipeline, listing, files, pepper, erased, parser)
    still = result.tables.pop(S.T_DEAD, pl.DataFrame(schema={"file_key": pl.String, "line_no": pl.Int32}))
    passed = lines.join(still.select(_DEAD_KEYS), on=_DEAD_KEYS, how="anti")
    summary.still_dead += lines.height - passed.height
    if passed.height == 0:
        return
    result.tables[S.T_DEAD] = tables.conform(
        S.T_DEAD, passed.drop("raw").with_columns(replayed_at=pl.lit(datetime.now(UTC)))
    )
    result.write_manifest = False
    summary.load_ids.append(load_batch(pipeline, result))
    summary.replayed += passed.height
    for c in ("loaded", "duplicates_dropped", "erased_dropped"):
        setattr(summary, c, getattr(summary, c) + int(result.manifest[c].sum()))
