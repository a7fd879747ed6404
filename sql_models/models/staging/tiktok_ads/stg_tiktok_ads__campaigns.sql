-- Campaign versions of tiktok_ads (one shape for every platform: macro stg_campaigns).
{{ stg_campaigns('tiktok_ads') }}
