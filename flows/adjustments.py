"""Adjustments, never rewrites: dated deltas from a day's latest close to the current mart.

After day D is closed, every run that changes D's published numbers calls
:func:`record_adjustments`, which writes to ``analytics.mart_marketing_roi_adjustments`` the
difference between the current published mart and (latest close + Σ adjustments since that
close), per day x platform x campaign, dated ``adjusted_on`` = the run's logical date. A run
that changes nothing writes nothing, so reruns are idempotent; several runs of one logical date
add into the same dated row (the table's grain is close x date x adjusted-on x platform x
campaign x cause).

How a delta is split into causes (measured per day x platform x campaign; a campaign has one
currency, so the USD/local ratio is its day's rate):

- spend: a change of ``spend_local`` is ``ad_restatement`` (at the current rate); the rest of
  the USD change, the same local amount at a new rate, is ``fx`` (a provisional rate replaced
  by the published one). With local unchanged, a USD change is all ``fx``.
- modeled sign-ups (SKAN postbacks arriving up to 72 h late): ``skan``.
- sign-ups and revenue: ``late_events`` (late landing files, first rides/orders arriving for
  weeks), unless the run says what it is: a re-attribution run passes ``re_attribution``, an
  erasure run ``erasure`` (``run_cause``), and those deltas take that cause.

The invariant, checked by :func:`adjustment_mismatches` after every write (and by the tests):
latest closed + Σ adjustments since that version's close = current published mart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flows.close_store import (
    CURRENT_ROWS_SQL,
    LatestClose,
    current_rows_params,
    ensure_tables,
    latest_closes,
)
from flows.locks import warehouse_step
from flows.published import Published, published
from roi.core.errors import RoiError

CAUSES = ("ad_restatement", "late_events", "skan", "fx", "re_attribution", "erasure")
RUN_CAUSES = ("re_attribution", "erasure")
ZERO = Decimal(0)
MICRO = Decimal("0.000001")
# sign-up credit is a double: a difference below this is rounding, not a change
FLOAT_EPS = 1e-9
# relative change of a campaign-day's USD/local ratio below which it is rounding, not a new rate
RATE_EPS = Decimal("0.00001")

Key = tuple[date, str, str]


@dataclass
class Cell:
    """The measured numbers of one day x platform x campaign."""

    spend_usd: Decimal = ZERO
    spend_local: Decimal = ZERO
    currency: str | None = None
    signups: float = 0.0
    modeled_signups: float = 0.0
    revenue_usd: Decimal = ZERO

    def add(self, other: Cell) -> None:
        """Add ``other``'s numbers into this cell (keeps the first currency seen)."""
        self.spend_usd += other.spend_usd
        self.spend_local += other.spend_local
        self.currency = self.currency or other.currency
        self.signups += other.signups
        self.modeled_signups += other.modeled_signups
        self.revenue_usd += other.revenue_usd


class InvariantBroken(RoiError):
    """Latest closed + Σ adjustments differs from the current published mart."""


def _dec(v: Any) -> Decimal:
    return ZERO if v is None else Decimal(str(v))


def _cell(spend_usd: Any, spend_local: Any, currency: Any, signups: Any, modeled: Any, revenue: Any) -> Cell:
    return Cell(
        _dec(spend_usd),
        _dec(spend_local),
        None if currency is None else str(currency),
        float(signups or 0),
        float(modeled or 0),
        _dec(revenue),
    )


def current_cells(cur: Any, days: Iterable[date], pub: Published) -> dict[Key, Cell]:
    """The current published mart (with local spend) of ``days``."""
    out: dict[Key, Cell] = {}
    for day in days:
        for r in cur.execute(CURRENT_ROWS_SQL, current_rows_params(day, pub)).fetchall():
            # columns: see CURRENT_ROWS_SQL (0 date, 1 platform, 2 campaign, 7 usd, 8 local, 9 currency,
            # 13 signups, 14 modeled, 16 revenue)
            out[(r[0], str(r[1]), str(r[2]))] = _cell(r[7], r[8], r[9], r[13], r[14], r[16])
    return out


def baseline_cells(cur: Any, closes: dict[date, LatestClose]) -> dict[Key, Cell]:
    """Latest closed rows + Σ adjustments since that close, of the closed days."""
    out: dict[Key, Cell] = {}
    for close in closes.values():
        closed = cur.execute(
            "select report_date, platform, campaign_id, spend_usd, spend_local, currency, signups, "
            "modeled_signups, revenue_usd from analytics.mart_marketing_roi_closed where close_id = ?",
            [close.close_id],
        ).fetchall()
        adjusted = cur.execute(
            "select report_date, platform, campaign_id, delta_spend_usd, delta_spend_local, currency, "
            "delta_signups, delta_modeled_signups, delta_revenue_usd "
            "from analytics.mart_marketing_roi_adjustments where close_id = ?",
            [close.close_id],
        ).fetchall()
        for r in [*closed, *adjusted]:
            out.setdefault((r[0], str(r[1]), str(r[2])), Cell()).add(_cell(*r[3:]))
    return out


def _spend_split(cur_cell: Cell, base: Cell) -> dict[str, tuple[Decimal, Decimal]]:
    """(delta USD, delta local) of ``ad_restatement`` and ``fx`` (see the module docstring)."""
    d_usd = cur_cell.spend_usd - base.spend_usd
    d_local = cur_cell.spend_local - base.spend_local
    out: dict[str, tuple[Decimal, Decimal]] = {}
    if d_local == ZERO:
        if d_usd != ZERO:
            out["fx"] = (d_usd, ZERO)
        return out
    restated_usd = d_usd
    if cur_cell.spend_local != ZERO and base.spend_local != ZERO:
        cur_rate = cur_cell.spend_usd / cur_cell.spend_local
        base_rate = base.spend_usd / base.spend_local
        # per-row rounding to micro-dollars moves the ratio a little: only a real rate change is fx
        if abs(cur_rate - base_rate) > RATE_EPS * abs(base_rate):
            # the local change at the current rate; the rest of the USD change is the rate change
            restated_usd = (d_local * cur_rate).quantize(MICRO)
    out["ad_restatement"] = (restated_usd, d_local)
    if d_usd - restated_usd != ZERO:
        out["fx"] = (d_usd - restated_usd, ZERO)
    return out


def split_delta(cur_cell: Cell, base: Cell, run_cause: str | None = None) -> dict[str, Cell]:
    """The delta from ``base`` to ``cur_cell``, by cause; causes with no change are left out."""
    out: dict[str, Cell] = {}
    currency = cur_cell.currency or base.currency
    for cause, (usd, local) in _spend_split(cur_cell, base).items():
        out[cause] = Cell(spend_usd=usd, spend_local=local, currency=currency)
    d_modeled = cur_cell.modeled_signups - base.modeled_signups
    if abs(d_modeled) > FLOAT_EPS:
        out["skan"] = Cell(modeled_signups=d_modeled, currency=currency)
    d_signups = cur_cell.signups - base.signups
    d_revenue = cur_cell.revenue_usd - base.revenue_usd
    if abs(d_signups) > FLOAT_EPS or d_revenue != ZERO:
        cause = run_cause if run_cause in RUN_CAUSES else "late_events"
        out[cause] = Cell(signups=d_signups, revenue_usd=d_revenue, currency=currency)
    return out


def _closes_in(cur: Any, days: tuple[date, date] | None) -> dict[date, LatestClose]:
    """The latest close of every closed day, or of those in the half-open range ``days``."""
    closes = latest_closes(cur)
    return closes if days is None else {d: c for d, c in closes.items() if days[0] <= d < days[1]}


def _deltas(
    cur: Any, pub: Published, run_cause: str | None, days: tuple[date, date] | None
) -> tuple[list[tuple[Any, ...]], dict[date, LatestClose]]:
    """(close_id, day, platform, campaign, cause, cell) of every change since the closes."""
    closes = _closes_in(cur, days)
    current = current_cells(cur, closes, pub)
    base = baseline_cells(cur, closes)
    rows = []
    for key in sorted(set(current) | set(base)):
        for cause, cell in split_delta(current.get(key, Cell()), base.get(key, Cell()), run_cause).items():
            rows.append((closes[key[0]].close_id, *key, cause, cell))
    return rows, closes


def _write(cur: Any, rows: list[tuple[Any, ...]], adjusted_on: date) -> None:
    """Add the deltas into their dated rows (one row per close x day x adjusted-on x cell x cause)."""
    now = datetime.now(UTC).replace(tzinfo=None)  # when it was recorded, not which data
    for close_id, day, platform, campaign, cause, cell in rows:
        key = [close_id, day, adjusted_on, platform, campaign, cause]
        where = "close_id = ? and report_date = ? and adjusted_on = ? and platform = ? and campaign_id = ? and cause = ?"
        old = cur.execute(
            "select delta_spend_usd, delta_spend_local, currency, delta_signups, delta_modeled_signups, "
            f"delta_revenue_usd from analytics.mart_marketing_roi_adjustments where {where}",
            key,
        ).fetchall()
        for r in old:
            cell.add(_cell(*r))
        cur.execute(f"delete from analytics.mart_marketing_roi_adjustments where {where}", key)
        cur.execute(
            "insert into analytics.mart_marketing_roi_adjustments (close_id, report_date, adjusted_on, "
            "platform, campaign_id, cause, delta_spend_usd, delta_spend_local, currency, delta_signups, "
            "delta_modeled_signups, delta_revenue_usd, recorded_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                *key,
                cell.spend_usd,
                cell.spend_local,
                cell.currency,
                cell.signups,
                cell.modeled_signups,
                cell.revenue_usd,
                now,
            ],
        )


def adjustment_mismatches(
    cur: Any, pub: Published | None = None, days: tuple[date, date] | None = None
) -> list[dict[str, Any]]:
    """Every day x platform x campaign where latest closed + Σ adjustments differs from the mart
    (of every closed day, or of those in the half-open range ``days``)."""
    pub = pub or published()
    ensure_tables(cur)
    closes = _closes_in(cur, days)
    current = current_cells(cur, closes, pub)
    base = baseline_cells(cur, closes)
    out = []
    for key in sorted(set(current) | set(base)):
        c, b = current.get(key, Cell()), base.get(key, Cell())
        if split_delta(c, b):
            out.append(
                {
                    "report_date": key[0],
                    "platform": key[1],
                    "campaign_id": key[2],
                    "current_spend_usd": c.spend_usd,
                    "closed_plus_adjusted_spend_usd": b.spend_usd,
                    "current_signups": c.signups,
                    "closed_plus_adjusted_signups": b.signups,
                }
            )
    return out


def record_adjustments(
    adjusted_on: date, run_cause: str | None = None, days: tuple[date, date] | None = None
) -> int:
    """Write the adjustments of closed days the last build changed; returns the rows written.

    ``days``: the half-open range of dates the run rebuilt (only those can have changed; None:
    every closed day, e.g. after a change made outside the flows).

    ``run_cause``: ``re_attribution`` or ``erasure`` when the run is one (its sign-up and
    revenue deltas take that cause); None for the regular flows. Raises
    :class:`InvariantBroken` if the invariant does not hold after writing.
    """
    pub = published()
    with warehouse_step("close adjustments") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            ensure_tables(cur)
            rows, closes = _deltas(cur, pub, run_cause, days)
            if not closes:
                return 0
            _write(cur, rows, adjusted_on)
            broken = adjustment_mismatches(cur, pub, days)
        finally:
            cur.close()
    if broken:
        first = broken[0]
        raise InvariantBroken(
            f"closed + adjustments differ from the mart in {len(broken)} cells, first "
            f"{first['report_date']} {first['platform']} {first['campaign_id']}"
        )
    return len(rows)
