{{
  config(
    materialized='incremental',
    incremental_strategy=incremental_strategy(),
    unique_key=['conversion_key', 'spend_definition_version'],
    on_schema_change='append_new_columns',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ current_definitions(['spend_definition_version']) }}{% else %}select 1{% endif %}"
  )
}}
-- Platform conversions of the platforms that give them per account-local day only (Meta: its
-- hourly report carries no conversions). fact_ad_spend keeps those platforms' hourly spend,
-- impressions and clicks with platform_conversions null; the mart reads the day totals here.
-- Rebuilt whole at every run, per spend definition version: a run deletes and rewrites only the
-- rows of the version it builds (key: conversion_key, spend_definition_version), so v1 and a v2
-- stand side by side.
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
