"""TikTok Ads: integrated report at ad x hour (AUCTION_AD, stat_time_hour), campaigns, ad groups, ads."""

from connectors.tiktok_ads.connector import TikTokAdsConnector, load_tiktok_ads

__all__ = ["TikTokAdsConnector", "load_tiktok_ads"]
