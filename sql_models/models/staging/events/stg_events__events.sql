-- Product events (already one row per event_id), timestamps as naive UTC.
with

source as (

    {{ raw_source('events', 'events', [
        ['event_id', 'string'],
        ['event_type', 'string'],
        ['event_ts', 'ts'],
        ['received_at', 'ts'],
        ['schema_version', 'bigint'],
        ['anonymous_id', 'string'],
        ['utm_source', 'string'],
        ['utm_medium', 'string'],
        ['utm_campaign', 'string'],
        ['utm_content', 'string'],
        ['utm_term', 'string'],
        ['gclid', 'string'],
        ['fbclid', 'string'],
        ['ttclid', 'string'],
        ['device_id', 'string'],
        ['device_platform', 'string'],
        ['user_id', 'string'],
        ['country', 'string'],
        ['is_test_account', 'boolean'],
        ['revenue', 'double'],
        ['currency', 'string'],
        ['from_user_id', 'string'],
        ['to_user_id', 'string'],
        ['_file_key', 'string'],
        ['_line_no', 'integer'],
        ['_load_id', 'string', ['_load_id', '_dlt_load_id']],
    ]) }}

),

final as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        event_type,
        {{ utc_naive('event_ts') }} as event_ts,
        {{ utc_naive('received_at') }} as received_at,
        cast({{ utc_naive('event_ts') }} as date) as event_date,
        cast({{ utc_naive('received_at') }} as date) as received_date,
        anonymous_id,
        device_id,
        lower(device_platform) as device_platform,
        user_id,
        country,
        coalesce(cast(is_test_account as boolean), false) as is_test_account,
        lower(utm_source) as utm_source,
        utm_medium,
        cast(utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(utm_content as {{ dbt.type_string() }}) as utm_content,
        utm_term,
        gclid,
        fbclid,
        ttclid,
        cast(revenue as decimal(38, 6)) as revenue,
        upper(currency) as currency,
        from_user_id,
        to_user_id,
        _load_id
    from source

)

select * from final
