-- Reconciliation: for every attribution version and sign-up date it has attributed, the mart's
-- signups + modeled_signups (unattributed rows included) equal the sign-ups in fact_signups
-- (both of the definition versions being built), on the dates the run rebuilt (its window).
with

mart as (

    select
        report_date,
        attribution_version,
        sum(signups + modeled_signups) as mart_signups
    from {{ ref('mart_marketing_roi_daily__staged') }}
    where {{ current_definitions(['spend_definition_version', 'signup_definition_version']) }}
    group by report_date, attribution_version

),

attributed_days as (

    select distinct
        a.attribution_version,
        s.signup_date
    from {{ source('attribution', 'fact_attribution') }} as a
    inner join {{ ref('fact_signups') }} as s on a.signup_id = s.signup_id
    where {{ current_definitions(['signup_definition_version'], 's') }} and {{ in_window('s.signup_date') }}

),

signups as (

    select
        signup_date,
        count(*) as fact_signups
    from {{ ref('fact_signups') }}
    where {{ current_definitions(['signup_definition_version']) }}
    group by signup_date

),

final as (

    select
        d.attribution_version,
        d.signup_date,
        s.fact_signups,
        m.mart_signups
    from attributed_days as d
    inner join signups as s on d.signup_date = s.signup_date
    left join mart as m
        on
            d.signup_date = m.report_date
            and d.attribution_version = m.attribution_version
    where abs(coalesce(m.mart_signups, 0) - s.fact_signups) > 0.000001

)

select * from final
