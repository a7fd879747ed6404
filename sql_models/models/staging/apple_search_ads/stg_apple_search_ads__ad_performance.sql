-- Apple Search Ads: ad group x UTC day (pulled with timeZone=UTC); taps -> clicks, no hours, no ads.
with

source as (

    {{ raw_source('apple_search_ads', 'ad_group_performance', [
        ['account_id', 'string'],
        ['campaign_id', 'string'],
        ['ad_group_id', 'string'],
        ['report_date', 'date'],
        ['currency', 'string'],
        ['impressions', 'bigint'],
        ['taps', 'bigint'],
        ['tap_installs', 'bigint'],
        ['local_spend', 'money'],
        ['_load_id', 'string'],
    ]) }}

),

final as (

    select
        'apple_search_ads' as platform,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(ad_group_id as {{ dbt.type_string() }}) as ad_group_id,
        cast(null as {{ dbt.type_string() }}) as ad_id,
        cast(null as {{ dbt.type_string() }}) as keyword,
        cast(report_date as date) as report_date,
        cast(null as integer) as report_hour,
        'UTC' as time_zone,
        cast(cast(report_date as date) as timestamp) as spend_ts,
        'utc_day' as date_basis,
        cast(impressions as bigint) as impressions,
        cast(taps as bigint) as clicks,
        cast(tap_installs as decimal(18, 4)) as platform_conversions,
        cast(local_spend as decimal(38, 6)) as spend_local,
        upper(currency) as currency,
        _load_id,
        cast(report_date as date) as spend_date,
        cast(null as integer) as spend_hour
    from source

)

select * from final
