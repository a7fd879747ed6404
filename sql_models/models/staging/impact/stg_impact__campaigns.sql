-- Impact campaign versions, in the one shape of every platform (macro stg_campaigns).
{{ stg_campaigns('impact') }}
