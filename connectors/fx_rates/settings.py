"""FX constants."""

from connector_sdk.specs import ConnectorSettings

DEFAULT_HOST = "https://api.frankfurter.dev"
BASE = "USD"
SYMBOLS = ("EUR", "GBP")  # the account currencies we convert; SOURCES__FX_RATES__SYMBOLS overrides

SETTINGS = ConnectorSettings(
    lookback_days=7,
    max_span_days=1,  # one request per rate date: the answer's `date` is that day's published date
    page_size=1,
    requests_per_second=10.0,
    max_concurrency=4,
)
