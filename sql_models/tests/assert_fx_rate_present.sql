-- FX completeness: spend in a foreign currency must have a USD rate, and for every day before
-- the day before the run's logical date that rate must be the one of the day's last business
-- day (weekend / TARGET holiday -> the business day before). Anything older means a published
-- rate is missing from raw_ads.fx_rates: the run fails instead of silently converting wrong.
{%- set as_of = as_of_date() %}
with

spend as (

    select * from {{ ref('fact_ad_spend') }} where currency <> 'USD'

),

holidays as (

    select * from {{ ref('fx_holidays') }}

),

cutoff as (

    {% if as_of is not none %}
    select {{ dbt.dateadd('day', -1, "cast('" ~ as_of ~ "' as date)") }} as required_before
    {% else %}
    select cast({{ dbt.dateadd('day', -1, 'max(spend_date)') }} as date) as required_before from {{ ref('fact_ad_spend') }}
    {% endif %}

),

offsets as (

    select 0 as k union all select 1 union all select 2 union all select 3
    union all select 4 union all select 5 union all select 6

),

days as (

    select distinct spend_date from spend

),

business_days as (

    select
        d.spend_date,
        max(cast({{ dbt.dateadd('day', '-1 * o.k', 'd.spend_date') }} as date)) as last_business_day
    from days as d
    cross join offsets as o
    where {{ iso_dow(dbt.dateadd('day', '-1 * o.k', 'd.spend_date')) }} <= 5
        and cast({{ dbt.dateadd('day', '-1 * o.k', 'd.spend_date') }} as date)
            not in (select holiday_date from holidays)
    group by d.spend_date

),

final as (

    select
        s.spend_date,
        s.currency,
        s.fx_rate_date,
        b.last_business_day,
        count(*) as spend_rows
    from spend as s
    inner join business_days as b on b.spend_date = s.spend_date
    cross join cutoff as c
    where s.spend_usd is null
        or (s.spend_date < c.required_before and s.fx_rate_date < b.last_business_day)
    group by s.spend_date, s.currency, s.fx_rate_date, b.last_business_day

)

select * from final
