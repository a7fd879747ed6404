-- Every user id seen in sign-up or conversion events with its canonical (post-merge) user id.
with

events as (

    select * from {{ ref('stg_events__events') }}

),

identity_map as (

    select * from {{ ref('stg_events__identity_map') }}

),

user_ids as (

    select distinct user_id from events where user_id is not null
    union
    select from_user_id from identity_map
    union
    select canonical_user_id from identity_map

),

final as (

    select
        u.user_id,
        coalesce(m.canonical_user_id, u.user_id) as canonical_user_id
    from user_ids as u
    left join identity_map as m on m.from_user_id = u.user_id

)

select * from final
