-- Campaign versions of impact (one shape for every platform: macro stg_campaigns).
{{ stg_campaigns('impact') }}
