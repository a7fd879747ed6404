{{
  config(
    materialized='incremental',
    incremental_strategy=incremental_strategy(),
    unique_key=['spend_key', 'spend_definition_version'],
    on_schema_change='fail',
    pre_hook="{{ delete_window('spend_date', ['spend_definition_version']) }}"
  )
}}
-- One row per platform/account/campaign/ad group/ad/keyword/UTC hour (UTC day for Apple) and
-- spend definition version, in the platform's currency and in USD at the reference rate of the
-- spend date. spend_key names the spend row (the same under every definition); the key is
-- (spend_key, spend_definition_version), so a v2 definition is built beside v1 (var
-- spend_definition_version) and a run replaces only its own version's rows.
with

spend as (

    select * from {{ ref('int_ad_performance__unioned') }}

),

windowed as (

    select * from spend
    where {{ in_window('spend_date') }}

),

needed_rates as (

    select distinct
        spend_date,
        currency
    from windowed
    where currency <> 'USD'

),

day_rates as (

    {{ fx_day_rates('needed_rates', 'spend_date') }}

),

business_days as (

    select
        b.*,
        n.currency
    from ({{ last_business_days('needed_rates', 'spend_date') }}) as b
    inner join needed_rates as n on b.spend_date = n.spend_date

),

final as (

    select
        {{ surrogate_key(['w.platform', 'w.account_id', 'w.campaign_id', 'w.ad_group_id', 'w.ad_id',
                          'w.keyword', 'w.spend_date', 'w.spend_hour']) }} as spend_key,
        w.platform,
        w.account_id,
        w.campaign_id,
        w.ad_group_id,
        w.ad_id,
        w.keyword,
        w.spend_date,
        w.spend_hour,
        w.spend_ts,
        w.date_basis,
        w.impressions,
        w.clicks,
        w.platform_conversions,
        w.spend_local,
        w.currency,
        case when w.currency = 'USD' then w.spend_date else r.fx_rate_date end as fx_rate_date,
        -- a missing rate leaves spend_usd null, which the not_null test and the FX test fail on
        cast(
            case when w.currency = 'USD' then w.spend_local else w.spend_local / r.rate end
            as decimal(38, 6)
        ) as spend_usd,
        -- the rate date a final conversion uses; fx_rate_date before it = provisional (or missing)
        case when w.currency = 'USD' then w.spend_date else b.last_business_day end as fx_expected_rate_date,
        '{{ var("spend_definition_version") }}' as spend_definition_version,
        w.report_date,
        w._load_id
    from windowed as w
    left join day_rates as r
        on
            w.spend_date = r.spend_date
            and w.currency = r.currency
    left join business_days as b
        on
            w.spend_date = b.spend_date
            and w.currency = b.currency

)

select * from final
