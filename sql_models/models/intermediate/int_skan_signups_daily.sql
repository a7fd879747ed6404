-- SKAdNetwork sign-ups per estimated install day, platform and campaign: winning (did_win)
-- first postbacks (sequence 0) whose conversion value has bit 0 (signed up) set. Postbacks carry
-- no install time: the install day is received_at - skan_install_lag_hours. The source
-- identifier is the campaign id's last four digits (how StreamRide configures SKAN campaigns);
-- only identifiers unique within their platform are mapped.
with

postbacks as (

    select * from {{ ref('stg_events__skan_postbacks') }}

),

campaigns as (

    select distinct
        platform,
        campaign_id
    from {{ ref('int_campaigns__unioned') }}

),

source_identifiers as (

    select
        platform,
        source_identifier,
        min(campaign_id) as campaign_id
    from (
        select
            platform,
            campaign_id,
            right(campaign_id, 4) as source_identifier
        from campaigns
    ) as ids
    group by platform, source_identifier
    having count(*) = 1

),

first_postbacks as (

    select
        p.*,
        cast({{ dbt.dateadd('hour', -1 * var('skan_install_lag_hours'), 'p.received_at') }} as date) as install_date
    from postbacks as p
    where p.postback_sequence = 0 and p.did_win

),

final as (

    select
        f.install_date,
        f.platform,
        coalesce(s.campaign_id, 'unmapped:' || f.source_identifier) as campaign_id,
        count(*) as skan_installs,
        sum(case when f.conversion_value is not null and {{ bit_set('f.conversion_value', 0) }} then 1 else 0 end)
            as skan_signups,
        sum(case when f.conversion_value is null then 1 else 0 end) as skan_null_conversion_values
    from first_postbacks as f
    left join source_identifiers as s
        on
            f.platform = s.platform
            and f.source_identifier = s.source_identifier
    group by f.install_date, f.platform, coalesce(s.campaign_id, 'unmapped:' || f.source_identifier)

)

select * from final
