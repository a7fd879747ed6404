"""Apple Ads (Apple Ads Platform API v1): ad group x UTC day report per campaign, campaigns and ad groups."""

from connectors.apple_search_ads.connector import AppleSearchAdsConnector, load_apple_search_ads

__all__ = ["AppleSearchAdsConnector", "load_apple_search_ads"]
