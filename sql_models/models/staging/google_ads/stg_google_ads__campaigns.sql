-- Campaign versions of google_ads (one shape for every platform: macro stg_campaigns).
{{ stg_campaigns('google_ads') }}
