-- Meta Ads campaign versions, in the one shape of every platform (macro stg_campaigns).
{{ stg_campaigns('meta_ads') }}
