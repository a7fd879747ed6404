-- Identifiers (anonymous_id / device_id) whose touches must be re-derived in this run: those
-- with a touch or an install inside the window (by event or arrival date; spam rules look at
-- a device's neighbouring clicks) and those whose user changed (a sign-up or merge in the
-- window). Without a window: every identifier.
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

affected_users as (

    select * from {{ ref('int_signup_users__affected') }}

),

from_touches as (

    select source, identifier
    from touches
    where {{ in_window('event_date') }} or {{ in_window('received_date') }}

),

from_installs as (

    select 'mmp' as source, device_id as identifier
    from events
    where event_type = 'app_install'
        and ({{ in_window('event_date') }} or {{ in_window('received_date') }})

),

from_users as (

    select
        case when e.anonymous_id is not null then 'web' else 'mmp' end as source,
        coalesce(e.anonymous_id, e.device_id) as identifier
    from events as e
    inner join users as u on u.user_id = e.user_id
    where e.event_type = 'user_signup'
        and (u.canonical_user_id in (select user_id from affected_users)
             or u.user_id in (select user_id from affected_users))

),

final as (

    select source, identifier from from_touches where identifier is not null
    union
    select source, identifier from from_installs where identifier is not null
    union
    select source, identifier from from_users where identifier is not null

)

select * from final
