"""Erasure requests: ``audit.erasure_requests``, one row per request (docs/privacy.md, "Erasure").

A request names one subject by an e-mail, a phone (with the country its national form is read
in), a user id or a device id. The table never holds the plaintext: ``subject_hash`` is the
identifier's HMAC under the tombstone key (``ROI_TOMBSTONE_KEY``, its ``key_id`` beside it).
While the request is open, ``lookup`` holds what the flow needs to find the subject's rows:
the e-mail's or phone's hashes under the pepper (``pii.subject_hashes``) or the id itself,
i.e. what the subject's rows hold anyway; the flow clears it when the request completes, so a
completed request keeps only tombstone-key hashes and counts.

``requested_at`` (when the request was received; the monitoring's ``erasure_overdue`` rule reads
it with ``completed_at``), ``due_at`` = received + 72 h.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.product_events import pii
from roi.core.errors import UserInputError

DUE_AFTER = timedelta(hours=72)
OPEN, COMPLETED = "open", "completed"
KINDS = ("email", "phone", "user_id", "device_id")

DDL = (
    "create table if not exists audit.erasure_requests ("
    "request_id varchar primary key, requested_at timestamp with time zone not null, "
    "due_at timestamp with time zone not null, status varchar not null, "
    "subject_type varchar not null, subject_hash varchar not null, key_id varchar not null, "
    "lookup varchar, started_at timestamp with time zone, completed_at timestamp with time zone, "
    "counts varchar, error varchar)"
)


@dataclass(frozen=True)
class Subject:
    """What a request names: ``kind`` one of :data:`KINDS`, the value in clear (never stored)."""

    kind: str
    value: str
    country: str | None = None


@dataclass(frozen=True)
class Request:
    """An open request as the flow reads it."""

    request_id: str
    requested_at: datetime
    subject_type: str
    subject_hash: str
    # hashes or ids by column, ``tombstones`` ([type, hash] pairs), ``resolved`` once resolved
    lookup: dict[str, Any]


def ensure_table(cur: Any) -> None:
    """Create ``audit.erasure_requests`` if missing."""
    cur.execute("create schema if not exists audit")
    cur.execute(DDL)


def tombstone_form(subject: Subject) -> str:
    """The form of the identifier the tombstone hashes: the canonical e-mail or phone (so it
    does not depend on the pepper), an id as given. A subject with nothing left is bad input."""
    if subject.kind == "email":
        form = pii.canonical_email(subject.value)
    elif subject.kind == "phone":
        form = pii.canonical_phone(subject.value, subject.country)
    else:
        form = subject.value.strip() or None
    if not form:
        raise UserInputError(f"the {subject.kind.replace('_', ' ')} to erase is empty: give a value")
    return form


def lookup_of(subject: Subject, pepper: bytes) -> dict[str, list[str]]:
    """What finds the subject's rows: hashes under the pepper for an e-mail or phone, the id itself."""
    if subject.kind == "email":
        return {"email_hash": pii.subject_hashes(pepper, email=subject.value)["email_hash"]}
    if subject.kind == "phone":
        return {
            "phone_hash": pii.subject_hashes(pepper, phone=subject.value, country=subject.country)[
                "phone_hash"
            ]
        }
    return {subject.kind: [subject.value.strip()]}


def record_request(
    cur: Any,
    subject: Subject,
    *,
    received_at: datetime,
    pepper: bytes,
    key: bytes,
    key_id: str,
    request_id: str | None = None,
) -> str:
    """Record a request (status ``open``) and return its id. The same id again for the same
    subject is the same request (a retry): nothing is added. The same id for another subject
    is bad input."""
    ensure_table(cur)
    subject_hash = pii.hmac_one(key, tombstone_form(subject))
    rid = request_id or f"er_{uuid.uuid4().hex[:16]}"
    row = cur.execute(
        "select subject_type, subject_hash from audit.erasure_requests where request_id = ?", [rid]
    ).fetchone()
    if row is not None:
        if tuple(row) != (subject.kind, subject_hash):
            raise UserInputError(f"erasure request {rid} exists for another subject: use a new --request-id")
        return rid
    cur.execute(
        "insert into audit.erasure_requests (request_id, requested_at, due_at, status, subject_type, "
        "subject_hash, key_id, lookup) values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            rid,
            received_at,
            received_at + DUE_AFTER,
            OPEN,
            subject.kind,
            subject_hash,
            key_id,
            json.dumps({**lookup_of(subject, pepper), "tombstones": [[subject.kind, subject_hash]]}),
        ],
    )
    return rid


def open_requests(cur: Any, request_id: str | None = None) -> list[Request]:
    """The requests not completed (one, when ``request_id`` is given), oldest first."""
    ensure_table(cur)
    sql = (
        "select request_id, requested_at, subject_type, subject_hash, lookup from audit.erasure_requests "
        "where completed_at is null"
    )
    params: list[Any] = []
    if request_id is not None:
        sql += " and request_id = ?"
        params.append(request_id)
    rows = cur.execute(sql + " order by requested_at, request_id", params).fetchall()
    return [Request(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}")) for r in rows]


def complete(cur: Any, request_id: str, at: datetime, counts: dict[str, int]) -> None:
    """Mark a request complete with what was erased where, and drop its ``lookup``."""
    cur.execute(
        "update audit.erasure_requests set status = ?, completed_at = ?, counts = ?, lookup = null, "
        "error = null where request_id = ?",
        [COMPLETED, at, json.dumps(counts, sort_keys=True), request_id],
    )


def status(cur: Any, request_id: str) -> tuple[str, datetime | None, dict[str, int]] | None:
    """``status, completed_at, counts`` of a request, or None when there is no such request."""
    ensure_table(cur)
    row = cur.execute(
        "select status, completed_at, counts from audit.erasure_requests where request_id = ?", [request_id]
    ).fetchone()
    if row is None:
        return None
    return str(row[0]), row[1], json.loads(row[2] or "{}")


def set_counts(cur: Any, request_id: str, counts: dict[str, int]) -> None:
    """Replace a request's counts (the file scan adds its own after completion)."""
    cur.execute(
        "update audit.erasure_requests set counts = ? where request_id = ?",
        [json.dumps(counts, sort_keys=True), request_id],
    )
