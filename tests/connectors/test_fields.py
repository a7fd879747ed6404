"""Field maps: a report page from wire rows (dicts or Arrow) is what the declarations say."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pyarrow as pa
import pytest

from connector_sdk.extract import entity_rows, page_values, report_page
from connector_sdk.specs import PAGE, Account, Field, ReportSpec

REPORT = ReportSpec(
    table="t",
    fields=(
        Field("account_id"),
        Field("ad_id", "ad.id", str),
        Field("report_date", "day", date.fromisoformat, type=pa.date32()),
        Field("currency", "money.currency", default=PAGE),
        Field("clicks", "metrics.clicks", int, default=0, type=pa.int64()),
        Field("spend", "money.amount", str, default="0", type=pa.decimal128(18, 6)),
    ),
    grain=("account_id", "ad_id", "report_date"),
)
ACCOUNT = Account("a1", "UTC", "EUR")


def test_rows_follow_paths_and_defaults() -> None:
    """Nested paths are read; a missing, null or empty value takes the default (or the page's value)."""
    rows = [
        {
            "ad": {"id": 7},
            "day": "2026-10-20",
            "money": {"currency": "USD", "amount": "1.25"},
            "metrics": {"clicks": "3"},
        },
        {"ad": {"id": "8"}, "day": "2026-10-21", "money": {"currency": ""}, "metrics": {"clicks": None}},
    ]
    page = report_page(REPORT, rows, page_values(ACCOUNT))
    assert page.schema == REPORT.schema
    assert page.to_pylist() == [
        {
            "account_id": "a1",
            "ad_id": "7",
            "report_date": date(2026, 10, 20),
            "currency": "USD",
            "clicks": 3,
            "spend": Decimal("1.25"),
        },
        {
            "account_id": "a1",
            "ad_id": "8",
            "report_date": date(2026, 10, 21),
            "currency": "EUR",
            "clicks": 0,
            "spend": Decimal("0"),
        },
    ]


def test_a_missing_required_key_is_an_error() -> None:
    """A row without a required key (an id) fails loudly instead of landing a null key."""
    with pytest.raises(KeyError, match="ad"):
        report_page(REPORT, [{"day": "2026-10-20"}], page_values(ACCOUNT))


def test_arrow_rows_are_read_column_wise() -> None:
    """Arrow struct rows from a decoder: cast to the declared types, omitted values defaulted, absent paths null."""
    rows = pa.array([{"ad": {"id": "9"}, "day": "2026-10-20", "metrics": {"clicks": None}}])
    report = ReportSpec("t", REPORT.fields[:3] + (REPORT.fields[4],), grain=("ad_id",))
    assert report_page(report, rows, page_values(ACCOUNT)).to_pylist() == [
        {"account_id": "a1", "ad_id": "9", "report_date": date(2026, 10, 20), "clicks": 0}
    ]


def test_entity_rows_take_alternatives_and_page_values() -> None:
    """A tuple of paths takes the first with a value; path-less fields take the page's value or their default."""
    fields = (Field("status", ("effective", "status"), default=None), Field("objective", default="installs"))
    rows = entity_rows(
        fields, [{"status": "ON"}, {"effective": "PAUSED", "status": "ON"}], page_values(ACCOUNT)
    )
    assert [(r["account_id"], r["status"], r["objective"]) for r in rows] == [
        ("a1", "ON", "installs"),
        ("a1", "PAUSED", "installs"),
    ]
