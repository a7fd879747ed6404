-- Identifiers (anonymous_id / device_id) whose touches must be re-derived in this run: those
-- with a touch or an install in the run's new data (spam rules look at a device's neighbouring
-- clicks) and those whose user may have changed (a sign-up or merge in the new data).
-- "New data" is, when the flow passes var event_load_ids (the event loads not yet folded into
-- the facts), exactly the rows of those loads: an hourly run then re-derives the hour's
-- identifiers instead of every identifier of its date window. Without that var it is every
-- row inside the date window (by event or arrival date); without a window, every identifier.
{%- set load_ids = var('event_load_ids', none) %}
-- depends_on: {{ ref('int_signup_users__affected') }}
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

{% if load_ids is none %}
affected_users as (

    select * from {{ ref('int_signup_users__affected') }}

),
{% else %}
-- a touch's user is the canonical user of the first sign-up carrying its identifier: only a
-- new sign-up or a merge changes it (not a first ride, nor an FX rate)
changed_users as (

    select user_id from events
    where event_type = 'user_signup' and {{ in_new_event_data() }}
    union
    select from_user_id from events
    where event_type = 'user_merged' and {{ in_new_event_data() }}
    union
    select to_user_id from events
    where event_type = 'user_merged' and {{ in_new_event_data() }}

),

affected_users as (

    select user_id from changed_users
    where user_id is not null
    union
    select u.canonical_user_id
    from changed_users as c
    inner join users as u on c.user_id = u.user_id

),
{% endif %}

from_touches as (

    select
        source,
        identifier
    from touches
    where {{ in_new_event_data() }}

),

from_installs as (

    select
        'mmp' as source,
        device_id as identifier
    from events
    where
        event_type = 'app_install'
        and {{ in_new_event_data() }}

),

from_users as (

    select
        case when e.anonymous_id is not null then 'web' else 'mmp' end as source,
        coalesce(e.anonymous_id, e.device_id) as identifier
    from events as e
    inner join users as u on e.user_id = u.user_id
    where
        e.event_type = 'user_signup'
        and (
            u.canonical_user_id in (select a.user_id from affected_users as a)
            or u.user_id in (select a.user_id from affected_users as a)
        )

),

final as (

    select
        source,
        identifier
    from from_touches
    where identifier is not null
    union
    select
        source,
        identifier
    from from_installs
    where identifier is not null
    union
    select
        source,
        identifier
    from from_users
    where identifier is not null

)

select * from final
