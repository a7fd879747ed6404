-- SKAdNetwork postbacks, one row per postback_id (a re-sent postback counts once).
with

source as (

    {{ raw_source('events', 'skan_postbacks', [
        ['event_id', 'string'],
        ['event_ts', 'ts'],
        ['received_at', 'ts'],
        ['postback_id', 'string'],
        ['ad_network_id', 'string'],
        ['platform', 'string'],
        ['source_identifier', 'string'],
        ['conversion_value', 'bigint'],
        ['coarse_conversion_value', 'string'],
        ['postback_sequence', 'bigint'],
        ['did_win', 'boolean'],
        ['_load_id', 'string', ['_load_id', '_dlt_load_id']],
    ]) }}

),

ranked as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(postback_id as {{ dbt.type_string() }}) as postback_id,
        ad_network_id,
        platform,
        cast(source_identifier as {{ dbt.type_string() }}) as source_identifier,
        cast(conversion_value as integer) as conversion_value,
        coarse_conversion_value,
        cast(postback_sequence as integer) as postback_sequence,
        cast(did_win as boolean) as did_win,
        {{ utc_naive('received_at') }} as received_at,
        _load_id,
        row_number() over (
            partition by postback_id order by {{ utc_naive('received_at') }}, event_id
        ) as copy_rank
    from source

),

final as (

    select
        event_id,
        postback_id,
        ad_network_id,
        platform,
        source_identifier,
        conversion_value,
        coarse_conversion_value,
        postback_sequence,
        did_win,
        received_at,
        _load_id
    from ranked
    where copy_rank = 1

)

select * from final
