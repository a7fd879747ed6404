"""``audit.alerts``: alerts opened, updated and resolved from the rules' answers; their notifications.

One row per alert. The dedupe key is ``rule:key``: while an alert of that key is open or
acknowledged, a rule firing again only updates it (its numbers, ``updated_at``). Notifications:
one when it opens, a reminder when it is still open (not acknowledged) a cooldown after the last
one (the rule's ``cooldown_minutes``), one when it resolves. A notification due is marked
``delivery_status = 'pending'``; delivery (:func:`deliver`, network I/O) runs outside the
warehouse turn, and :func:`record_delivery` stores the outcome: ``sent``, or still ``pending``
with one more attempt (retried at the next evaluation: a receiver that is down never fails the
flow). ``failed`` means it will not be retried: no ``ROI_ALERT_URLS`` configured.

Times: ``opened_at``/``updated_at``/``resolved_at``/``acked_at``/``last_notified_at`` are the
logical time of the evaluation (the run's scheduled time); ``created_at`` is the wall clock of
the insert, which the failed-run rule compares with the audit's wall-clock run times.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import apprise

from flows.rule_spec import Firing, RuleSpec
from roi.core.errors import UserInputError
from roi.core.redact import one_line_error
from roi.core.warehouse import table_exists

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
PENDING, SENT, FAILED = "pending", "sent", "failed"

ALERTS_DDL = """
create table if not exists audit.alerts (
    alert_id bigint not null,
    rule varchar not null,
    alert_key varchar not null,
    dedupe_key varchar not null,
    severity varchar not null,
    status varchar not null,
    summary varchar not null,
    numbers varchar not null,
    runbook varchar not null,
    opened_at timestamp not null,
    updated_at timestamp not null,
    resolved_at timestamp,
    acked_at timestamp,
    created_at timestamp not null,
    notify_kind varchar,
    last_notified_at timestamp,
    delivery_status varchar not null,
    delivery_attempts integer not null,
    delivery_error varchar
)
"""

_COLS = (
    "alert_id, rule, alert_key, severity, status, summary, numbers, runbook, opened_at, updated_at, "
    "resolved_at, acked_at, notify_kind, last_notified_at, delivery_status, delivery_attempts, delivery_error"
)


@dataclass(frozen=True)
class Alert:
    """One row of ``audit.alerts``."""

    alert_id: int
    rule: str
    key: str
    severity: str
    status: str
    summary: str
    numbers: dict[str, Any]
    runbook: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    acked_at: datetime | None
    notify_kind: str | None
    last_notified_at: datetime | None
    delivery_status: str
    delivery_attempts: int
    delivery_error: str | None


def _alert(row: tuple[Any, ...]) -> Alert:
    values = list(row)
    values[6] = json.loads(values[6])
    return Alert(*values)


def _wall() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_table(cur: Any) -> None:
    cur.execute(ALERTS_DDL)


def current(cur: Any) -> dict[str, Alert]:
    """The alerts not resolved, by dedupe key."""
    rows = cur.execute(f"select {_COLS} from audit.alerts where status <> ?", [RESOLVED]).fetchall()
    return {f"{a.rule}:{a.key}": a for a in map(_alert, rows)}


def _insert(cur: Any, f: Firing, spec: RuleSpec, now: datetime) -> None:
    (next_id,) = cur.execute("select coalesce(max(alert_id), 0) + 1 from audit.alerts").fetchone()
    cur.execute(
        "insert into audit.alerts (alert_id, rule, alert_key, dedupe_key, severity, status, summary, numbers, "
        "runbook, opened_at, updated_at, created_at, notify_kind, delivery_status, delivery_attempts) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'opened', ?, 0)",
        [
            next_id, f.rule, f.key, f"{f.rule}:{f.key}", spec.severity(f.key), OPEN, f.summary,
            json.dumps(f.numbers, sort_keys=True, default=str), spec.runbook, now, now, _wall(), PENDING,
        ],
    )  # fmt: skip


def _still_firing(cur: Any, a: Alert, f: Firing, spec: RuleSpec, now: datetime) -> None:
    """Update the numbers; a reminder is due when open (not acked) a cooldown after the last notification."""
    remind = (
        a.status == OPEN
        and a.delivery_status == SENT
        and a.last_notified_at is not None
        and now - a.last_notified_at >= spec.cooldown(a.key)
    )
    cur.execute(
        "update audit.alerts set summary = ?, numbers = ?, updated_at = ?, severity = ?, "
        "notify_kind = case when ? then 'reminder' else notify_kind end, "
        "delivery_status = case when ? then ? else delivery_status end, "
        "delivery_attempts = case when ? then 0 else delivery_attempts end where alert_id = ?",
        [
            f.summary, json.dumps(f.numbers, sort_keys=True, default=str), now, spec.severity(a.key),
            remind, remind, PENDING, remind, a.alert_id,
        ],
    )  # fmt: skip


def _resolve(cur: Any, a: Alert, now: datetime) -> None:
    cur.execute(
        "update audit.alerts set status = ?, resolved_at = ?, updated_at = ?, notify_kind = 'resolved', "
        "delivery_status = ?, delivery_attempts = 0, delivery_error = null where alert_id = ?",
        [RESOLVED, now, now, PENDING, a.alert_id],
    )


def apply(
    cur: Any, specs: dict[str, RuleSpec], results: dict[str, list[Firing] | str], now: datetime
) -> dict[str, int]:
    """Open, update and resolve alerts from one evaluation; returns how many of each.

    A rule that errored (its result is a message) leaves its alerts as they are. A resolved
    alert that fires again opens a new alert (a new id, a new notification).
    """
    ensure_table(cur)
    existing = current(cur)
    counts = {"opened": 0, "updated": 0, "resolved": 0}
    for rule, result in results.items():
        if isinstance(result, str):
            continue
        firing = {f"{f.rule}:{f.key}": f for f in result}
        for dedupe, f in firing.items():
            if dedupe in existing:
                _still_firing(cur, existing[dedupe], f, specs[rule], now)
                counts["updated"] += 1
            else:
                _insert(cur, f, specs[rule], now)
                counts["opened"] += 1
        for dedupe, a in existing.items():
            if a.rule == rule and dedupe not in firing:
                _resolve(cur, a, now)
                counts["resolved"] += 1
    return counts


def open_now(cur: Any, f: Firing, spec: RuleSpec, now: datetime) -> int:
    """Open (or update) one alert outside an evaluation, e.g. from a Prefect failure hook; returns its id."""
    ensure_table(cur)
    a = current(cur).get(f"{f.rule}:{f.key}")
    if a is None:
        _insert(cur, f, spec, now)
    else:
        _still_firing(cur, a, f, spec, now)
    return int(current(cur)[f"{f.rule}:{f.key}"].alert_id)


def pending(cur: Any) -> list[Alert]:
    """Alerts with a notification to send, oldest first."""
    ensure_table(cur)
    rows = cur.execute(
        f"select {_COLS} from audit.alerts where delivery_status = ? order by alert_id", [PENDING]
    ).fetchall()
    return [_alert(r) for r in rows]


def message(a: Alert) -> tuple[str, str]:
    """The title and body of an alert's notification; the body names its runbook."""
    kind = {"opened": "OPEN", "reminder": "STILL OPEN", "resolved": "RESOLVED"}.get(
        a.notify_kind or "", "OPEN"
    )
    title = f"[{a.severity}] {kind}: {a.rule} {a.key}"
    when = f"opened {a.opened_at:%Y-%m-%d %H:%M} UTC"
    if a.resolved_at is not None:
        when += f", resolved {a.resolved_at:%Y-%m-%d %H:%M} UTC"
    numbers = ", ".join(f"{k}={v}" for k, v in sorted(a.numbers.items()))
    body = f"{a.summary}\n{when} (alert {a.alert_id}; roi alerts ack {a.alert_id})\n{numbers}\nrunbook: {a.runbook}"
    return title, body


def split_urls(value: str) -> list[str]:
    """The URLs of ``ROI_ALERT_URLS``: a comma and/or whitespace separated list."""
    return [u for u in re.split(r"[\s,]+", value.strip()) if u]


def _asset() -> apprise.AppriseAsset:
    # No plugin folders (no code loaded from ~/.apprise), no persistent store on disk, a bounded
    # wait per service: Apprise only talks to the URLs it is given.
    return apprise.AppriseAsset(
        plugin_paths=[], storage_mode=apprise.PersistentStoreMode.MEMORY, service_timeout=10
    )


def deliver(alerts: list[Alert], urls: list[str]) -> dict[int, str | None]:
    """Send each alert's notification to every URL; per alert None when sent, else why not.

    Network I/O: call it outside the warehouse turn. Nothing raises: a receiver that is down is an
    answer (the alert stays pending and is retried next time).
    """
    if not urls:
        return {a.alert_id: "ROI_ALERT_URLS is empty: nowhere to deliver" for a in alerts}
    out: dict[int, str | None] = {}
    for a in alerts:
        notifier = apprise.Apprise(asset=_asset())
        bad = [str(i + 1) for i, url in enumerate(urls) if not notifier.add(url)]
        if bad:  # the URLs hold tokens: name their place in the list, not them
            out[a.alert_id] = f"ROI_ALERT_URLS entry {', '.join(bad)} is not an Apprise URL: nothing sent"
            continue
        title, body = message(a)
        kind = apprise.NotifyType.SUCCESS if a.notify_kind == "resolved" else apprise.NotifyType.FAILURE
        try:
            ok = bool(notifier.notify(body=body, title=title, notify_type=kind))
        except Exception as exc:  # a plugin bug must not fail the flow either
            out[a.alert_id] = one_line_error(exc)
            continue
        out[a.alert_id] = None if ok else "a receiver did not accept the notification"
    return out


def record_delivery(cur: Any, outcomes: dict[int, str | None], now: datetime, configured: bool) -> None:
    """Store each delivery's outcome: sent; else pending with one more attempt (failed if no URL is set)."""
    for alert_id, error in outcomes.items():
        if error is None:
            cur.execute(
                "update audit.alerts set delivery_status = ?, last_notified_at = ?, "
                "delivery_attempts = delivery_attempts + 1, delivery_error = null where alert_id = ?",
                [SENT, now, alert_id],
            )
        else:
            cur.execute(
                "update audit.alerts set delivery_status = ?, delivery_attempts = delivery_attempts + 1, "
                "delivery_error = ?, last_notified_at = case when ? then ? else last_notified_at end "
                "where alert_id = ?",
                [PENDING if configured else FAILED, error[:300], not configured, now, alert_id],
            )


def latest_evaluation(cur: Any) -> datetime | None:
    """The logical time of the latest evaluation that touched an alert (None: no alert yet)."""
    if not table_exists(cur, "audit", "alerts"):
        return None
    (ts,) = cur.execute("select max(updated_at) from audit.alerts").fetchone()
    return ts if isinstance(ts, datetime) else None


def acknowledge(cur: Any, alert_id: int, now: datetime) -> Alert:
    """Acknowledge an open alert: no reminders any more (it still resolves, with its notification)."""
    if not table_exists(cur, "audit", "alerts"):
        raise UserInputError(f"no alert {alert_id}: no alert has been raised yet (see `roi alerts`)")
    row = cur.execute(f"select {_COLS} from audit.alerts where alert_id = ?", [alert_id]).fetchone()
    if row is None:
        raise UserInputError(f"no alert {alert_id}: see `roi alerts` for the ids")
    a = _alert(row)
    if a.status == RESOLVED:
        raise UserInputError(f"alert {alert_id} is already resolved ({a.resolved_at:%Y-%m-%d %H:%M} UTC)")
    if a.status == OPEN:
        cur.execute(
            "update audit.alerts set status = ?, acked_at = ? where alert_id = ?",
            [ACKNOWLEDGED, now, alert_id],
        )
    return _alert(cur.execute(f"select {_COLS} from audit.alerts where alert_id = ?", [alert_id]).fetchone())


def recent(cur: Any, only_open: bool, since: datetime) -> list[Alert]:
    """Alerts for ``roi alerts``: not resolved, plus (unless ``only_open``) those resolved since ``since``."""
    if not table_exists(cur, "audit", "alerts"):
        return []  # a read-only command creates nothing
    where = "status <> 'resolved'" if only_open else "(status <> 'resolved' or resolved_at >= ?)"
    params = [] if only_open else [since]
    rows = cur.execute(
        f"select {_COLS} from audit.alerts where {where} order by status = 'resolved', opened_at desc, alert_id desc",
        params,
    ).fetchall()
    return [_alert(r) for r in rows]
