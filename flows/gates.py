"""The close's gates: every one must pass on the built data of UTC day D before D is closed.

Each gate returns a :class:`GateResult` whose ``detail`` is one line with its numbers (what
``roi close`` prints and ``audit.close_runs`` keeps). Every gate runs, even after one failed,
so an attempt's audit row says everything that was wrong at once. Anomaly rules are not
gates: a real runaway campaign is a business fact to close on, not a data error.

Why each gate reads what it reads:

- ``soda``: the Soda contracts over the window [D, D+1) (:func:`flows.checks.run_all_checks`).
- ``pulls_complete``: every account of every platform with spend in the 7 days before D has a
  complete latest pull of report date D in ``audit.pull_slices`` (a silent platform or a
  partial pull shows as missing, not as "some rows exist").
- ``spend_matches_raw``: ``fact_ad_spend`` against the raw current rows per platform x account
  x day. The raw rows are read through the ``stg_<platform>__ad_performance`` views: thin
  renames over the raw merge tables (current rows only, tombstones dropped) that put every
  platform's amounts and time zones into one shape; a fact that lags its raw rows (a build
  that did not run after a pull) fails here.
- ``account_totals``: the fine rows against the platform's own coarse account x day report
  (:func:`flows.reconciliation.account_day_mismatches`).
- ``signups_conserved``: deterministic + SKAN-modeled + unattributed credit of D's sign-ups
  (published attribution version) = ``fact_signups`` rows of D, and the published mart says
  the same.
- ``credit_sums_to_one``: per sign-up of D under the published attribution version.
- ``fx_present``: every currency of D's spend and first revenue has a rate (a provisional
  one counts: the final rate replaces it later as an ``fx`` adjustment).
- ``dead_letters_below_ceiling``: open (not replayed) dead letters / lines read of the landing
  files under ``events/dt=D/``, below ``settings.dead_letter_ceiling``.
- ``no_deferred_pulls``: no deferred slice of report date D, nor a platform-wide deferral.
- ``mart_published``: the published mart has rows for D (a close of nothing is no close).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flows import reconciliation
from flows.checks import run_all_checks
from flows.published import Published
from roi.core.errors import RoiError
from roi.core.settings import get_settings
from roi.core.warehouse import table_exists

CREDIT_TOLERANCE = 1e-6
# How many offending keys a detail line names (the JSON keeps the counts).
SHOWN = 3


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict on one day: its name, pass/fail, a one-line detail and its numbers."""

    gate: str
    passed: bool
    detail: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (numbers as floats or strings)."""
        return {**asdict(self), "numbers": {k: _plain(v) for k, v in self.numbers.items()}}


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def _rows(cur: Any, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return list(cur.execute(sql, params).fetchall())


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "; ".join(items[:SHOWN]) + more


# -- the gates ---------------------------------------------------------------------------------


def gate_soda(day: date) -> GateResult:
    """Every Soda contract passes for the window [D, D+1)."""
    try:
        results = run_all_checks(day, day + timedelta(days=1))
    except RoiError as exc:
        return GateResult("soda", False, f"the checks could not run: {exc}", {"checks": 0})
    bad = [f"{r.contract}:{r.check} ({r.outcome})" for r in results if not r.ok]
    numbers = {"checks": len(results), "failed": len(bad), "failing": bad[:20]}
    if bad:
        return GateResult(
            "soda", False, f"{len(bad)} of {len(results)} checks failed: {_listed(bad)}", numbers
        )
    return GateResult("soda", True, f"{len(results)} checks passed", numbers)


def gate_pulls_complete(cur: Any, day: date, pub: Published) -> GateResult:
    """Every account with spend in the 7 days before D has a complete pull of report date D."""
    active = _rows(
        cur,
        "select distinct platform, account_id from analytics.fact_ad_spend "
        "where spend_date between ? and ? and spend_local <> 0 and spend_definition_version = ?",
        [day - timedelta(days=7), day - timedelta(days=1), pub.spend_definition],
    )
    status: dict[tuple[str, str], str] = {}
    if table_exists(cur, "audit", "pull_slices"):
        for p, a, s in _rows(
            cur,
            "select platform, account_id, status from audit.pull_slices where report_date = ?",
            [day],
        ):
            status[(p, a)] = s
    missing = sorted(
        f"{p} {a} {status.get((p, a), 'not pulled')}" for p, a in active if status.get((p, a)) != "complete"
    )
    numbers = {"accounts": len(active), "incomplete": len(missing), "slices": missing[:20]}
    if missing:
        detail = f"{len(missing)} of {len(active)} account slices of {day} not complete: {_listed(missing)}"
        return GateResult("pulls_complete", False, detail, numbers)
    return GateResult("pulls_complete", True, f"{len(active)} account slices of {day} complete", numbers)


def _raw_spend_sql(cur: Any) -> str | None:
    """A union over every ``stg_<platform>__ad_performance`` view of (platform, account, spend)."""
    views = [
        r[0]
        for r in cur.execute(
            "select table_name from information_schema.tables where lower(table_schema) = 'analytics' "
            "and lower(table_name) like 'stg\\_%\\_\\_ad\\_performance' escape '\\' order by 1"
        ).fetchall()
    ]
    if not views:
        return None
    parts = [
        f"select platform, account_id, spend_local from analytics.{v} where spend_date = $day" for v in views
    ]
    return " union all ".join(parts)


def gate_spend_matches_raw(cur: Any, day: date, pub: Published) -> GateResult:
    """``fact_ad_spend`` = the raw current rows, per platform x account, for D (exact decimals)."""
    raw = _raw_spend_sql(cur)
    if raw is None:
        return GateResult("spend_matches_raw", True, "no raw ad rows yet", {"accounts": 0})
    diffs = _rows(
        cur,
        f"""
        with r as (select platform, account_id, sum(spend_local) as raw from ({raw}) group by all),
        f as (select platform, account_id, sum(spend_local) as fact from analytics.fact_ad_spend
              where spend_date = $day and spend_definition_version = $def group by all)
        select coalesce(r.platform, f.platform), coalesce(r.account_id, f.account_id),
               coalesce(f.fact, 0), coalesce(r.raw, 0)
        from r full outer join f on r.platform = f.platform and r.account_id = f.account_id
        order by 1, 2
        """.replace("$day", "?::date").replace("$def", "?"),
        _raw_params(raw, day, pub),
    )
    bad = [f"{p} {a}: fact {f} raw {r}" for p, a, f, r in diffs if f != r]
    numbers = {"accounts": len(diffs), "mismatched": len(bad), "mismatches": bad[:20]}
    if bad:
        detail = f"{len(bad)} of {len(diffs)} accounts of {day} differ from raw: {_listed(bad)}"
        return GateResult("spend_matches_raw", False, detail, numbers)
    return GateResult(
        "spend_matches_raw", True, f"{len(diffs)} accounts of {day} equal their raw rows", numbers
    )


def _raw_params(raw: str, day: date, pub: Published) -> list[Any]:
    """Positional parameters of the spend_matches_raw query: D per raw view, then D and the definition."""
    return [day] * raw.count("$day") + [day, pub.spend_definition]


def gate_account_totals(cur: Any, day: date, pub: Published) -> GateResult:
    """The fine rows sum to each platform's own coarse account x day total."""
    found = reconciliation.account_day_mismatches(cur, day)
    bad = [
        f"{m.get('platform')} {m.get('account_id')} {m.get('local_date')} {m.get('metric', 'spend')}: "
        f"fine {m.get('fine')} coarse {m.get('coarse')} {m.get('currency') or ''}".rstrip()
        for m in found
    ]
    # platforms with no independent total (Impact) are named, not silently counted as reconciled
    numbers = {
        "mismatched": len(bad),
        "mismatches": [_plain(m) for m in found[:20]],
        "not_reconcilable": sorted(reconciliation.NOT_AVAILABLE),
    }
    if bad:
        detail = f"{len(bad)} account-day totals differ from the coarse report: {_listed(bad)}"
        return GateResult("account_totals", False, detail, numbers)
    skipped = ", ".join(sorted(reconciliation.NOT_AVAILABLE))
    detail = f"every account day equals its coarse report (no coarse report: {skipped})"
    return GateResult("account_totals", True, detail, numbers)


def gate_signups_conserved(cur: Any, day: date, pub: Published) -> GateResult:
    """Deterministic + SKAN-modeled + unattributed credit = ``fact_signups`` of D (and the mart agrees)."""
    (n,) = cur.execute(
        "select count(*) from analytics.fact_signups where signup_date = ? and signup_definition_version = ?",
        [day, pub.signup_definition],
    ).fetchone()
    by_method = {"deterministic": 0.0, "skan_modeled": 0.0, "unattributed": 0.0}
    if table_exists(cur, "analytics", "fact_attribution"):
        for method, credit in _rows(
            cur,
            "select a.method, sum(a.credit) from analytics.fact_attribution as a "
            "inner join analytics.fact_signups as s on a.signup_id = s.signup_id "
            "where s.signup_date = ? and s.signup_definition_version = ? and a.attribution_version = ? "
            "group by a.method",
            [day, pub.signup_definition, pub.attribution_version],
        ):
            by_method[str(method)] = float(credit or 0)
    (mart,) = cur.execute(
        "select coalesce(sum(signups + modeled_signups), 0) from analytics.mart_marketing_roi_daily "
        f"where report_date = ? and {Published.MART_FILTER}",
        [day, *pub.params()],
    ).fetchone()
    credited = sum(by_method.values())
    numbers = {"fact_signups": int(n), **by_method, "credited": credited, "mart": float(mart)}
    ok = abs(credited - n) <= CREDIT_TOLERANCE and abs(float(mart) - n) <= CREDIT_TOLERANCE
    detail = (
        f"{by_method['deterministic']:g} deterministic + {by_method['skan_modeled']:g} skan_modeled + "
        f"{by_method['unattributed']:g} unattributed = {credited:g} credited, mart {float(mart):g}, "
        f"fact_signups {n}"
    )
    return GateResult("signups_conserved", ok, detail, numbers)


def gate_credit_sums_to_one(cur: Any, day: date, pub: Published) -> GateResult:
    """Credit sums to 1 per sign-up of D under the published attribution version."""
    if not table_exists(cur, "analytics", "fact_attribution"):
        return GateResult("credit_sums_to_one", True, "no attribution yet", {"signups": 0})
    rows = _rows(
        cur,
        "select a.signup_id, sum(a.credit) from analytics.fact_attribution as a "
        "inner join analytics.fact_signups as s on a.signup_id = s.signup_id "
        "where s.signup_date = ? and a.attribution_version = ? group by a.signup_id",
        [day, pub.attribution_version],
    )
    bad = sorted(f"{sid}: {float(c):g}" for sid, c in rows if abs(float(c) - 1.0) > CREDIT_TOLERANCE)
    numbers = {"signups": len(rows), "off": len(bad), "examples": bad[:20]}
    if bad:
        detail = f"{len(bad)} of {len(rows)} sign-ups of {day} have credit not summing to 1: {_listed(bad)}"
        return GateResult("credit_sums_to_one", False, detail, numbers)
    return GateResult("credit_sums_to_one", True, f"{len(rows)} sign-ups of {day} sum to 1", numbers)


def gate_fx_present(cur: Any, day: date, pub: Published) -> GateResult:
    """Every currency used on D (spend, first revenue) has a rate: no unconverted amount."""
    missing = _rows(
        cur,
        "select currency, count(*) from analytics.fact_ad_spend where spend_date = ? "
        "and spend_definition_version = ? and (spend_usd is null or fx_rate_date is null) "
        "group by currency order by currency",
        [day, pub.spend_definition],
    )
    missing += _rows(
        cur,
        "select first_revenue_currency, count(*) from analytics.fact_signups where signup_date = ? "
        "and first_revenue_local is not null and first_revenue_usd is null group by 1 order by 1",
        [day],
    )
    (used,) = cur.execute(
        "select count(distinct currency) from analytics.fact_ad_spend where spend_date = ?", [day]
    ).fetchone()
    bad = [f"{c}: {n} rows without a rate" for c, n in missing]
    numbers = {"currencies": int(used), "without_rate": len(bad), "missing": bad}
    if bad:
        return GateResult("fx_present", False, f"no FX rate on {day} for {_listed(bad)}", numbers)
    return GateResult("fx_present", True, f"{used} currencies of {day} converted", numbers)


def gate_dead_letters(cur: Any, day: date, pub: Published) -> GateResult:
    """Open dead letters / lines read of D's landing files (``events/dt=D/``) below the ceiling."""
    ceiling = get_settings().dead_letter_ceiling
    prefix = f"events/dt={day.isoformat()}/%"
    lines = dead = 0
    if table_exists(cur, "raw_events", "landing_manifest"):
        (lines,) = cur.execute(
            "select coalesce(sum(lines_read), 0) from raw_events.landing_manifest where file_key like ?",
            [prefix],
        ).fetchone()
    if table_exists(cur, "raw_events", "dead_letters"):
        (dead,) = cur.execute(
            "select count(*) from raw_events.dead_letters where file_key like ? and replayed_at is null",
            [prefix],
        ).fetchone()
    rate = dead / lines if lines else 0.0
    numbers = {"dead_letters": int(dead), "lines_read": int(lines), "rate": rate, "ceiling": ceiling}
    detail = f"{dead} dead letters / {lines} lines read = {rate:.4%} (ceiling {ceiling:.4%})"
    return GateResult("dead_letters_below_ceiling", rate < ceiling or dead == 0, detail, numbers)


def gate_no_deferred_pulls(cur: Any, day: date, pub: Published) -> GateResult:
    """No deferred pull open for report date D, and no platform-wide deferral."""
    open_ = []
    if table_exists(cur, "audit", "pull_slices"):
        open_ = _rows(
            cur,
            "select platform, account_id, resume_after from audit.pull_slices where status = 'deferred' "
            "and (report_date = ? or account_id = '*') order by 1, 2",
            [day],
        )
    bad = [f"{p} {a} until {r}" for p, a, r in open_]
    numbers = {"deferred": len(bad), "slices": bad[:20]}
    if bad:
        return GateResult(
            "no_deferred_pulls", False, f"{len(bad)} deferred pulls open: {_listed(bad)}", numbers
        )
    return GateResult("no_deferred_pulls", True, "no deferred pull open", numbers)


def gate_mart_published(cur: Any, day: date, pub: Published) -> GateResult:
    """The published mart has rows for D."""
    (n,) = cur.execute(
        f"select count(*) from analytics.mart_marketing_roi_daily where report_date = ? and {Published.MART_FILTER}",
        [day, *pub.params()],
    ).fetchone()
    detail = f"{n} published mart rows for {day} ({pub.attribution_version}, {pub.spend_definition}, {pub.signup_definition})"
    return GateResult("mart_published", n > 0, detail, {"rows": int(n)})


SQL_GATES: tuple[tuple[str, Callable[[Any, date, Published], GateResult]], ...] = (
    ("mart_published", gate_mart_published),
    ("pulls_complete", gate_pulls_complete),
    ("spend_matches_raw", gate_spend_matches_raw),
    ("account_totals", gate_account_totals),
    ("signups_conserved", gate_signups_conserved),
    ("credit_sums_to_one", gate_credit_sums_to_one),
    ("fx_present", gate_fx_present),
    ("dead_letters_below_ceiling", gate_dead_letters),
    ("no_deferred_pulls", gate_no_deferred_pulls),
)
GATE_NAMES = ("soda", *(name for name, _ in SQL_GATES))


def run_gates(cur: Any, day: date, pub: Published) -> list[GateResult]:
    """Every gate on day D, in :data:`GATE_NAMES` order. A gate that errors fails, naming the error."""
    results = [gate_soda(day)]
    for name, gate in SQL_GATES:
        try:
            results.append(gate(cur, day, pub))
        except Exception as exc:  # a missing table or a bad query fails the gate, never passes it
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            results.append(GateResult(name, False, f"the gate could not run: {first[:200]}", {}))
    return results
