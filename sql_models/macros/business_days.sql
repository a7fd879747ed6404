{#- For each date in `days` (a CTE with column `day_col`), the last FX business day on or
    before it (weekends and TARGET holidays, seed fx_holidays, have no reference rate).
    Returns a select with columns <day_col>, last_business_day. -#}
{% macro last_business_days(days, day_col) -%}
    select d.{{ day_col }}, max(c.candidate) as last_business_day
    from {{ days }} as d
    inner join (
        select distinct
            n.{{ day_col }},
            cast({{ dbt.dateadd('day', '-1 * o.k', 'n.' ~ day_col) }} as date) as candidate
        from {{ days }} as n
        cross join (
            select 0 as k union all select 1 union all select 2 union all select 3
            union all select 4 union all select 5 union all select 6
        ) as o
    ) as c on c.{{ day_col }} = d.{{ day_col }}
    where {{ iso_dow('c.candidate') }} <= 5
        and c.candidate not in (select holiday_date from {{ ref('fx_holidays') }})
    group by d.{{ day_col }}
{%- endmacro %}
