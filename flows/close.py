"""The finance close: UTC day D, frozen at 05:00 UTC of D+1 if every gate passes.

``close_daily`` (deployment ``close-daily``, 05:00 UTC, after the 04:00 lookback; also
``roi close --date D``) runs the gates (:mod:`flows.gates`) on the built data of D. Only when
all pass does it insert an immutable snapshot of D's published mart rows into
``analytics.mart_marketing_roi_closed`` (close version 1, or N+1 for a re-close with a reason);
every attempt, closed or not, gets a row in ``audit.close_runs`` with every gate's result and
its inputs in ``audit.close_inputs``. A blocked attempt leaves the closed table untouched and
names the failing gate with its numbers in one line.

Time is logical: the attempt's time is the run's scheduled time (or the ``logical_time``
given), never the wall clock. An attempt at or after 06:00 UTC of D+1 that does not close is
recorded ``late``; one that closes then is ``closed`` with ``late = true``. A blocked day is
tried again at the end of every hourly run (:func:`retry_blocked_closes`) until it closes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from connector_sdk.windows import as_utc
from flows.close_store import (
    BLOCKED,
    CLOSED,
    CURRENT_ROWS_SQL,
    LATE,
    close_time,
    current_rows_params,
    deadline,
    ensure_tables,
    latest_closes,
)
from flows.gates import GateResult, run_gates
from flows.locks import warehouse_step
from flows.monitor import alert_failed_run
from flows.published import Published, published
from roi.core.errors import RoiError, UserInputError
from roi.core.warehouse import table_exists


class CloseBlocked(RoiError):
    """A gate failed: the day was not closed (exit 1, one line naming the gate and its numbers)."""


@dataclass(frozen=True)
class CloseOutcome:
    """What one attempt did."""

    close_id: str
    report_date: date
    outcome: str  # closed | blocked | late | already_closed
    close_version: int | None
    late: bool
    message: str
    rows: int = 0


def _naive(ts: datetime) -> datetime:
    return as_utc(ts).astimezone(UTC).replace(tzinfo=None)


def _logical_time(given: datetime | None) -> datetime:
    """The run's logical time (naive UTC): the given one, else the Prefect run's scheduled time."""
    if given is not None:
        return _naive(given)
    scheduled = flow_run.scheduled_start_time
    if scheduled is None:
        raise UserInputError("no logical time given and the run has no scheduled time")
    return _naive(datetime.fromisoformat(str(scheduled)))


# -- inputs ------------------------------------------------------------------------------------


def _inputs(cur: Any, day: date, logical: datetime) -> list[tuple[Any, ...]]:
    """(kind, platform, key, arrived_at, detail) of everything D's numbers were built from.

    Raw load ids per platform (the loads of D's current spend rows), D's landing files with
    their arrival (``modified_at``), the SKAN postbacks received so far whose install day
    (received − 48 h, the model's estimate) is D, and the SKAN watermark (postbacks received
    so far, the last arrival).
    """
    out: list[tuple[Any, ...]] = []
    if table_exists(cur, "analytics", "fact_ad_spend"):
        out += [
            ("raw_load", p, str(load), None, f"{n} spend rows")
            for p, load, n in cur.execute(
                "select platform, _load_id, count(*) from analytics.fact_ad_spend where spend_date = ? "
                "group by all order by 1, 2",
                [day],
            ).fetchall()
        ]
    if table_exists(cur, "raw_events", "landing_manifest"):
        out += [
            ("landing_file", None, str(k), _naive_ts(m), f"{lines} lines")
            for k, m, lines in cur.execute(
                "select file_key, modified_at, lines_read from raw_events.landing_manifest "
                "where file_key like ? order by file_key",
                [f"events/dt={day.isoformat()}/%"],
            ).fetchall()
        ]
    if table_exists(cur, "raw_events", "skan_postbacks"):
        # how far SKAN had arrived: D's own postbacks mostly come after the close (skan adjustments)
        n, last = cur.execute(
            "select count(*), max(received_at) from raw_events.skan_postbacks where received_at <= ?",
            [logical.replace(tzinfo=UTC)],
        ).fetchone()
        out.append(("skan_watermark", None, "all", _naive_ts(last), f"{n} postbacks received so far"))
        out += [
            ("skan_postback", p, str(pid), _naive_ts(r), None)
            for p, pid, r in cur.execute(
                "select platform, postback_id, received_at from raw_events.skan_postbacks "
                "where received_at >= ? and received_at < ? and received_at <= ? order by 2",
                # install day (received - 48 h) = D  <=>  received in [D+2, D+3)
                [_midnight(day, 2), _midnight(day, 3), logical.replace(tzinfo=UTC)],
            ).fetchall()
        ]
    return out


def _midnight(day: date, plus_days: int) -> datetime:
    """UTC midnight ``plus_days`` after ``day``, tz-aware (the raw event timestamps are)."""
    return datetime.combine(day + timedelta(days=plus_days), datetime.min.time(), UTC)


def _naive_ts(ts: Any) -> datetime | None:
    return _naive(ts) if isinstance(ts, datetime) else None


def _inputs_summary(inputs: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Counts per kind, load ids per platform and the last landing arrival (for close_runs)."""
    loads: dict[str, list[str]] = {}
    for kind, platform, key, _, _ in inputs:
        if kind == "raw_load":
            loads.setdefault(str(platform), []).append(key)
    arrivals = [a for kind, _, _, a, _ in inputs if kind == "landing_file" and a is not None]
    return {
        "raw_loads": loads,
        "landing_files": sum(1 for i in inputs if i[0] == "landing_file"),
        "last_landing_arrival": max(arrivals).isoformat() if arrivals else None,
        "skan_postbacks": sum(1 for i in inputs if i[0] == "skan_postback"),
        "skan_watermark": next((i[4] for i in inputs if i[0] == "skan_watermark"), None),
    }


# -- one attempt -------------------------------------------------------------------------------


def _next_version(cur: Any, day: date) -> int:
    (v,) = cur.execute(
        "select coalesce(max(close_version), 0) from audit.close_runs where report_date = ?", [day]
    ).fetchone()
    return int(v) + 1


def _snapshot(cur: Any, day: date, pub: Published, close_id: str, version: int, logical: datetime) -> int:
    """Insert D's published mart rows as close ``version``; returns the rows frozen."""
    rows = cur.execute(CURRENT_ROWS_SQL, current_rows_params(day, pub)).fetchall()
    frozen = [
        (
            close_id,
            version,
            logical,
            *r[:4],
            pub.attribution_config,
            r[4],
            pub.attribution_config_hash,
            *r[5:],
        )
        for r in rows
    ]
    if not frozen:
        return 0
    cur.executemany(
        "insert into analytics.mart_marketing_roi_closed (close_id, close_version, closed_at, report_date, "
        "platform, campaign_id, campaign_name, attribution_config, attribution_version, "
        "attribution_config_hash, spend_definition_version, signup_definition_version, spend_usd, "
        "spend_local, currency, impressions, clicks, platform_conversions, signups, modeled_signups, "
        "first_conversions, revenue_usd, cac_usd, roas, roi) values "
        f"({', '.join('?' for _ in range(25))})",
        frozen,
    )
    return len(frozen)


def _message(day: date, results: list[GateResult], version: int | None, rows: int) -> tuple[str | None, str]:
    """(the first failing gate, one line): what was wrong with its numbers, or what was closed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return None, f"{day} closed as version {version}: {rows} mart rows, {len(results)} gates passed"
    others = (
        f" (and {len(failed) - 1} more gates: {', '.join(r.gate for r in failed[1:])})" if failed[1:] else ""
    )
    return failed[0].gate, f"close of {day} blocked by gate {failed[0].gate}: {failed[0].detail}{others}"


def _record(
    cur: Any,
    outcome: CloseOutcome,
    trigger: str,
    reason: str | None,
    logical: datetime,
    results: list[GateResult],
    pub: Published,
    inputs: list[tuple[Any, ...]],
    blocked_by: str | None,
) -> None:
    """The attempt's ``audit.close_runs`` row and its ``audit.close_inputs`` rows."""
    cur.execute(
        "insert into audit.close_runs (close_id, report_date, close_version, outcome, late, trigger, reason, "
        "logical_time, attempted_at, blocked_by, message, gates, published, inputs) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            outcome.close_id,
            outcome.report_date,
            outcome.close_version,
            outcome.outcome,
            outcome.late,
            trigger,
            reason,
            logical,
            datetime.now(UTC).replace(tzinfo=None),
            blocked_by,
            outcome.message,
            json.dumps([r.as_json() for r in results]),
            json.dumps(pub.__dict__),
            json.dumps(_inputs_summary(inputs)),
        ],
    )
    if not inputs:
        return
    cur.executemany(
        "insert into audit.close_inputs (close_id, kind, platform, input_key, arrived_at, detail) "
        "values (?, ?, ?, ?, ?, ?)",
        [(outcome.close_id, *i) for i in inputs],
    )


def _close(
    cur: Any,
    day: date,
    pub: Published,
    close_id: str,
    logical: datetime,
    late: bool,
    why: tuple[str, str | None],
    results: list[GateResult],
    inputs: list[tuple[Any, ...]],
) -> CloseOutcome:
    """Freeze the snapshot and record the attempt in one transaction: a close version exists
    with its audit row or not at all (``why``: trigger and reason)."""
    cur.execute("begin transaction")
    try:
        version = _next_version(cur, day)
        rows = _snapshot(cur, day, pub, close_id, version, logical)
        _, msg = _message(day, results, version, rows)
        outcome = CloseOutcome(close_id, day, CLOSED, version, late, msg + (" (late)" if late else ""), rows)
        _record(cur, outcome, why[0], why[1], logical, results, pub, inputs, None)
    except BaseException:
        cur.execute("rollback")
        raise
    cur.execute("commit")
    return outcome


def attempt_close(
    day: date, logical: datetime, reason: str | None = None, trigger: str = "close_daily"
) -> CloseOutcome:
    """One close attempt of UTC day ``day`` at naive-UTC logical time ``logical``.

    A day already closed is closed again (version N+1) only with a ``reason``; without one
    nothing is done. The gates, the snapshot and the audit rows happen in one warehouse turn,
    so no other flow changes the data between the gates and the snapshot.
    """
    pub = published()
    with warehouse_step(f"close {day}") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            ensure_tables(cur)
            done = latest_closes(cur, [day]).get(day)
            if done is not None and not reason:
                msg = (
                    f"{day} is already closed (version {done.close_version}): pass --reason to close it again"
                )
                return CloseOutcome(done.close_id, day, "already_closed", done.close_version, False, msg)
            results = run_gates(cur, day, pub)
            # a re-close is deliberate, never late: lateness is about the first close of the day
            late = done is None and logical >= deadline(day)
            close_id = str(uuid.uuid4())
            inputs = _inputs(cur, day, logical)
            if all(r.passed for r in results):
                return _close(cur, day, pub, close_id, logical, late, (trigger, reason), results, inputs)
            gate, msg = _message(day, results, None, 0)
            outcome = CloseOutcome(close_id, day, LATE if late else BLOCKED, None, late, msg)
            _record(cur, outcome, trigger, reason, logical, results, pub, inputs, gate)
            return outcome
        finally:
            cur.close()


def retry_blocked_closes(logical_time: datetime, trigger: str = "hourly_retry") -> list[CloseOutcome]:
    """Try again every day whose close was attempted, never succeeded, and is ready (05:00 of D+1 passed).

    Called at the end of every hourly run: a blocked close closes as soon as its data is fixed.
    """
    logical = _naive(logical_time)
    with warehouse_step("open closes") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            if not table_exists(cur, "audit", "close_runs"):
                return []
            days = [
                r[0]
                for r in cur.execute(
                    "select report_date from audit.close_runs group by report_date "
                    "having max(close_version) is null order by report_date"
                ).fetchall()
            ]
        finally:
            cur.close()
    return [attempt_close(d, logical, trigger=trigger) for d in days if close_time(d) <= logical]


@flow(name="close_daily", log_prints=True, on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def close_daily(
    day: date | None = None, reason: str | None = None, logical_time: datetime | None = None
) -> dict[str, Any]:
    """Close UTC day ``day`` (default: the day before the run's logical time) if every gate passes.

    Returns the outcome as a dict; a blocked close is recorded, not raised (the hourly runs try
    it again), so the scheduled run succeeds either way. ``roi close`` turns a blocked outcome
    into exit 1.
    """
    logical = _logical_time(logical_time)
    target = day if day is not None else (logical - timedelta(days=1)).date()
    outcome = attempt_close(
        target, logical, reason=reason, trigger="close_daily" if reason is None else "reclose"
    )
    print(outcome.message)
    return {**outcome.__dict__, "report_date": outcome.report_date.isoformat()}
