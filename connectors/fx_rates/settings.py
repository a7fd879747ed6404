"""FX constants."""

DEFAULT_HOST = "https://api.frankfurter.dev"
BASE = "USD"
SYMBOLS = ("EUR", "GBP")  # the account currencies we convert; SOURCES__FX_RATES__SYMBOLS overrides
LOOKBACK_DAYS = 7
MAX_SPAN_DAYS = 1  # one request per rate date: the answer's `date` is that day's published date
PAGE_SIZE = 1
REQUESTS_PER_SECOND = 10.0
MAX_CONCURRENCY = 4
