{{
  config(
    materialized='incremental',
    incremental_strategy=incremental_strategy(),
    unique_key='touch_id',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where (source, identifier) in (select source, identifier from {{ ref('int_touch_identifiers__affected') }}){% else %}select 1{% endif %}"
  )
}}
-- depends_on: {{ ref('int_touch_identifiers__affected') }}
-- One row per marketing touch: a web landing with a click id or UTMs (the same click id seen
-- twice is one touch) or an MMP click/view, with its canonical user when known and is_spam.
with

touches as (

    select * from {{ ref('int_touches__unioned') }}

),

events as (

    select * from {{ ref('stg_events__events') }}

),

users as (

    select * from {{ ref('int_users__canonical') }}

),

{% if is_incremental() %}
affected as (

    select * from {{ ref('int_touch_identifiers__affected') }}

),
{% endif %}

scoped as (

    select
        {{ touch_id('t') }} as touch_id,
        t.*
    from touches as t
    {% if is_incremental() %}
    inner join affected as a on t.source = a.source and t.identifier = a.identifier
    {% endif %}

),

deduplicated as (

    select *
    from (
        select
            *,
            row_number() over (partition by touch_id order by touch_ts, received_at, event_id) as copy_rank
        from scoped
    ) as ranked
    where copy_rank = 1

),

-- click spam rule 1: an MMP click less than spam_click_to_install_seconds before its device's install
installs as (

    select
        device_id,
        event_ts as install_ts
    from events
    where event_type = 'app_install' and device_id is not null

),

install_spam as (

    select distinct d.touch_id
    from deduplicated as d
    inner join installs as i on d.identifier = i.device_id
    where
        d.source = 'mmp'
        and d.touch_type = 'click'
        and i.install_ts >= d.touch_ts
        and i.install_ts < {{ dbt.dateadd('second', var('spam_click_to_install_seconds'), 'd.touch_ts') }}

),

-- click spam rule 2: every MMP click of a burst, i.e. of a spam_burst_window_seconds window of
-- one device holding more than spam_burst_clicks clicks. The forward count anchors a window at
-- each click; a click is in a burst when some window started at most 60 s before it is full.
clicks as (

    select
        touch_id,
        identifier,
        {{ epoch_us('touch_ts') }} as ts_us
    from deduplicated
    where source = 'mmp' and touch_type = 'click'

),

forward_counts as (

    select
        *,
        count(*) over (
            partition by identifier order by ts_us
            range between current row and {{ var('spam_burst_window_seconds') * 1000000 - 1 }} following
        ) as clicks_ahead
    from clicks

),

burst_spam as (

    select touch_id
    from (
        select
            touch_id,
            max(clicks_ahead) over (
                partition by identifier order by ts_us
                range between {{ var('spam_burst_window_seconds') * 1000000 - 1 }} preceding and current row
            ) as busiest_window
        from forward_counts
    ) as windows
    where busiest_window > {{ var('spam_burst_clicks') }}

),

-- the user behind an identifier: the first sign-up that carried it, then its canonical id
identifier_users as (

    select
        source,
        identifier,
        canonical_user_id
    from (
        select
            case when e.anonymous_id is not null then 'web' else 'mmp' end as source,
            coalesce(e.anonymous_id, e.device_id) as identifier,
            u.canonical_user_id,
            row_number() over (
                partition by coalesce(e.anonymous_id, e.device_id)
                order by e.event_ts, e.event_id
            ) as signup_rank
        from events as e
        inner join users as u on e.user_id = u.user_id
        where
            e.event_type = 'user_signup'
            and coalesce(e.anonymous_id, e.device_id) is not null
            {% if is_incremental() %}
            -- whole partitions: every sign-up of each identifier being re-derived
            and coalesce(e.anonymous_id, e.device_id) in (select a.identifier from affected as a)
            {% endif %}
    ) as ranked
    where signup_rank = 1

),

final as (

    select
        d.touch_id,
        iu.canonical_user_id as user_id,
        d.touch_ts,
        cast(d.touch_ts as date) as touch_date,
        d.touch_type,
        d.platform,
        d.campaign_id,
        d.ad_group_id,
        d.ad_id,
        d.source,
        d.identifier,
        d.click_id,
        (i.touch_id is not null or b.touch_id is not null) as is_spam,
        d.event_id,
        d._load_id
    from deduplicated as d
    left join identifier_users as iu on d.source = iu.source and d.identifier = iu.identifier
    left join install_spam as i on d.touch_id = i.touch_id
    left join burst_spam as b on d.touch_id = b.touch_id

)

select * from final
