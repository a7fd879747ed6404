-- MMP touch callbacks (click or view) for app journeys, keyed by device_id.
with

source as (

    {{ raw_source('events', 'mmp_touches', [
        ['event_id', 'string'],
        ['event_ts', 'ts'],
        ['received_at', 'ts'],
        ['device_id', 'string'],
        ['platform', 'string'],
        ['campaign_id', 'string'],
        ['ad_group_id', 'string'],
        ['ad_id', 'string'],
        ['touch_type', 'string'],
        ['touch_ts', 'ts'],
        ['_file_key', 'string'],
        ['_line_no', 'integer'],
        ['_load_id', 'string', ['_load_id', '_dlt_load_id']],
    ]) }}

),

final as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        device_id,
        platform,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(ad_group_id as {{ dbt.type_string() }}) as ad_group_id,
        cast(ad_id as {{ dbt.type_string() }}) as ad_id,
        lower(touch_type) as touch_type,
        {{ utc_naive('touch_ts') }} as touch_ts,
        {{ utc_naive('received_at') }} as received_at,
        _load_id
    from source

)

select * from final
