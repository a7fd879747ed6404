-- Google Ads ad performance: ad x account-local hour, cost in micros -> one spend shape in UTC.
with

source as (

    {{ raw_source('google_ads', 'ad_performance', [
        ['account_id', 'string'],
        ['campaign_id', 'string'],
        ['ad_group_id', 'string'],
        ['ad_id', 'string'],
        ['report_date', 'date'],
        ['report_hour', 'integer'],
        ['currency', 'string'],
        ['time_zone', 'string'],
        ['impressions', 'bigint'],
        ['clicks', 'bigint'],
        ['cost_micros', 'bigint'],
        ['conversions', 'double'],
        ['_load_id', 'string'],
    ]) }}

),

renamed as (

    select
        'google_ads' as platform,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(ad_group_id as {{ dbt.type_string() }}) as ad_group_id,
        cast(ad_id as {{ dbt.type_string() }}) as ad_id,
        cast(null as {{ dbt.type_string() }}) as keyword,
        cast(report_date as date) as report_date,
        cast(report_hour as integer) as report_hour,
        time_zone,
        {{ local_hour_to_utc('report_date', 'report_hour', 'time_zone') }} as spend_ts,
        'utc_hour' as date_basis,
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks,
        cast(conversions as decimal(18, 4)) as platform_conversions,
        -- micros are exact integers: scale them without going through floating point
        cast(cast(cost_micros as decimal(38, 6)) * 0.000001 as decimal(38, 6)) as spend_local,
        upper(currency) as currency,
        _load_id
    from source

),

final as (

    select
        *,
        cast(spend_ts as date) as spend_date,
        cast(extract(hour from spend_ts) as integer) as spend_hour
    from renamed

)

select * from final
