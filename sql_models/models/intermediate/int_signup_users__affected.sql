-- Canonical users whose fact_signups row must be re-derived in this run: any sign-up, first
-- ride/order or merge event that happened or arrived inside the window. A late event (old
-- event_ts, new received_at) therefore still updates its user. Without a window: every user.
with

events as (

    select * from {{ ref('stg_events__events') }}

),

users as (

    select * from {{ ref('int_users__canonical') }}

),

touched as (

    select user_id
    from events
    where
        event_type in ('user_signup', 'first_ride', 'first_order')
        and ({{ in_window('event_date') }} or {{ in_window('received_date') }})
    union
    select from_user_id
    from events
    where
        event_type = 'user_merged'
        and ({{ in_window('event_date') }} or {{ in_window('received_date') }})
    union
    select to_user_id
    from events
    where
        event_type = 'user_merged'
        and ({{ in_window('event_date') }} or {{ in_window('received_date') }})

),

final as (

    -- both the raw id (a merged-away user's old row must go) and its canonical id
    select distinct t.user_id from touched as t
    where t.user_id is not null
    union
    select distinct u.canonical_user_id
    from touched as t
    inner join users as u on t.user_id = u.user_id

)

select * from final
