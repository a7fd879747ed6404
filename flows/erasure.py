"""The erasure flow: every open request in ``audit.erasure_requests`` carried out (docs/privacy.md).

For one request, in warehouse turns (:func:`flows.locks.warehouse_step`):

1. **Resolve** the subject through the identity graph: the e-mail's or phone's rows give user
   ids; user ids are closed over ``raw_events.identity_map`` (merges in both directions); the
   users' rows give their anonymous ids, device ids and e-mail/phone hashes; the rows of those
   ids give click ids (``gclid``, ``fbclid``, ``ttclid``). A device or anonymous id named by the
   request gives the users seen on it. The resolved set is kept in the open request, so a run
   that dies half-way resumes with the same set. **Tombstones** of the resolved user, device
   and anonymous ids (and of the request's own e-mail or phone) go to
   ``raw_events.erased_subjects`` in the same turn: from then on no load, replay or backfill
   brings a line of the subject back (the connector's ingest filter).
2. **Pseudonymise**: in every base table of every schema (raw tables, dead letters, identity
   map, MMP touches, dlt staging copies, facts, attribution and its history, ops and audit
   tables), every text value that is or contains one of the identifiers is rewritten with a
   pseudonym, ``erased_`` + 32 hex of HMAC(tombstone key, request id | identifier). Rows are
   kept and one identifier always gets the same pseudonym, so joins still pair the same rows
   and no aggregate (mart, closes, adjustments) moves. The request is then completed with the
   counts per ``schema.table.column``, its ``lookup`` dropped.

Between the two turns the landing files holding a line of the subject are rewritten in place
with the same pseudonyms (:mod:`flows.erasure_landing`). dlt working folders and the free blocks
are not handled yet (docs/privacy.md says so). Last, the DuckDB file is checkpointed and its
bytes scanned for the identifiers; when one is found the database is rewritten into a new file
(:mod:`flows.erasure_file`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from connectors.product_events import pii
from connectors.product_events import warehouse as events_warehouse
from flows.erasure_file import erase_from_file
from flows.erasure_landing import rewrite_landing
from flows.erasure_requests import Request, complete, open_requests, set_counts
from flows.locks import warehouse_step
from flows.monitor import alert_failed_run
from roi.core.runs import record_run
from roi.core.settings import get_settings

ERASED_TABLE = "raw_events.erased_subjects"
# Tables that hold tombstone-key hashes only, by design: never rewritten.
KEPT = {("raw_events", "erased_subjects"), ("audit", "erasure_requests")}
USER_COLUMNS = ("user_id", "from_user_id", "to_user_id", "canonical_user_id")
CLICK_COLUMNS = ("gclid", "fbclid", "ttclid")
# The id types a tombstone is written for (the connector's ingest filter matches them).
TOMBSTONED = ("user_id", "anonymous_id", "device_id")
# Shorter values are not looked for inside longer text (a short id could hit unrelated text);
# they are still replaced where a whole value equals them.
MIN_EMBEDDED = 8


class Resolved:
    """Every identifier of one subject, by type. (A plain class: deployments load this module
    by path, where a dataclass's string annotations cannot be resolved.)"""

    def __init__(self, ids: dict[str, set[str]] | None = None) -> None:
        self.ids: dict[str, set[str]] = ids if ids is not None else {}

    def add(self, kind: str, values: Any) -> None:
        """Add the non-empty ``values`` to ``kind``."""
        self.ids.setdefault(kind, set()).update(str(v) for v in values if v is not None and str(v) != "")

    def get(self, kind: str) -> list[str]:
        """The sorted identifiers of ``kind``."""
        return sorted(self.ids.get(kind, set()))

    def all_values(self) -> list[str]:
        """Every identifier, longest first (a replacement never cuts a longer one)."""
        return sorted({v for vs in self.ids.values() for v in vs}, key=lambda v: (-len(v), v))

    def as_json(self) -> dict[str, list[str]]:
        """The set, as the request's ``lookup`` keeps it."""
        return {k: sorted(v) for k, v in self.ids.items()}


def _distinct(cur: Any, sql: str, params: list[Any]) -> list[str]:
    return [r[0] for r in cur.execute(sql, params).fetchall() if r[0] is not None]


def _has_table(cur: Any, schema: str, table: str) -> bool:
    row = cur.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _users_of(cur: Any, r: Resolved) -> None:
    """The users named on the rows of the seed e-mail/phone hashes, device and anonymous ids."""
    for col in ("email_hash", "phone_hash", "device_id", "anonymous_id"):
        values = r.get(col)
        if values:
            sql = (
                f"select distinct user_id from raw_events.events where {col} in (select unnest(?::varchar[]))"
            )
            r.add("user_id", _distinct(cur, sql, [values]))


def _close_users(cur: Any, r: Resolved) -> None:
    """Every user merged into or from one of ``r``'s users (the merge graph's component)."""
    if not _has_table(cur, "raw_events", "identity_map"):
        return
    cond = " or ".join(
        f"{c} in (select unnest(?::varchar[]))" for c in ("from_user_id", "to_user_id", "canonical_user_id")
    )
    while True:
        users = r.get("user_id")
        rows = cur.execute(
            f"select from_user_id, to_user_id, canonical_user_id from raw_events.identity_map where {cond}",
            [users] * 3,
        ).fetchall()
        r.add("user_id", [v for row in rows for v in row])
        if len(r.get("user_id")) == len(users):
            return


def _ids_of_users(cur: Any, r: Resolved) -> None:
    """The users' anonymous ids, device ids and e-mail/phone hashes, then the click ids of all."""
    users = r.get("user_id")
    for col in ("anonymous_id", "device_id", "email_hash", "phone_hash"):
        sql = f"select distinct {col} from raw_events.events where user_id in (select unnest(?::varchar[]))"
        r.add(col, _distinct(cur, sql, [users]))
    params = [users, r.get("anonymous_id"), r.get("device_id")]
    where = (
        "user_id in (select unnest(?::varchar[])) or anonymous_id in (select unnest(?::varchar[])) "
        "or device_id in (select unnest(?::varchar[]))"
    )
    for col in CLICK_COLUMNS:
        r.add(
            "click_id", _distinct(cur, f"select distinct {col} from raw_events.events where {where}", params)
        )


def resolve(cur: Any, lookup: dict[str, Any]) -> Resolved:
    """Every identifier of the subject a request's ``lookup`` names (see the module docstring)."""
    r = Resolved()
    for kind in ("user_id", "device_id", "anonymous_id", "email_hash", "phone_hash"):
        r.add(kind, lookup.get(kind, []))
    if not _has_table(cur, "raw_events", "events"):
        return r
    _users_of(cur, r)
    _close_users(cur, r)
    _ids_of_users(cur, r)
    return r


def tombstone_rows(
    r: Resolved, request: Request, key: bytes, key_id: str, at: datetime
) -> list[tuple[str, str, datetime, str, str]]:
    """``erased_subjects`` rows: each resolved user, device and anonymous id hashed under the
    tombstone key, and the request's own e-mail or phone tombstone (its canonical form's hash)."""
    rows = {(kind, pii.hmac_one(key, v)) for kind in TOMBSTONED for v in r.get(kind)}
    rows |= {(str(k), str(h)) for k, h in request.lookup.get("tombstones", [])}
    return [(kind, h, at, request.request_id, key_id) for kind, h in sorted(rows)]


def write_tombstones(cur: Any, rows: list[tuple[str, str, datetime, str, str]]) -> None:
    """Add ``rows`` to ``raw_events.erased_subjects`` (created if missing), skipping those present."""
    cur.execute("create schema if not exists raw_events")
    cur.execute(events_warehouse.ERASED_DDL.format(table=ERASED_TABLE))
    cur.execute(events_warehouse.ERASED_KEY_ID.format(table=ERASED_TABLE))
    for row in rows:
        cur.execute(
            f"insert into {ERASED_TABLE} (subject_type, subject_id, erased_at, request_id, key_id) "
            f"select ?, ?, ?, ?, ? where not exists (select 1 from {ERASED_TABLE} "
            "where subject_type = ? and subject_id = ? and key_id = ?)",
            [*row, row[0], row[1], row[4]],
        )


def pseudonym(key: bytes, request_id: str, value: str) -> str:
    """The value every occurrence of ``value`` becomes: not reversible without the tombstone key,
    the same for one identifier throughout a request (joins keep pairing the same rows)."""
    return "erased_" + pii.hmac_one(key, f"pseudonym|{request_id}|{value}")[:32]


def text_columns(cur: Any) -> list[tuple[str, str, str]]:
    """``(schema, table, column)`` of every text column of every base table, but :data:`KEPT`."""
    rows = cur.execute(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t on t.table_catalog = c.table_catalog "
        "and t.table_schema = c.table_schema and t.table_name = c.table_name "
        "where t.table_type = 'BASE TABLE' and c.data_type = 'VARCHAR' and c.table_catalog = current_database() "
        "order by 1, 2, 3"
    ).fetchall()
    return [(s, t, c) for s, t, c in rows if (s, t) not in KEPT]


def _rewrite_column(cur: Any, target: tuple[str, str, str], mapping: list[tuple[str, str]]) -> int:
    """Replace every identifier of ``mapping`` in one column, whole or embedded; rows changed."""
    schema, table, column = target
    col = f'"{column}"'
    expr, params = col, []
    for value, pseudo in mapping:
        expr = f"replace({expr}, ?, ?)"
        params += [value, pseudo]
    whole = f"{col} in (select unnest(?::varchar[]))"
    embedded = [v for v, _ in mapping if len(v) >= MIN_EMBEDDED]
    where = whole + "".join(f" or contains({col}, ?)" for _ in embedded)
    sql = f'update "{schema}"."{table}" set {col} = {expr} where {where}'
    row = cur.execute(sql, [*params, [v for v, _ in mapping], *embedded]).fetchone()
    return int(row[0]) if row else 0


def pseudonyms(r: Resolved, key: bytes, request_id: str) -> dict[str, str]:
    """Each identifier's pseudonym, longest identifier first (a replacement never cuts a longer one)."""
    return {v: pseudonym(key, request_id, v) for v in r.all_values()}


def pseudonymise(cur: Any, mapping: dict[str, str]) -> dict[str, int]:
    """Rewrite the subject's identifiers in every table (see the module docstring); rows changed
    per ``schema.table.column`` (only those with changes)."""
    if not mapping:
        return {}
    pairs = list(mapping.items())
    counts = {}
    for target in text_columns(cur):
        n = _rewrite_column(cur, target, pairs)
        if n:
            counts[".".join(target)] = n
    return counts


def _resolve_step(request: Request, key: bytes, key_id: str, now: datetime) -> Resolved:
    """Turn 1: resolve (or take the set a previous run resolved) and write the tombstones."""
    with warehouse_step(f"erasure {request.request_id}: resolve") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            if "resolved" in request.lookup:
                resolved = Resolved({k: set(v) for k, v in request.lookup["resolved"].items()})
            else:
                resolved = resolve(cur, request.lookup)
                lookup = {**request.lookup, "resolved": resolved.as_json()}
                cur.execute(
                    "update audit.erasure_requests set lookup = ?, started_at = ?, status = 'running' "
                    "where request_id = ?",
                    [json.dumps(lookup), now, request.request_id],
                )
            write_tombstones(cur, tombstone_rows(resolved, request, key, key_id, now))
        finally:
            cur.close()
    return resolved


def erase_request(request: Request, now: datetime) -> dict[str, int]:
    """Carry out one request (both turns); the counts it recorded."""
    settings = get_settings()
    key, key_id = settings.require_tombstone_key()
    resolved = _resolve_step(request, key, key_id, now)
    mapping = pseudonyms(resolved, key, request.request_id)
    # files only: no warehouse turn held while the landing files are rewritten
    landing = rewrite_landing(settings.landing_url, mapping)
    with warehouse_step(f"erasure {request.request_id}: pseudonymise") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            counts = {**pseudonymise(cur, mapping), **landing, "identifiers": len(mapping)}
            # completes first: the lookup it drops must be gone before the file is scanned
            complete(cur, request.request_id, now, counts)
        finally:
            cur.close()
        file_counts = erase_from_file(warehouse, list(mapping))
        if file_counts:
            counts.update(file_counts)
            cur = warehouse.connection().cursor()
            try:
                set_counts(cur, request.request_id, counts)
                cur.execute("checkpoint")
            finally:
                cur.close()
    return counts


def run_erasures(now: datetime, request_id: str | None = None) -> dict[str, dict[str, int]]:
    """Every open request (or the one named), oldest first: ``request_id -> counts``."""
    with warehouse_step("erasure: open requests") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            requests = open_requests(cur, request_id)
        finally:
            cur.close()
    return {req.request_id: erase_request(req, now) for req in requests}


@flow(name="erasure", log_prints=True, on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def erasure(request_id: str | None = None, logical_time: datetime | None = None) -> str:
    """Hourly (deployment ``erasure``): carry out every open erasure request, or the one named.

    ``logical_time`` (default: the run's scheduled time) is the completion time recorded."""
    scheduled = flow_run.scheduled_start_time
    now = logical_time or (scheduled if scheduled is not None else datetime.now(UTC))
    with record_run("erasure", now, now) as run:
        done = run_erasures(now, request_id)
        run.row_counts = {rid: counts.get("identifiers", 0) for rid, counts in done.items()}
    return f"{len(done)} erasure request(s) completed"
