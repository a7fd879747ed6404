"""The close without a world: how a delta splits into causes, and a close on an empty warehouse."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from flows.adjustments import Cell, split_delta
from flows.close import attempt_close
from flows.close_store import close_status
from roi.core.warehouse import get_warehouse

D = date(2026, 10, 25)


def _spend(usd: str, local: str) -> Cell:
    return Cell(spend_usd=Decimal(usd), spend_local=Decimal(local), currency="EUR")


def test_no_change_is_no_adjustment() -> None:
    assert split_delta(_spend("110", "100"), _spend("110", "100")) == {}


def test_a_local_restatement_at_the_same_rate_is_all_ad_restatement() -> None:
    out = split_delta(_spend("121", "110"), _spend("110", "100"))
    assert set(out) == {"ad_restatement"}
    assert (out["ad_restatement"].spend_local, out["ad_restatement"].spend_usd) == (Decimal(10), Decimal(11))


def test_a_new_rate_at_the_same_local_spend_is_fx() -> None:
    out = split_delta(_spend("112", "100"), _spend("110", "100"))
    assert set(out) == {"fx"} and out["fx"].spend_usd == Decimal(2) and out["fx"].spend_local == 0


def test_a_restatement_and_a_new_rate_split_and_sum_to_the_change() -> None:
    cur, base = _spend("132", "120"), _spend("105", "100")  # rate 1.05 -> 1.10, local +20
    out = split_delta(cur, base)
    assert out["ad_restatement"].spend_local == Decimal(20)
    assert out["ad_restatement"].spend_usd == Decimal("22.000000")  # +20 at the current rate
    assert out["ad_restatement"].spend_usd + out["fx"].spend_usd == cur.spend_usd - base.spend_usd


def test_signups_are_late_events_modeled_signups_are_skan_unless_the_run_says() -> None:
    base = Cell(signups=10, modeled_signups=1, revenue_usd=Decimal(50))
    cur = Cell(signups=12, modeled_signups=3, revenue_usd=Decimal(70))
    out = split_delta(cur, base)
    assert (out["late_events"].signups, out["late_events"].revenue_usd) == (2, Decimal(20))
    assert out["skan"].modeled_signups == 2
    assert set(split_delta(cur, base, run_cause="erasure")) == {"erasure", "skan"}


def test_a_close_on_an_empty_warehouse_is_blocked_not_a_crash(fresh_warehouse: Path) -> None:
    get_warehouse().bootstrap()
    out = attempt_close(D, datetime(2026, 10, 26, 5))
    assert out.outcome == "blocked" and out.close_version is None
    assert out.message.startswith(f"close of {D} blocked by gate ")
    with get_warehouse().session("test") as wh:
        cur = wh.connection().cursor()
        (status,) = close_status(cur, D, D, datetime(2026, 10, 26, 5, 30))
        cur.close()
    assert status.state == "blocked" and status.attempts == 1
