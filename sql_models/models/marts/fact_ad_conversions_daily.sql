{{ config(materialized='table') }}
-- Platform conversions of the platforms that give them per account-local day only (Meta: its
-- hourly report carries no conversions). fact_ad_spend keeps those platforms' hourly spend,
-- impressions and clicks with platform_conversions null; the mart reads the day totals here.
with

meta as (

    select * from {{ ref('stg_meta_ads__ad_conversions_daily') }}

),

final as (

    select
        {{ surrogate_key(['platform', 'account_id', 'campaign_id', 'ad_group_id', 'ad_id', 'conversion_date']) }}
            as conversion_key,
        platform,
        account_id,
        campaign_id,
        ad_group_id,
        ad_id,
        conversion_date,
        date_basis,
        conversions,
        '{{ var("spend_definition_version") }}' as spend_definition_version,
        _load_id
    from meta

)

select * from final
