-- Every user id seen in sign-up or conversion events with its canonical (post-merge) user id.
-- The loader resolves merge chains into canonical_user_id; where it did not, chains
-- (a -> b, then b -> c) are followed here up to three hops, so a user merged twice still
-- lands on the surviving account.
with

events as (

    select * from {{ ref('stg_events__events') }}

),

identity_map as (

    select * from {{ ref('stg_events__identity_map') }}

),

edges as (

    select distinct
        from_user_id,
        to_user_id,
        canonical_user_id as loader_canonical_user_id
    from identity_map

),

resolved as (

    select
        e1.from_user_id,
        coalesce(e1.loader_canonical_user_id, e3.to_user_id, e2.to_user_id, e1.to_user_id) as canonical_user_id
    from edges as e1
    left join edges as e2 on e1.to_user_id = e2.from_user_id
    left join edges as e3 on e2.to_user_id = e3.from_user_id

),

user_ids as (

    select distinct user_id from events
    where user_id is not null
    union
    select from_user_id from resolved
    union
    select canonical_user_id from resolved

),

final as (

    select
        u.user_id,
        coalesce(m.canonical_user_id, u.user_id) as canonical_user_id
    from user_ids as u
    left join resolved as m on u.user_id = m.from_user_id

)

select * from final
