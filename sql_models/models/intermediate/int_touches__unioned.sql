{{ config(materialized='ephemeral') }}
-- Every marketing touch candidate before de-duplication: web landings carrying a click id or a
-- known utm_source, and MMP touch callbacks. `identifier` is the id a touch joins users by:
-- anonymous_id for web, device_id for app. The touch id is macro touch_id() over these columns,
-- computed by fact_touchpoints after it narrows to the identifiers a run re-derives.
with

events as (

    select * from {{ ref('stg_events__events') }}

),

mmp_touches as (

    select * from {{ ref('stg_events__mmp_touches') }}

),

utm_sources as (

    select * from {{ ref('utm_source_platforms') }}

),

landings as (

    select
        e.*,
        coalesce(e.gclid, e.fbclid, e.ttclid) as click_id,
        -- a click id decides the platform before utm_source does
        case
            when e.gclid is not null then 'google_ads'
            when e.fbclid is not null then 'meta_ads'
            when e.ttclid is not null then 'tiktok_ads'
            else u.platform
        end as platform
    from events as e
    left join utm_sources as u on e.utm_source = u.utm_source
    where e.event_type = 'landing'

),

web as (

    select
        'web' as source,
        anonymous_id as identifier,
        event_ts as touch_ts,
        'click' as touch_type,
        platform,
        utm_campaign as campaign_id,
        -- Impact links carry the media partner in utm_content, the others the ad id
        case when platform = 'impact' then utm_content end as ad_group_id,
        case when platform <> 'impact' then utm_content end as ad_id,
        click_id,
        event_id,
        received_at,
        event_date,
        received_date,
        _load_id
    from landings
    where platform is not null

),

app as (

    select
        'mmp' as source,
        device_id as identifier,
        touch_ts,
        touch_type,
        platform,
        campaign_id,
        ad_group_id,
        ad_id,
        cast(null as {{ dbt.type_string() }}) as click_id,
        event_id,
        received_at,
        cast(touch_ts as date) as event_date,
        cast(received_at as date) as received_date,
        _load_id
    from mmp_touches

),

final as (

    select * from web
    union all
    select * from app

)

select * from final
