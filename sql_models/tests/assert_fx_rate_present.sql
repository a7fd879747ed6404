-- FX completeness: spend in a foreign currency must have a USD rate, and for every day before
-- the day before the run's logical date (as_of_date; default: the last spend date) that rate
-- must be the final one, of the day's last business day (fx_expected_rate_date). An older
-- rate means a published rate is missing from raw_ads.fx_rates: the run fails rather than
-- converting at a stale rate.
{%- set as_of = as_of_date() %}
with

spend as (

    select * from {{ ref('fact_ad_spend') }}
    where currency <> 'USD' and {{ current_definitions(['spend_definition_version']) }}

),

cutoff as (

    {% if as_of is not none %}
    select cast({{ dbt.dateadd('day', -1, "cast('" ~ as_of ~ "' as date)") }} as date) as required_before
    {% else %}
    select cast({{ dbt.dateadd('day', -1, 'max(spend_date)') }} as date) as required_before
    from {{ ref('fact_ad_spend') }}
    {% endif %}

),

final as (

    select
        s.spend_date,
        s.currency,
        s.fx_rate_date,
        s.fx_expected_rate_date,
        count(*) as spend_rows
    from spend as s
    cross join cutoff as c
    where
        s.spend_usd is null
        or (s.spend_date < c.required_before and s.fx_rate_date < s.fx_expected_rate_date)
    group by s.spend_date, s.currency, s.fx_rate_date, s.fx_expected_rate_date

)

select * from final
