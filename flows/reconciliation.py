"""Placeholder, replaced on merge by the coarse-report reconciliation (another helper's module).

``account_day_mismatches(cur, day)`` lists every platform x account x day whose fine rows do not
sum to the platform's own coarse account total (empty: reconciled); each dict has platform,
account_id, local_date, fine, coarse, currency. Until the real module lands it reports none.
"""

from __future__ import annotations

from datetime import date
from typing import Any


def account_day_mismatches(cur: Any, day: date) -> list[dict[str, Any]]:
    """No mismatches: placeholder until the coarse reports are merged."""
    return []
