-- Google Ads campaign versions, in the one shape of every platform (macro stg_campaigns).
{{ stg_campaigns('google_ads') }}
