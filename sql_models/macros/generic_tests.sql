{#- Fails on every combination of `columns` that occurs more than once (null-safe). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#- Fails on every campaign version whose budget columns disagree: a daily budget exactly when the
    period is daily, positive, with its currency. -#}
{% test budget_columns_agree(model) %}
select *
from {{ model }}
where
    (budget_period = 'daily') != (daily_budget is not null)
    or daily_budget <= 0
    or (daily_budget is not null and budget_currency is null)
{% endtest %}
