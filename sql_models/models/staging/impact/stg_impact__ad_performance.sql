-- Impact: one spend row per action not reversed (its payout is the spend), in the UTC hour of
-- the action's event time. The media partner takes the ad group slot; Impact has no ads,
-- impressions or clicks, and each action is one conversion. int_ad_performance__unioned sums
-- the actions to campaign x media partner x UTC hour.
with

source as (

    {{ raw_source('impact', 'actions', [
        ['account_id', 'string'],
        ['action_id', 'string'],
        ['campaign_id', 'string'],
        ['media_partner_id', 'string'],
        ['state', 'string'],
        ['event_ts', 'ts'],
        ['locking_date', 'ts'],
        ['amount', 'money'],
        ['payout', 'money'],
        ['currency', 'string'],
        ['report_date', 'date'],
        ['_load_id', 'string'],
    ]) }}

),

actions as (

    select
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        cast(action_id as {{ dbt.type_string() }}) as action_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(media_partner_id as {{ dbt.type_string() }}) as media_partner_id,
        {{ utc_naive('event_ts') }} as event_ts,
        upper(state) as state,
        cast(payout as decimal(38, 6)) as payout,
        upper(currency) as currency,
        _load_id
    from source

),

live as (

    select
        *,
        {{ dbt.date_trunc('hour', 'event_ts') }} as spend_ts
    from actions
    where state <> 'REVERSED'

),

final as (

    select
        'impact' as platform,
        account_id,
        action_id,
        campaign_id,
        media_partner_id as ad_group_id,
        cast(null as {{ dbt.type_string() }}) as ad_id,
        cast(null as {{ dbt.type_string() }}) as keyword,
        cast(spend_ts as date) as report_date,
        cast(extract(hour from spend_ts) as integer) as report_hour,
        'UTC' as time_zone,
        spend_ts,
        'utc_hour' as date_basis,
        cast(0 as bigint) as impressions,
        cast(0 as bigint) as clicks,
        cast(1 as decimal(18, 4)) as platform_conversions,
        payout as spend_local,
        currency,
        _load_id,
        cast(spend_ts as date) as spend_date,
        cast(extract(hour from spend_ts) as integer) as spend_hour
    from live

)

select * from final
