-- Campaign versions of meta_ads (one shape for every platform: macro stg_campaigns).
{{ stg_campaigns('meta_ads') }}
