{{ config(materialized='ephemeral') }}
-- Spend rows of every ad platform (var ad_platforms): the union of the platforms'
-- stg_<platform>__ad_performance, by the columns of the one spend shape they share (a platform
-- may carry more, such as Impact's action_id), summed to the grain of fact_ad_spend. Rows
-- already at that grain pass unchanged; Impact's actions become one row per campaign x media
-- partner x UTC hour (lineage: the latest load among the rows summed).
-- Reads the run window only, one day either side: account-local report dates straddle two
-- UTC dates (fact_ad_spend cuts the window exactly).
{%- set spend_shape = [
    'platform', 'account_id', 'campaign_id', 'ad_group_id', 'ad_id', 'keyword', 'report_date',
    'report_hour', 'time_zone', 'spend_ts', 'date_basis', 'impressions', 'clicks',
    'platform_conversions', 'spend_local', 'currency', '_load_id', 'spend_date', 'spend_hour',
] %}
with

{% for p in var('ad_platforms') %}
{{ p }} as (

    select * from {{ ref('stg_' ~ p ~ '__ad_performance') }}
    where {{ in_window('report_date', pad_days=1) }}

),

{% endfor %}
unioned as (

    {% for p in var('ad_platforms') %}
    select {{ spend_shape | join(', ') }} from {{ p }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        platform,
        account_id,
        campaign_id,
        ad_group_id,
        ad_id,
        keyword,
        report_date,
        report_hour,
        time_zone,
        spend_ts,
        date_basis,
        currency,
        spend_date,
        spend_hour,
        cast(sum(impressions) as bigint) as impressions,
        cast(sum(clicks) as bigint) as clicks,
        cast(sum(platform_conversions) as decimal(18, 4)) as platform_conversions,
        cast(sum(spend_local) as decimal(38, 6)) as spend_local,
        max(_load_id) as _load_id
    from unioned
    group by
        platform, account_id, campaign_id, ad_group_id, ad_id, keyword, report_date, report_hour,
        time_zone, spend_ts, date_basis, currency, spend_date, spend_hour

)

select * from final
