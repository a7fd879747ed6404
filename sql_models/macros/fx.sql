{#- The USD rate of each (day, currency) in `needs` (a CTE with columns `day_col`, currency):
    the reference rate of the day, else of the latest day before it (weekends and holidays have
    none; a day not yet published takes the latest one). fx_rate_date says which day's rate was
    used, so a provisional rate is visible and is replaced when the day's own rate arrives.
    Returns a select with columns <day_col>, currency, rate, fx_rate_date. -#}
{% macro fx_day_rates(needs, day_col) -%}
    select {{ day_col }}, currency, rate, fx_rate_date
    from (
        select
            n.{{ day_col }},
            n.currency,
            r.rate,
            r.fx_rate_date,
            row_number() over (partition by n.{{ day_col }}, n.currency order by r.rate_date desc) as rate_rank
        from {{ needs }} as n
        inner join {{ ref('stg_fx_rates__rates') }} as r
            on r.currency = n.currency
            and r.rate_date <= n.{{ day_col }}
    ) as ranked
    where rate_rank = 1
{%- endmacro %}
