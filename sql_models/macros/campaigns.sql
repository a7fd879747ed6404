{#- The body of every stg_<platform>__campaigns model: the platform's campaign versions from the
    connector's dlt scd2 entity table (source `<platform>`, table `campaigns`; validity in
    _dlt_valid_from / _dlt_valid_to). Every ad connector lands campaigns in this one shape
    (connector_sdk's CAMPAIGNS entity), so the model is the same for each; a platform whose
    entities were never pulled (only backfills so far, or a connector without entities) has no
    table yet and yields no rows.
    Budgets (connector_sdk/budgets.py; Google, Meta, TikTok, Apple): budget_period daily | lifetime
    | none, the amounts landed as decimal text in the account currency's units. A platform without
    budgets (Impact), or a version landed before the budget columns existed, reads as none. -#}
{% macro stg_campaigns(platform) -%}
with

source as (

    {{ raw_source(platform, 'campaigns', [
        ['account_id', 'string'],
        ['campaign_id', 'string'],
        ['name', 'string'],
        ['status', 'string'],
        ['budget_period', 'string'],
        ['daily_budget', 'string'],
        ['lifetime_budget', 'string'],
        ['budget_currency', 'string'],
        ['_dlt_valid_from', 'ts'],
        ['_dlt_valid_to', 'ts'],
        ['_load_id', 'string'],
    ]) }}

),

final as (

    select
        '{{ platform }}' as platform,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        name as campaign_name,
        upper(status) as status,
        coalesce(lower(budget_period), 'none') as budget_period,
        cast(daily_budget as {{ raw_type('money') }}) as daily_budget,
        cast(lifetime_budget as {{ raw_type('money') }}) as lifetime_budget,
        budget_currency,
        {{ utc_naive('_dlt_valid_from') }} as valid_from,
        {{ utc_naive('_dlt_valid_to') }} as valid_to,
        _load_id
    from source

)

select * from final
{%- endmacro %}
