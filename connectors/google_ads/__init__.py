"""Google Ads: ad performance at ad x hour (GoogleAdsService ``search``), campaigns and ad groups."""

from connectors.google_ads.connector import GoogleAdsConnector, load_google_ads

__all__ = ["GoogleAdsConnector", "load_google_ads"]
