"""Monitoring rules: each reads the warehouse at a logical ``now`` and says what fires.

A rule is a function ``(cursor, now, spec) -> list[Firing]``: one :class:`Firing` per key that
breaks it (a platform, a day, a flow, a landing folder), with the numbers that made it fire.
Rules only read; :mod:`flows.alerts` turns their answers into alerts (open, update, resolve)
and notifications. ``now`` is the flow run's scheduled time (naive UTC), never the wall clock,
so an evaluation of the past gives the answer it would have given then.

Thresholds, severity and reminder cooldown live in ``flows/alert_rules.yaml`` (one file, per key
overridable); every rule has a runbook ``docs/runbooks/<rule>.md`` that its messages name. The
anomaly rules (spend, CAC, sign-ups, tracking, overspend: ``flows/anomalies.py``) are further
entries of :data:`RULES` with their own YAML blocks. A rule that errors is reported and its
alerts are left as they were (neither opened nor resolved): a broken query is not an all-clear.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from flows.anomalies import ANOMALY_RULES
from flows.close_store import CLOSED
from flows.rule_spec import RULES_PATH, SEVERITIES, Firing, Rule, RuleSpec
from roi.core.errors import ConfigError
from roi.core.redact import one_line_error
from roi.core.runs import FAILED, SUCCEEDED
from roi.core.settings import get_settings
from roi.core.warehouse import table_exists

# The flows whose runs pull ads (their row counts name a failed pull as ads_<platform>_failed).
ADS_FLOWS = ("hourly_incremental", "restatement_lookback", "backfill")


def _spec(name: str, defaults: dict[str, Any], body: Any) -> RuleSpec:
    if body is not None and not isinstance(body, dict):
        raise ConfigError(f"{RULES_PATH.name}: rule {name} must be a mapping of settings")
    own = dict(body or {})
    overrides = own.pop("overrides", None) or {}
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise ConfigError(f"{RULES_PATH.name}: {name}.overrides must map a key to settings")
    spec = RuleSpec(name, {**defaults, **own}, {str(k): dict(v) for k, v in overrides.items()})
    for key in (None, *spec.overrides):
        if spec.severity(key) not in SEVERITIES:
            raise ConfigError(f"{RULES_PATH.name}: {name}: severity must be one of {', '.join(SEVERITIES)}")
        try:
            if spec.cooldown(key) <= timedelta(0):
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(
                f"{RULES_PATH.name}: {name}: cooldown_minutes must be a positive number"
            ) from None
    return spec


def load_rules(path: Path = RULES_PATH) -> dict[str, RuleSpec]:
    """The rules of the YAML, checked (unknown rule names and bad severities are one-line errors)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the alert rules {path}: {one_line_error(exc)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), dict):
        raise ConfigError(f"{path.name}: expected a mapping with `defaults` and `rules`")
    defaults = dict(doc.get("defaults") or {})
    unknown = sorted(set(doc["rules"]) - set(RULES))
    if unknown:
        raise ConfigError(f"{path.name}: no rule named {', '.join(unknown)} (known: {', '.join(RULES)})")
    return {name: _spec(name, defaults, body) for name, body in doc["rules"].items()}


@lru_cache(maxsize=1)
def configured_rules() -> dict[str, RuleSpec]:
    """The rules of ``flows/alert_rules.yaml``, read once per process."""
    return load_rules()


# -- pull_failing ---------------------------------------------------------------------------


def _ads_runs(cur: Any, now: datetime) -> list[tuple[datetime, dict[str, int]]]:
    """Finished ads runs up to ``now`` (window end, row counts), latest first."""
    marks = ", ".join("?" for _ in ADS_FLOWS)
    rows = cur.execute(
        f"select window_end, row_counts from audit.pipeline_runs where flow_name in ({marks}) "
        "and status in (?, ?) and window_end is not null and window_end <= ? order by window_end desc",
        [*ADS_FLOWS, SUCCEEDED, FAILED, now],
    ).fetchall()
    return [(end, json.loads(counts or "{}")) for end, counts in rows]


def pull_failing(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """A platform whose pull failed, or stayed deferred, for ``runs`` ads runs in a row.

    ``audit.pull_slices`` keeps only the latest outcome of a slice, so two sources: a failed pull
    counts ``ads_<platform>_failed`` in its run's row counts (its owed dates are rewritten by every
    failure), and a deferral keeps the logical time of the run that deferred it while later runs
    wait, so the ads runs since its logical time count how long it has waited.
    """
    if not table_exists(cur, "audit", "pipeline_runs"):
        return []
    runs = _ads_runs(cur, now)
    open_since: dict[str, tuple[datetime, int, str | None]] = {}
    if table_exists(cur, "audit", "pull_slices"):
        for platform, first, count, detail in cur.execute(
            "select platform, min(logical_time), count(*), max(detail) from audit.pull_slices "
            "where status in ('deferred', 'partial') and logical_time <= ? group by platform",
            [now],
        ).fetchall():
            open_since[platform] = (first, int(count), detail)
    platforms = set(open_since) | {
        k[4:-7] for _, c in runs for k in c if k.startswith("ads_") and k.endswith("_failed")
    }
    out = []
    for platform in sorted(platforms):
        streak = 0
        for _, counts in runs:
            if not counts.get(f"ads_{platform}_failed"):
                break
            streak += 1
        first, open_count, detail = open_since.get(platform, (None, 0, None))
        waited = sum(1 for end, _ in runs if first is not None and end >= first)
        needed = int(spec.param("runs", platform))
        if max(streak, waited) >= needed and (open_count or streak):
            numbers = {
                "platform": platform,
                "failed_runs_in_a_row": streak,
                "runs_with_open_slices": waited,
                "open_slices": open_count,
                "runs_threshold": needed,
                "detail": detail,
            }
            summary = (
                f"{platform}: pull failed {streak} runs in a row, {open_count} slices open for "
                f"{waited} runs (threshold {needed})"
            )
            out.append(Firing("pull_failing", platform, summary, numbers))
    return out


# -- close_at_risk --------------------------------------------------------------------------


def close_at_risk(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """Day D not closed by the deadline (05:45 UTC of D+1): finance reads it at 06:00.

    Days before the pipeline's first run are not owed a close (a new deployment is quiet).
    """
    if not table_exists(cur, "audit", "pipeline_runs"):
        return []
    (first_run,) = cur.execute(
        "select min(coalesce(window_end, started_at)) from audit.pipeline_runs"
    ).fetchone()
    if first_run is None:
        return []
    deadline = time.fromisoformat(str(spec.param("deadline")))
    closed: set[date] = set()
    if table_exists(cur, "audit", "close_runs"):
        closed = {
            r[0]
            for r in cur.execute(
                "select distinct report_date from audit.close_runs where outcome = ? and logical_time <= ?",
                [CLOSED, now],
            ).fetchall()
        }
    out = []
    for back in range(int(spec.param("lookback_days")), 0, -1):
        day = now.date() - timedelta(days=back)
        due = datetime.combine(day + timedelta(days=1), deadline)
        if now < due or day < first_run.date() or day in closed:
            continue
        late = int((now - due).total_seconds() // 60)
        numbers = {"report_date": day.isoformat(), "deadline": due.isoformat(), "minutes_past_deadline": late}
        summary = f"{day} is not closed {late} minutes after its deadline {due:%Y-%m-%d %H:%M} UTC"
        out.append(Firing("close_at_risk", day.isoformat(), summary, numbers))
    return out


# -- failed_flow_run ------------------------------------------------------------------------


HOOK_SOURCE = "prefect_hook"
"""``numbers["source"]`` of a failed_flow_run alert opened by the Prefect failure hook."""


def _open_hook_alerts(cur: Any) -> dict[str, tuple[datetime, str]]:
    """Flows with an open failed_flow_run alert opened by the Prefect hook: (created when, summary)."""
    if not table_exists(cur, "audit", "alerts"):
        return {}
    rows = cur.execute(
        "select alert_key, created_at, summary from audit.alerts where rule = 'failed_flow_run' "
        "and status <> 'resolved' and numbers like ?",
        [f'%"source": "{HOOK_SOURCE}"%'],
    ).fetchall()
    return {k: (c, s) for k, c, s in rows}


def failed_flow_run(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """A flow whose latest finished run failed (``audit.pipeline_runs``), until one succeeds.

    Keyed by flow, so repeated failures update one alert. The Prefect ``on_failure`` hook opens
    the same alert at once (a crash may leave no audit row): an alert the hook opened stays open
    until a run of that flow succeeds after it was opened, or the audit shows the failure.
    """
    if not table_exists(cur, "audit", "pipeline_runs"):
        return []
    latest = cur.execute(
        "select flow_name, run_id, status, error, finished_at, "
        "sum(case when status = ? then 1 else 0 end) over (partition by flow_name) as failures "
        "from audit.pipeline_runs where status in (?, ?) "
        "qualify row_number() over (partition by flow_name order by finished_at desc, started_at desc) = 1",
        [FAILED, SUCCEEDED, FAILED],
    ).fetchall()
    by_flow = {r[0]: r for r in latest}
    failing = {name: r for name, r in by_flow.items() if r[2] == FAILED}
    out = []
    for name, (created, summary) in _open_hook_alerts(cur).items():
        # both clocks are the wall clock here: the audit's run times and the alert's insert time
        r = by_flow.get(name)
        succeeded_since = r is not None and r[2] == SUCCEEDED and r[4] is not None and r[4] > created
        if name not in failing and not succeeded_since:
            hook: dict[str, Any] = {
                "flow": name,
                "source": HOOK_SOURCE,
                "note": "no audit row of the failed run",
            }
            out.append(Firing("failed_flow_run", name, summary, hook))
    for name, (_, run_id, _, error, finished, failures) in sorted(failing.items()):
        numbers = {
            "flow": name,
            "run_id": run_id,
            "finished_at": finished.isoformat() if finished else None,
            "error": (error or "")[:300],
            "failed_runs_recorded": int(failures),
        }
        out.append(
            Firing("failed_flow_run", name, f"{name}: latest run failed: {(error or '')[:200]}", numbers)
        )
    return out


# -- dead_letter_rate -----------------------------------------------------------------------


def dead_letter_rate(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """Today's open dead letters / lines read above ``settings.dead_letter_ceiling`` (the close gate's ceiling)."""
    if not table_exists(cur, "raw_events", "landing_manifest"):
        return []
    day = now.date()
    prefix = f"events/dt={day.isoformat()}/%"
    (lines,) = cur.execute(
        "select coalesce(sum(lines_read), 0) from raw_events.landing_manifest where file_key like ?", [prefix]
    ).fetchone()
    dead = 0
    if table_exists(cur, "raw_events", "dead_letters"):
        (dead,) = cur.execute(
            "select count(*) from raw_events.dead_letters where file_key like ? and replayed_at is null",
            [prefix],
        ).fetchone()
    ceiling = get_settings().dead_letter_ceiling
    rate = dead / lines if lines else 0.0
    if lines < int(spec.param("min_lines")) or dead == 0 or rate < ceiling:
        return []
    numbers = {
        "day": day.isoformat(),
        "dead_letters": int(dead),
        "lines_read": int(lines),
        "rate": rate,
        "ceiling": ceiling,
    }
    summary = f"{day}: {dead} dead letters / {lines} lines read = {rate:.3%} (ceiling {ceiling:.3%})"
    return [Firing("dead_letter_rate", day.isoformat(), summary, numbers)]


# -- landing_stall --------------------------------------------------------------------------


def _aware(ts: datetime) -> datetime:
    """A naive UTC time as an aware one (aware ones unchanged)."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _naive(ts: datetime) -> datetime:
    """A time as naive UTC, whether the warehouse returned it with a zone or without."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def landing_stall(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """No new landing file (by its landing time) in the last 10 minutes, where files were arriving before.

    Per top folder of the landing (``events/``, ...): a folder with at least ``min_files`` files in
    the ``active_minutes`` before the quiet spell and none in the ``stall_minutes`` before ``now``.
    """
    if not table_exists(cur, "raw_events", "landing_manifest"):
        return []
    longest = max(
        [int(spec.param("stall_minutes"))] + [int(spec.param("stall_minutes", k)) for k in spec.overrides]
    )
    active = max(
        [int(spec.param("active_minutes"))] + [int(spec.param("active_minutes", k)) for k in spec.overrides]
    )
    # modified_at has a time zone (the loader's column) and now is naive UTC: bounds are passed
    # aware, so the session's time zone plays no part, and the stamps come back naive UTC.
    rows = cur.execute(
        "select split_part(file_key, '/', 1) as folder, modified_at from raw_events.landing_manifest "
        "where modified_at > ? and modified_at <= ?",
        [_aware(now - timedelta(minutes=longest + active)), _aware(now)],
    ).fetchall()
    folders: dict[str, list[datetime]] = {}
    for folder, ts in rows:
        folders.setdefault(folder, []).append(_naive(ts))
    out = []
    for folder, stamps in sorted(folders.items()):
        quiet = timedelta(minutes=int(spec.param("stall_minutes", folder)))
        before = timedelta(minutes=int(spec.param("active_minutes", folder)))
        recent = [t for t in stamps if t > now - quiet]
        arriving = [t for t in stamps if now - quiet - before < t <= now - quiet]
        if recent or len(arriving) < int(spec.param("min_files", folder)):
            continue
        last = max(arriving)
        minutes = int((now - last).total_seconds() // 60)
        numbers = {
            "folder": folder,
            "last_file_at": last.isoformat(),
            "minutes_quiet": minutes,
            "files_in_hour_before": len(arriving),
        }
        summary = f"landing {folder}/: no new file for {minutes} minutes ({len(arriving)} arrived in the hour before)"
        out.append(Firing("landing_stall", folder, summary, numbers))
    return out


# -- erasure_overdue ------------------------------------------------------------------------


def _columns(cur: Any, schema: str, table: str) -> set[str]:
    rows = cur.execute(
        "select column_name from information_schema.columns where lower(table_schema) = ? and lower(table_name) = ?",
        [schema, table],
    ).fetchall()
    return {str(r[0]).lower() for r in rows}


def erasure_overdue(cur: Any, now: datetime, spec: RuleSpec) -> list[Firing]:
    """An erasure request open longer than ``max_open_hours`` (audit.erasure_requests).

    The table belongs to the privacy work; until it exists the rule is quiet. Read as: a request
    has ``request_id`` and ``requested_at``; it is done when ``completed_at`` is set (or, without
    that column, when ``status`` is completed/done).
    """
    if not table_exists(cur, "audit", "erasure_requests"):
        return []
    cols = _columns(cur, "audit", "erasure_requests")
    if not {"request_id", "requested_at"} <= cols or not cols & {"completed_at", "status"}:
        return []
    still_open = (
        "completed_at is null" if "completed_at" in cols else "lower(status) not in ('completed', 'done')"
    )
    limit = timedelta(hours=float(spec.param("max_open_hours")))
    rows = cur.execute(
        f"select cast(request_id as varchar), requested_at from audit.erasure_requests "
        f"where {still_open} and requested_at <= ? order by requested_at",
        [now - limit],
    ).fetchall()
    out = []
    for request_id, requested in rows:
        hours = round((now - requested).total_seconds() / 3600, 1)
        numbers = {"request_id": request_id, "requested_at": requested.isoformat(), "open_hours": hours}
        out.append(
            Firing("erasure_overdue", request_id, f"erasure request {request_id} open for {hours} h", numbers)
        )
    return out


RULES: dict[str, Rule] = {
    "pull_failing": pull_failing,
    "close_at_risk": close_at_risk,
    "failed_flow_run": failed_flow_run,
    "dead_letter_rate": dead_letter_rate,
    "landing_stall": landing_stall,
    "erasure_overdue": erasure_overdue,
    **ANOMALY_RULES,
}


def evaluate(cur: Any, now: datetime, specs: dict[str, RuleSpec]) -> dict[str, list[Firing] | str]:
    """Every configured rule at ``now``: its firings, or the one-line error it raised."""
    out: dict[str, list[Firing] | str] = {}
    for name, spec in specs.items():
        try:
            out[name] = RULES[name](cur, now, spec)
        except Exception as exc:  # one broken rule must not silence the others
            out[name] = one_line_error(exc)
    return out
