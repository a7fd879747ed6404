"""The logic of a batch, on frames alone: erasure, dedupe, routing, identity rows, dead letters
and the manifest. Nothing here reads or writes the warehouse: what the warehouse holds comes in
as frames (:mod:`connectors.product_events.warehouse` reads it).

Row decisions are made on a narrow frame of the batch's key columns (``_row``, ``event_id``,
``event_type``, ``event_date`` and :data:`~connectors.product_events.settings.DEDUPE_ORDER`),
and answered as ``_file_key, _row`` frames, so the wide batch is filtered once, by
:func:`keep_rows` (each filter of it copies every column).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import polars as pl

from connectors.product_events import identity, pii, tables
from connectors.product_events import settings as S

ROWS_SCHEMA = pl.Schema({"_file_key": pl.String, "_row": pl.Int64})
# identity_map as read back to re-resolve the map with a batch's merges
IDENTITY_SCHEMA = pl.Schema({**identity.EDGE_SCHEMA, "canonical_user_id": pl.String()})
IDENTITY_COLUMNS = tuple(IDENTITY_SCHEMA)


@dataclass
class IngestSummary:
    """What one ``load_events`` call did (sums over its batches)."""

    files_listed: int = 0
    files_loaded: int = 0
    batches: int = 0
    lines_read: int = 0
    loaded: int = 0
    duplicates_dropped: int = 0
    dead_letters: int = 0
    erased_dropped: int = 0
    replaced_earlier: int = 0
    # files put in quarantine by this call, and their lines where known (counted in lines_read:
    # lines_read = loaded + duplicates_dropped + dead_letters + erased_dropped + quarantined)
    files_quarantined: int = 0
    quarantined: int = 0
    quarantined_files: list[str] = field(default_factory=list)
    new_columns: list[str] = field(default_factory=list)
    load_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, manifest: pl.DataFrame) -> None:
        """Add one batch's manifest rows to the totals."""
        self.batches += 1
        self.files_loaded += manifest.height
        for c in S.MANIFEST_COUNTS:
            setattr(self, c, getattr(self, c) + int(manifest[c].sum()))

    def add_quarantined(self, rows: pl.DataFrame) -> None:
        """Add files put in quarantine (``file_key, lines_read``; lines null when unknown)."""
        lines = int(rows["lines_read"].fill_null(0).sum())
        self.files_quarantined += rows.height
        self.quarantined += lines
        self.lines_read += lines
        self.quarantined_files += rows["file_key"].to_list()


def safe_error(exc: BaseException) -> str:
    """What went wrong, for a table or a log: the exception's type and first line, without the
    values it may quote (quoted or bracketed text, emails, phone numbers), at most 200 characters."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    first = re.sub(r"'[^']*'?|\"[^\"]*\"?|`[^`]*`?", "'…'", first)
    first = re.sub(r"\[[^\]]*\]?|\{[^}]*\}?", "[…]", first)
    first = re.sub(pii.PHONE_RE, "[phone]", re.sub(pii.EMAIL_RE, "[email]", first))
    return f"{type(exc).__name__}: {first}"[:200] if first else type(exc).__name__


@dataclass
class BatchResult:
    """Tables of one batch, ready for dlt, plus its manifest rows."""

    tables: dict[str, pl.DataFrame]
    manifest: pl.DataFrame
    new_columns: list[str]
    # event tables whose rows may replace rows already loaded: merged on ``event_id``, the
    # others appended (see ``connectors.product_events.batch_resources``)
    key_merge: set[str] = field(default_factory=lambda: set(tables.EVENT_TABLES))
    # False for a dead-letter replay: its lines' files are done already
    write_manifest: bool = True


# -- erasure ------------------------------------------------------------------------------------


def _plain(erased: pl.DataFrame) -> pl.DataFrame:
    """The tombstones holding an id in clear (written before keyed tombstones; no ``key_id``)."""
    return erased.filter(pl.col("key_id").is_null()) if "key_id" in erased.columns else erased


def expand_erased_users(subjects: pl.DataFrame, links: pl.DataFrame | None) -> pl.DataFrame:
    """``subjects`` (``subject_type, subject_id``) plus every user merged into or from an erased
    user, by ``links`` (``from_user_id, canonical_user_id`` of the identity map, if any). Keyed
    tombstones need no expansion: the erasure flow tombstones every id it resolved."""
    users = _plain(subjects).filter(pl.col("subject_type") == "user_id")["subject_id"]
    if users.len() == 0 or links is None:
        return subjects
    linked = links.filter(
        pl.col("canonical_user_id").is_in(users.implode()) | pl.col("from_user_id").is_in(users.implode())
    )
    more = pl.concat([linked["from_user_id"], linked["canonical_user_id"]]).unique()
    extra = pl.DataFrame(
        {"subject_type": "user_id", "subject_id": more}, schema_overrides={"subject_id": pl.String}
    )
    return pl.concat([subjects, extra], how="diagonal").unique()


def erased_mask(valid: pl.DataFrame, erased: pl.DataFrame) -> pl.Expr:
    """True for the rows of ``valid`` that carry an erased subject (a tombstone in clear) in a
    column it matches."""
    conds = []
    plain = _plain(erased)
    for stype, cols in S.ERASURE_MATCH.items():
        ids = plain.filter(pl.col("subject_type") == stype)["subject_id"]
        if ids.len() == 0:
            continue
        for c in cols:
            if c in valid.columns:
                conds.append(pl.col(c).is_in(ids.implode()).fill_null(False))
    return pl.any_horizontal(conds) if conds else pl.lit(False)


def _keyed(erased: pl.DataFrame, key_id: str, stype: str) -> pl.Series:
    """The hashes of the keyed tombstones of ``stype`` made under ``key_id``."""
    if "key_id" not in erased.columns:
        return pl.Series("subject_id", [], dtype=pl.String)
    return erased.filter((pl.col("key_id") == key_id) & (pl.col("subject_type") == stype))["subject_id"]


def has_keyed(erased: pl.DataFrame) -> bool:
    """Whether any tombstone is keyed (matching it needs the tombstone key)."""
    return "key_id" in erased.columns and bool(erased["key_id"].is_not_null().any())


def keyed_erased_ids(valid: pl.DataFrame, erased: pl.DataFrame, key: bytes, key_id: str) -> pl.Series:
    """True for the rows of ``valid`` with an id (user, device, anonymous) whose hash under the
    tombstone ``key`` is a keyed tombstone. Hashes distinct values only, and only the columns
    of id types that have tombstones."""
    out = pl.Series("erased", [False] * valid.height, dtype=pl.Boolean)
    for stype, cols in S.ERASURE_MATCH.items():
        hashes = _keyed(erased, key_id, stype)
        if hashes.len() == 0:
            continue
        for c in cols:
            if c in valid.columns:
                hit = pii.hmac_hex(key, valid[c].cast(pl.String)).is_in(hashes.implode()).fill_null(False)
                out = out | hit
    return out


def keyed_erased_pii(parsed: pl.DataFrame, erased: pl.DataFrame, key: bytes, key_id: str) -> pl.Series:
    """True for the rows of ``parsed`` (before hashing: ``email``, ``phone``, ``country`` in clear)
    whose e-mail or phone, canonical and hashed under the tombstone ``key``, is a keyed tombstone.
    Tombstones of e-mails and phones are made from their canonical form, not from the pepper's
    hash, so a pepper rotation does not disarm them."""
    emails, phones = _keyed(erased, key_id, "email"), _keyed(erased, key_id, "phone")
    cols = [c for c in ("email", "phone", "country") if c in parsed.columns]
    if (emails.len() == 0 and phones.len() == 0) or not {"email", "phone"} & set(cols):
        return pl.Series("erased", [False] * parsed.height, dtype=pl.Boolean)
    hashed = pii.hash_pii(parsed.select(cols), key)
    return (
        hashed["email_hash"].is_in(emails.implode()).fill_null(False)
        | hashed["phone_hash"].is_in(phones.implode()).fill_null(False)
    ).rename("erased")


# -- dedupe -------------------------------------------------------------------------------------


def with_row_ids(valid: pl.DataFrame) -> pl.DataFrame:
    """``valid`` with ``event_date`` (UTC date of ``event_ts``) and ``_row``, its row number."""
    return valid.with_columns(
        event_date=pl.col("event_ts").dt.date(), _row=pl.int_range(pl.len(), dtype=pl.Int64)
    )


def key_columns(valid: pl.DataFrame) -> pl.DataFrame:
    """The narrow frame the row decisions are made on."""
    return valid.select("_row", "event_id", "event_type", "event_date", *S.DEDUPE_ORDER)


def batch_duplicates(keys: pl.DataFrame) -> pl.DataFrame:
    """Rows (``_file_key, _row``) that lose to another copy of their ``event_id`` in the batch:
    the lowest (``received_at``, file key, line) wins. Only the duplicated ids are sorted."""
    dupes = keys.filter(pl.col("event_id").is_duplicated())
    if dupes.height == 0:
        return pl.DataFrame(schema=ROWS_SCHEMA)
    dupes = dupes.sort(["event_id", *S.DEDUPE_ORDER])
    return dupes.filter(~pl.col("event_id").is_first_distinct()).select("_file_key", "_row")


def _loaded_sorts_first() -> pl.Expr:
    """The loaded copy (``<column>_ex``) sorts before the incoming one on the dedupe order."""
    r, f, n = (pl.col(c) for c in S.DEDUPE_ORDER)
    re, fe, ne = (pl.col(f"{c}_ex") for c in S.DEDUPE_ORDER)
    return (re < r) | ((re == r) & (fe < f)) | ((re == r) & (fe == f) & (ne < n))


@dataclass
class LoadedVerdict:
    """Incoming rows (``_file_key, _row``) that have a copy already loaded, by outcome."""

    losing: pl.DataFrame  # the loaded copy wins: the incoming one is dropped
    same: pl.DataFrame  # the loaded copy is this very line (a redo after a crash): counted as loaded
    replacing: pl.DataFrame  # the incoming copy wins: it replaces the loaded one through the merge


def compare_with_loaded(incoming: pl.DataFrame, loaded: pl.DataFrame) -> LoadedVerdict:
    """Judge incoming key rows against the loaded copies of their ids (``event_id`` and the
    dedupe order columns, as ``warehouse.loaded_copies`` returns them)."""
    cmp = incoming.select("event_id", "_row", *S.DEDUPE_ORDER).join(loaded, on="event_id", suffix="_ex")
    same = pl.all_horizontal([pl.col(c) == pl.col(f"{c}_ex") for c in S.DEDUPE_ORDER])
    return LoadedVerdict(
        losing=cmp.filter(~same & _loaded_sorts_first()).select("_file_key", "_row"),
        same=cmp.filter(same).select("_file_key", "_row"),
        replacing=cmp.filter(~same & ~_loaded_sorts_first()).select("_file_key", "_row"),
    )


def merge_verdicts(verdicts: list[LoadedVerdict]) -> LoadedVerdict:
    """One verdict for the batch out of its tables' verdicts."""
    empty = pl.DataFrame(schema=ROWS_SCHEMA)

    def cat(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(frames) if frames else empty

    return LoadedVerdict(
        losing=cat([v.losing for v in verdicts]),
        same=cat([v.same for v in verdicts]),
        replacing=cat([v.replacing for v in verdicts]),
    )


def keep_rows(valid: pl.DataFrame, skipped: list[pl.DataFrame]) -> pl.DataFrame:
    """``valid`` without the ``skipped`` rows (frames of ``_row``): its one filter."""
    skip = pl.concat([s["_row"] for s in skipped])
    if skip.len():
        return valid.filter(~pl.col("_row").is_in(skip.implode()))
    return valid


# -- tables ---------------------------------------------------------------------------------------


def route_rows(valid: pl.DataFrame, extras: list[str]) -> dict[str, pl.DataFrame]:
    """Split valid rows into the events, mmp_touches and skan_postbacks tables (contract columns,
    then the new fields that carry a value in that table's rows, then lineage)."""
    out: dict[str, pl.DataFrame] = {}
    for table in tables.EVENT_TABLES:
        part = valid.filter(pl.col("event_type").is_in(event_types_of(table)))
        if part.height == 0:
            continue
        ex = [e for e in extras if e in part.columns and part[e].null_count() < part.height]
        out[table] = tables.conform(
            table, part.select([*tables.SCHEMAS[table].keys() & set(part.columns), *ex])
        )
    return out


def event_types_of(table: str) -> list[str]:
    """The event types that land in ``table``."""
    return [t for t, tb in S.TABLE_OF_TYPE.items() if tb == table]


def identity_rows(merges: pl.DataFrame, existing: pl.DataFrame | None) -> pl.DataFrame:
    """The ``identity_map`` rows to (re)write: ``merges`` (``user_merged`` rows) resolved with the
    map already loaded (``existing``, :data:`IDENTITY_COLUMNS`; None before the first merge)."""
    new = merges.select("from_user_id", "to_user_id", pl.col("event_ts").alias("merged_at"), "event_id").cast(
        identity.EDGE_SCHEMA
    )
    loaded = pl.DataFrame(schema=IDENTITY_SCHEMA) if existing is None else existing.cast(IDENTITY_SCHEMA)
    resolved = identity.resolve(pl.concat([loaded.select(list(identity.EDGE_SCHEMA)), new]))
    return tables.conform(S.T_IDENTITY, identity.changed_rows(loaded, resolved))


def dead_letter_rows(dead: pl.DataFrame, pepper: bytes) -> pl.DataFrame:
    """``dead_letters`` rows from the parser's dead lines: PII masked in the raw text, decoded
    (:func:`pii.mask_lines`; reasons name a rule and a field, never a value); ``line_hash``, the
    HMAC of the raw line, lets a replay know the landing line it reads again is this one."""
    masked = dead.with_columns(
        line=pii.mask_lines(dead["line"]), line_hash=pii.hmac_hex(pepper, dead["line"])
    )
    return tables.conform(S.T_DEAD, masked.rename({"_file_key": "file_key", "_line_no": "line_no"}))


# -- manifest -------------------------------------------------------------------------------------


def manifest_rows(
    files: pl.DataFrame,
    lines_read: pl.DataFrame,
    fates: Mapping[str, pl.DataFrame],
    truncated: Collection[str] = (),
) -> pl.DataFrame:
    """One ``landing_manifest`` row per file of the batch: its listing (``files``), lines read
    (``lines_read``: ``_file_key, lines_read``), and per count of ``settings.MANIFEST_COUNTS``
    the lines it counts (``fates[count]``: one ``_file_key`` row per line); 0 where none.
    ``truncated`` is false for every file since truncated files are quarantined, never loaded
    in part (the column stays for the rows written before)."""
    man = files.select("file_key", "file_url", "size_bytes", pl.col("modified_at").cast(tables.TS))
    parts = [lines_read.with_columns(pl.col("lines_read").cast(pl.Int64))]
    parts += [df.group_by("_file_key").agg(pl.len().cast(pl.Int64).alias(name)) for name, df in fates.items()]
    for p in parts:
        man = man.join(p.rename({"_file_key": "file_key"}), on="file_key", how="left")
    man = man.with_columns([pl.col(c).fill_null(0) for c in S.MANIFEST_COUNTS]).with_columns(
        truncated=pl.col("file_key").is_in(list(truncated))
    )
    return tables.conform(S.T_MANIFEST, man)
