"""FX reference rates (Frankfurter-style API over ECB rates): one rate per day and currency."""

from connectors.fx_rates.connector import FxRatesConnector, load_fx_rates

__all__ = ["FxRatesConnector", "load_fx_rates"]
