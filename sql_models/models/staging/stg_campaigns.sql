-- Campaign versions of every platform, from the connectors' dlt scd2 entity tables
-- (`<platform>__campaigns`, validity in _dlt_valid_from / _dlt_valid_to). A platform whose
-- entities were never pulled yet (only backfills so far) contributes no rows.
{%- set platforms = ['google_ads', 'meta_ads', 'tiktok_ads', 'apple_search_ads', 'impact'] %}
with

{% for p in platforms %}
{{ p }}_source as (

    {{ raw_source('raw_ads', p ~ '__campaigns', [
        ['account_id', 'string'],
        ['campaign_id', 'string'],
        ['name', 'string'],
        ['status', 'string'],
        ['_dlt_valid_from', 'ts'],
        ['_dlt_valid_to', 'ts'],
        ['_load_id', 'string'],
    ]) }}

),

{{ p }} as (

    select
        '{{ p }}' as platform,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        name as campaign_name,
        upper(status) as status,
        {{ utc_naive('_dlt_valid_from') }} as valid_from,
        {{ utc_naive('_dlt_valid_to') }} as valid_to,
        _load_id
    from {{ p }}_source

),
{% endfor %}

final as (

    {% for p in platforms %}
    select * from {{ p }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
