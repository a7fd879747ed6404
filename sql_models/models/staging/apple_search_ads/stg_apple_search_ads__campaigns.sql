-- Campaign versions of apple_search_ads (one shape for every platform: macro stg_campaigns).
{{ stg_campaigns('apple_search_ads') }}
