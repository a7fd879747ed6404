-- Identity: for every attribution version, mart spend per UTC date and platform equals
-- fact_ad_spend spend (to the micro-dollar), both of the definition versions being built, on
-- the dates the run rebuilt (its window): an attribution version first run by hand for a few
-- days has mart rows only on the dates built since.
with

mart as (

    select
        report_date,
        platform,
        attribution_version,
        sum(spend_usd) as mart_spend
    from {{ ref('mart_marketing_roi_daily__staged') }}
    where
        {{ current_definitions(['spend_definition_version', 'signup_definition_version']) }}
        and {{ in_window('report_date') }}
    group by report_date, platform, attribution_version

),

fact as (

    select
        spend_date as report_date,
        platform,
        sum(spend_usd) as fact_spend
    from {{ ref('fact_ad_spend') }}
    where {{ current_definitions(['spend_definition_version']) }} and {{ in_window('spend_date') }}
    group by spend_date, platform

),

versions as (

    select distinct attribution_version from {{ ref('mart_marketing_roi_daily__staged') }}
    where {{ current_definitions(['spend_definition_version', 'signup_definition_version']) }}

),

expected as (

    select
        f.*,
        v.attribution_version
    from fact as f
    cross join versions as v

),

final as (

    select
        coalesce(e.report_date, m.report_date) as report_date,
        coalesce(e.platform, m.platform) as platform,
        coalesce(e.attribution_version, m.attribution_version) as attribution_version,
        coalesce(e.fact_spend, 0) as fact_spend,
        coalesce(m.mart_spend, 0) as mart_spend
    from expected as e
    full outer join mart as m
        on
            e.report_date = m.report_date
            and e.platform = m.platform
            and e.attribution_version = m.attribution_version
    where abs(coalesce(e.fact_spend, 0) - coalesce(m.mart_spend, 0)) > 0.000001

)

select * from final
