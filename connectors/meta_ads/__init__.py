"""Meta (Facebook/Instagram) Ads: ad insights at ad x hour through async report runs, plus entities."""

from connectors.meta_ads.connector import MetaAdsConnector, load_meta_ads

__all__ = ["MetaAdsConnector", "load_meta_ads"]
