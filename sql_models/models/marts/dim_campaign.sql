-- Campaign versions (SCD type 2). History comes from the connectors' dlt `scd2` merge on the
-- `<platform>__campaigns` tables: a rename or a pause closes the old version (valid_to) and
-- opens a new one, so the mart can carry the name valid on each report date.
-- valid_from is when the pipeline first saw a version; the first version is also taken to hold
-- before it was first seen (see mart_marketing_roi_daily).
-- Budgets come with the campaign entity (Google, Meta, TikTok, Apple; connector_sdk/budgets.py):
-- daily_budget is the version's daily budget in the account currency (budget_currency), null when
-- the campaign has none (a lifetime/total budget, no limit, Impact); a budget change is a version.
with

campaigns as (

    select * from {{ ref('int_campaigns__unioned') }}

),

final as (

    select
        {{ surrogate_key(['platform', 'account_id', 'campaign_id', 'valid_from']) }} as campaign_key,
        platform,
        account_id,
        campaign_id,
        campaign_name,
        status,
        budget_period,
        daily_budget,
        budget_currency,
        valid_from,
        valid_to,
        valid_to is null as is_current
    from campaigns

)

select * from final
