-- Meta Ads conversions: ad x account-local day, from the report without the hourly breakdown
-- (Meta gives no conversions per hour). The day stays the account's local day: it cannot be
-- moved to UTC without hours.
with

source as (

    {{ raw_source('meta_ads', 'ad_conversions_daily', [
        ['account_id', 'string'],
        ['campaign_id', 'string'],
        ['ad_group_id', 'string'],
        ['ad_id', 'string'],
        ['report_date', 'date'],
        ['time_zone', 'string'],
        ['conversions', 'double'],
        ['_load_id', 'string'],
    ]) }}

),

final as (

    select
        'meta_ads' as platform,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(ad_group_id as {{ dbt.type_string() }}) as ad_group_id,
        cast(ad_id as {{ dbt.type_string() }}) as ad_id,
        cast(report_date as date) as conversion_date,
        'local_day' as date_basis,
        cast(coalesce(conversions, 0) as decimal(18, 4)) as conversions,
        _load_id
    from source

)

select * from final
