"""FX rates connector. Each rate date is asked on its own (``/v1/{date}``) because the answer
names the business day whose rates it gave (``date``): weekends and holidays answer with the
last business day, a not-yet-published day with the latest one. That ``published_date`` is
kept, so a provisional rate is replaced when the real one is published (the slice is
(base, rate_date) and is re-pulled by the lookback)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date

import pyarrow as pa

from connector_sdk.base import Connector, loader
from connector_sdk.registry import register
from connector_sdk.specs import Account, Field, ReportSpec
from connector_sdk.windows import DateWindow
from connectors.fx_rates import settings as S

# One row per currency of an answer; the date columns and the base are the answer's.
REPORT = ReportSpec(
    table="rates",
    full_name="fx_rates",
    fields=(
        Field("rate_date", type=pa.date32()),
        Field("base"),
        Field("currency", "currency"),
        Field("rate", "rate", float, type=pa.float64()),
        Field("published_date", type=pa.date32()),
    ),
    grain=("base", "rate_date", "currency"),
    slice_columns=("base", "rate_date"),
    spend_column="rate",
)


@register
class FxRatesConnector(Connector):
    """Reference rates (units per 1 USD) per rate date and currency."""

    name = "fx_rates"
    default_host = S.DEFAULT_HOST
    report = REPORT
    settings = S.SETTINGS
    optional_credential_keys = ("symbols",)

    @classmethod
    def contract_fatal_credentials(cls, credentials: Mapping[str, str]) -> dict[str, str]:
        """A public API has no credentials to get wrong: ask for a currency that does not exist."""
        return {"symbols": "XXX"}

    def symbols(self) -> list[str]:
        """Currencies to fetch."""
        raw = self.credentials.optional("symbols")
        return [s.strip().upper() for s in raw.split(",") if s.strip()] if raw else list(S.SYMBOLS)

    def list_accounts(self) -> list[Account]:
        """One pseudo-account: the base currency (rate dates are calendar days, UTC)."""
        return [Account(S.BASE, "UTC", S.BASE)]

    def fetch_report(self, account: Account, window: DateWindow) -> Iterator[pa.Table]:
        """One table per rate date."""
        for day in window.dates():
            params = {"base": S.BASE, "symbols": ",".join(self.symbols())}
            body = self.get_json(None, f"/v1/{day.isoformat()}", params=params)
            rates = body.get("rates", {})
            rows = [{"currency": c, "rate": rates[c]} for c in sorted(rates)]
            published = date.fromisoformat(body["date"])
            yield self.report_page(
                rows, account, rate_date=day, base=body.get("base", S.BASE), published_date=published
            )


load_fx_rates = loader(FxRatesConnector)
