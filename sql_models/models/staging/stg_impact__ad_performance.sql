-- Impact: actions -> spend = payouts of actions not reversed, per campaign x media partner x UTC hour
-- of the action's event time. The media partner takes the ad group slot; Impact has no ads,
-- impressions or clicks.
with

source as (

    {{ raw_source('raw_ads', 'impact__actions', [
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
        cast(count(*) as decimal(18, 4)) as platform_conversions,
        cast(sum(payout) as decimal(38, 6)) as spend_local,
        currency,
        -- lineage: the latest load among the actions summed into this row
        max(_load_id) as _load_id,
        cast(spend_ts as date) as spend_date,
        cast(extract(hour from spend_ts) as integer) as spend_hour
    from live
    group by account_id, campaign_id, media_partner_id, spend_ts, currency

)

select * from final
