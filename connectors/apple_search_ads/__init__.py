"""Apple Search Ads: ad group x UTC day report per campaign (Campaign Management API v5), entities."""

from connectors.apple_search_ads.connector import AppleSearchAdsConnector, load_apple_search_ads

__all__ = ["AppleSearchAdsConnector", "load_apple_search_ads"]
