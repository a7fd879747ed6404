{{
  config(
    materialized='incremental',
    incremental_strategy=incremental_strategy(),
    unique_key='mart_key',
    on_schema_change='append_new_columns',
    tags=['after_attribution'],
    pre_hook=[
      "{{ delete_window('report_date', ['spend_definition_version', 'signup_definition_version']) }}",
      "{{ delete_placeholder_version() }}"
    ]
  )
}}
-- The candidate mart: built here, checked (dbt identity tests, then the Soda mart contract run
-- against this relation), and only then copied into mart_marketing_roi_daily, the relation
-- readers see, for the run's window (flows: build_mart -> run_checks -> publish_mart).
-- One row per UTC report date x platform x campaign x attribution version x spend and sign-up
-- definition version: spend from fact_ad_spend (the same under every attribution version),
-- sign-ups and revenue from fact_attribution credit; `unattributed` rows carry the credit of
-- sign-ups without a touch, so Σ(signups + modeled_signups) per date and version = the date's
-- rows in fact_signups. Revenue of SKAN-modeled sign-ups is booked on the `unattributed` row,
-- never on the campaign (see `credit_lines`).
with

spend as (

    select * from {{ ref('fact_ad_spend') }}
    where {{ in_window('spend_date') }} and {{ current_definitions(['spend_definition_version']) }}

),

attribution as (

    select * from {{ source('attribution', 'fact_attribution') }}

),

signups as (

    select * from {{ ref('fact_signups') }}
    where {{ in_window('signup_date') }} and {{ current_definitions(['signup_definition_version']) }}

),

campaigns as (

    select * from {{ ref('dim_campaign') }}

),

versions as (

    select distinct attribution_version from attribution
    union
    -- before the first attribution run, spend still shows (under version 'none')
    select 'none' as attribution_version
    where not exists (select 1 from attribution)

),

spend_totals as (

    select
        spend_date as report_date,
        platform,
        campaign_id,
        sum(spend_usd) as spend_usd,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(platform_conversions) as platform_conversions
    from spend
    group by spend_date, platform, campaign_id

),

-- platforms that report conversions per account-local day only (Meta): counted on that day
conversions_daily as (

    select
        conversion_date as report_date,
        platform,
        campaign_id,
        sum(conversions) as platform_conversions
    from {{ ref('fact_ad_conversions_daily') }}
    where {{ in_window('conversion_date') }} and {{ current_definitions(['spend_definition_version']) }}
    group by conversion_date, platform, campaign_id

),

spend_daily as (

    select
        coalesce(s.report_date, c.report_date) as report_date,
        coalesce(s.platform, c.platform) as platform,
        coalesce(s.campaign_id, c.campaign_id) as campaign_id,
        coalesce(s.spend_usd, 0) as spend_usd,
        coalesce(s.impressions, 0) as impressions,
        coalesce(s.clicks, 0) as clicks,
        case
            when s.platform_conversions is not null or c.platform_conversions is not null
                then coalesce(s.platform_conversions, 0) + coalesce(c.platform_conversions, 0)
        end as platform_conversions
    from spend_totals as s
    full outer join conversions_daily as c
        on
            s.report_date = c.report_date
            and s.platform = c.platform
            and s.campaign_id = c.campaign_id

),

spend_by_version as (

    select
        s.*,
        v.attribution_version
    from spend_daily as s
    cross join versions as v

),

credit_rows as (

    select
        s.signup_date as report_date,
        a.platform,
        a.campaign_id,
        a.attribution_version,
        a.method,
        a.credit,
        s.first_revenue_usd
    from attribution as a
    inner join signups as s on a.signup_id = s.signup_id

),

-- Sign-up counts go to the credited campaign. Revenue and first conversions are user-level
-- facts: a SKAN-modeled sign-up's campaign is an arbitrary (hash) pick among the day's pool
-- (docs/attribution.md), so its revenue is booked on the day's `unattributed` row instead of
-- the campaign. The day's revenue total is unchanged; no campaign's ROAS rests on a hash.
credit_lines as (

    select
        report_date,
        platform,
        campaign_id,
        attribution_version,
        case when method in ('deterministic', 'unattributed') then credit else 0 end as signups,
        case when method = 'skan_modeled' then credit else 0 end as modeled_signups,
        0 as first_conversions,
        0 as revenue_usd
    from credit_rows
    union all
    select
        report_date,
        case when method = 'skan_modeled' then 'unattributed' else platform end as platform,
        case when method = 'skan_modeled' then 'unattributed' else campaign_id end as campaign_id,
        attribution_version,
        0 as signups,
        0 as modeled_signups,
        case when first_revenue_usd is not null then credit else 0 end as first_conversions,
        credit * coalesce(first_revenue_usd, 0) as revenue_usd
    from credit_rows

),

credited as (

    select
        report_date,
        platform,
        campaign_id,
        attribution_version,
        sum(signups) as signups,
        sum(modeled_signups) as modeled_signups,
        sum(first_conversions) as first_conversions,
        sum(revenue_usd) as revenue_usd
    from credit_lines
    group by report_date, platform, campaign_id, attribution_version

),

combined as (

    select
        coalesce(s.report_date, c.report_date) as report_date,
        coalesce(s.platform, c.platform) as platform,
        coalesce(s.campaign_id, c.campaign_id) as campaign_id,
        coalesce(s.attribution_version, c.attribution_version) as attribution_version,
        cast(coalesce(s.spend_usd, 0) as decimal(38, 6)) as spend_usd,
        coalesce(s.impressions, 0) as impressions,
        coalesce(s.clicks, 0) as clicks,
        cast(s.platform_conversions as decimal(18, 4)) as platform_conversions,
        cast(coalesce(c.signups, 0) as double) as signups,
        cast(coalesce(c.modeled_signups, 0) as double) as modeled_signups,
        cast(coalesce(c.first_conversions, 0) as double) as first_conversions,
        cast(coalesce(c.revenue_usd, 0) as decimal(38, 6)) as revenue_usd
    from spend_by_version as s
    full outer join credited as c
        on
            s.report_date = c.report_date
            and s.platform = c.platform
            and s.campaign_id = c.campaign_id
            and s.attribution_version = c.attribution_version

),

-- the campaign name valid at the end of the report date; before the first version was seen,
-- the first version's name
named as (

    select
        c.*,
        row_number() over (
            partition by c.report_date, c.platform, c.campaign_id, c.attribution_version
            order by
                case
                    when d.valid_from < {{ dbt.dateadd('day', 1, 'cast(c.report_date as timestamp)') }} then 0
                    else 1
                end,
                case
                    when d.valid_from < {{ dbt.dateadd('day', 1, 'cast(c.report_date as timestamp)') }}
                        then d.valid_from
                end desc,
                d.valid_from
        ) as name_rank,
        d.campaign_name as dim_campaign_name
    from combined as c
    left join campaigns as d
        on
            c.platform = d.platform
            and c.campaign_id = d.campaign_id

),

final as (

    select
        {{ surrogate_key(['report_date', 'platform', 'campaign_id', 'attribution_version',
                          "'" ~ var('spend_definition_version') ~ "'",
                          "'" ~ var('signup_definition_version') ~ "'"]) }} as mart_key,
        report_date,
        platform,
        campaign_id,
        case when platform = 'unattributed' then 'unattributed' else dim_campaign_name end as campaign_name,
        attribution_version,
        '{{ var("spend_definition_version") }}' as spend_definition_version,
        '{{ var("signup_definition_version") }}' as signup_definition_version,
        spend_usd,
        impressions,
        clicks,
        platform_conversions,
        signups,
        modeled_signups,
        first_conversions,
        revenue_usd,
        cast(
            case when signups + modeled_signups > 0 then spend_usd / (signups + modeled_signups) end
            as decimal(38, 6)
        ) as cac_usd,
        case when spend_usd <> 0 then cast(revenue_usd / spend_usd as double) end as roas,
        case when spend_usd <> 0 then cast((revenue_usd - spend_usd) / spend_usd as double) end as roi
    from named
    where name_rank = 1

)

select * from final
