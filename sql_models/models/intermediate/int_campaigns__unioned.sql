{{ config(materialized='view') }}
-- Campaign versions of every ad platform (var ad_platforms): the union of the platforms'
-- stg_<platform>__campaigns, which share one shape (macro stg_campaigns).
{%- set columns = [
    'platform', 'account_id', 'campaign_id', 'campaign_name', 'status',
    'budget_period', 'daily_budget', 'lifetime_budget', 'budget_currency',
    'valid_from', 'valid_to', '_load_id',
] %}
with

{% for p in var('ad_platforms') %}
{{ p }} as (

    select * from {{ ref('stg_' ~ p ~ '__campaigns') }}

),

{% endfor %}
final as (

    {% for p in var('ad_platforms') %}
    select {{ columns | join(', ') }} from {{ p }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
