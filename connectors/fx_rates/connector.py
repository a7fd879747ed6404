"""FX rates connector. Each rate date is asked on its own (``/v1/{date}``) because the answer
names the business day whose rates it gave (``date``): weekends and holidays answer with the
last business day, a not-yet-published day with the latest one. That ``published_date`` is
kept, so a provisional rate is replaced when the real one is published (the slice is
(base, rate_date) and is re-pulled by the lookback)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date

import pyarrow as pa

from connector_sdk import Account, Connector, DateWindow, ReportSpec, register
from connector_sdk.base import loader
from connectors.fx_rates import settings as S

REPORT_SCHEMA = pa.schema(
    [
        ("rate_date", pa.date32()),
        ("base", pa.string()),
        ("currency", pa.string()),
        ("rate", pa.float64()),
        ("published_date", pa.date32()),
    ]
)


@register
class FxRatesConnector(Connector):
    """Reference rates (units per 1 USD) per rate date and currency."""

    name = "fx_rates"
    default_host = S.DEFAULT_HOST
    report = ReportSpec(
        table="rates",
        full_name="fx_rates",
        schema=REPORT_SCHEMA,
        grain=("base", "rate_date", "currency"),
        slice_columns=("base", "rate_date"),
        spend_column="rate",
    )
    credential_keys = ()
    optional_credential_keys = ("symbols",)
    lookback_days = S.LOOKBACK_DAYS
    max_span_days = S.MAX_SPAN_DAYS
    page_size = S.PAGE_SIZE
    requests_per_second = S.REQUESTS_PER_SECOND
    max_concurrency = S.MAX_CONCURRENCY

    @classmethod
    def contract_fatal_credentials(cls, credentials: Mapping[str, str]) -> dict[str, str]:
        """A public API has no credentials to get wrong: ask for a currency that does not exist."""
        return {"symbols": "XXX"}

    def symbols(self) -> list[str]:
        """Currencies to fetch."""
        raw = self.optional_credential("symbols")
        return [s.strip().upper() for s in raw.split(",") if s.strip()] if raw else list(S.SYMBOLS)

    def list_accounts(self) -> list[Account]:
        """One pseudo-account: the base currency (rate dates are calendar days, UTC)."""
        return [Account(S.BASE, "UTC", S.BASE)]

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """One table per rate date."""
        for day in window.dates():
            body = self.get_json(None, f"/v1/{day.isoformat()}",
                                 params={"base": S.BASE, "symbols": ",".join(self.symbols())})  # fmt: skip
            rates = body.get("rates", {})
            published = date.fromisoformat(body["date"])
            cur = sorted(rates)
            yield self.page_table(
                {
                    "rate_date": [day] * len(cur),
                    "base": [body.get("base", S.BASE)] * len(cur),
                    "currency": cur,
                    "rate": [float(rates[c]) for c in cur],
                    "published_date": [published] * len(cur),
                }
            )


load_fx_rates = loader(FxRatesConnector)
