"""Erasure in the DuckDB file itself: deleted and overwritten values live on in free blocks and
the WAL until DuckDB reuses them. After the rows are rewritten the flow checkpoints, scans the
file's bytes (and the WAL's, if any) for the identifiers, and when one is found rewrites the
whole database into a new file (``COPY FROM DATABASE``: only live rows are copied) that replaces
the old one in the same warehouse turn; then scans again (docs/privacy.md, "Erasure").

A byte scan finds what is stored uncompressed; DuckDB may also keep strings compressed (FSST,
dictionary) where a scan cannot see them, which is why a hit is not needed to rewrite: the
caller may force it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHUNK = 64 * 1024 * 1024
TMP_SUFFIX = ".erasure-rewrite"


def byte_hits(paths: list[Path], needles: list[bytes]) -> int:
    """How many of ``needles`` occur in the bytes of any of ``paths`` (read in chunks that overlap
    by the longest needle, so none is missed at a boundary)."""
    found: set[bytes] = set()
    overlap = max((len(n) for n in needles), default=1) - 1
    for path in paths:
        if not path.exists():
            continue
        with path.open("rb") as fh:
            tail = b""
            while chunk := fh.read(CHUNK):
                window = tail + chunk
                found.update(n for n in needles if n not in found and n in window)
                tail = window[-overlap:] if overlap else b""
    return len(found)


def files_of(path: Path) -> list[Path]:
    """The database file and its WAL."""
    return [path, path.with_name(path.name + ".wal")]


def rewrite_database(warehouse: Any) -> None:
    """Copy the live database into a new file and put it in place of the old one, in the caller's
    turn (the file is closed for the swap and opened again by the next query)."""
    path: Path = warehouse.duckdb_path
    tmp = path.with_name(path.name + TMP_SUFFIX)
    tmp.unlink(missing_ok=True)
    cur = warehouse.connection().cursor()
    try:
        cur.execute("checkpoint")
        name = cur.execute("select current_database()").fetchone()[0]
        cur.execute("attach ? as erasure_rewrite", [str(tmp)])
        try:
            cur.execute(f'copy from database "{name}" to erasure_rewrite')
        finally:
            cur.execute("detach erasure_rewrite")
    finally:
        cur.close()
    warehouse.close_file()
    os.replace(tmp, path)
    files_of(path)[1].unlink(missing_ok=True)


def erase_from_file(warehouse: Any, identifiers: list[str], force: bool = False) -> dict[str, int]:
    """Checkpoint, scan, rewrite when an identifier is found (or ``force``), scan again:
    ``duckdb.hits_before``, ``duckdb.rewritten`` (0/1), ``duckdb.hits_after``."""
    if warehouse.kind != "duckdb" or not identifiers:
        return {}
    cur = warehouse.connection().cursor()
    try:
        cur.execute("checkpoint")
    finally:
        cur.close()
    needles = [v.encode() for v in identifiers]
    before = byte_hits(files_of(warehouse.duckdb_path), needles)
    rewritten = force or before > 0
    if rewritten:
        rewrite_database(warehouse)
    after = byte_hits(files_of(warehouse.duckdb_path), needles) if rewritten else before
    return {"duckdb.hits_before": before, "duckdb.rewritten": int(rewritten), "duckdb.hits_after": after}
