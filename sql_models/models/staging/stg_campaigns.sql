-- Campaign versions of every platform, from the connectors' dlt scd2 entity tables.
{%- set platforms = ['google_ads', 'meta_ads', 'tiktok_ads', 'apple_search_ads', 'impact'] %}
with

{% for p in platforms %}
{{ p }} as (

    select
        '{{ p }}' as platform,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        name as campaign_name,
        upper(status) as status,
        {{ utc_naive('_dlt_valid_from') }} as valid_from,
        {{ utc_naive('_dlt_valid_to') }} as valid_to
    from {{ source('raw_ads', p ~ '__campaigns') }}

),
{% endfor %}

final as (

    {% for p in platforms %}
    select * from {{ p }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
