-- from_user_id -> canonical user id. The loader resolves merge chains into canonical_user_id
-- (docs/events.md, "Identity"); where it is absent, chains (a -> b, then b -> c) are followed
-- here up to three hops, so a user merged twice still lands on the surviving account.
with

source as (

    {{ raw_source('raw_events', 'identity_map', [
        ['from_user_id', 'string'],
        ['to_user_id', 'string'],
        ['canonical_user_id', 'string'],
        ['merged_at', 'ts'],
        ['event_id', 'string'],
        ['_load_id', 'string', ['_load_id', '_dlt_load_id']],
    ]) }}

),

edges as (

    select distinct
        cast(from_user_id as {{ dbt.type_string() }}) as from_user_id,
        cast(to_user_id as {{ dbt.type_string() }}) as to_user_id,
        cast(canonical_user_id as {{ dbt.type_string() }}) as loader_canonical_user_id
    from source
    -- a broken cycle edge points at itself: the user is its own canonical id, no mapping
    where from_user_id <> to_user_id

),

final as (

    select
        e1.from_user_id,
        coalesce(e1.loader_canonical_user_id, e3.to_user_id, e2.to_user_id, e1.to_user_id) as canonical_user_id
    from edges as e1
    left join edges as e2 on e2.from_user_id = e1.to_user_id
    left join edges as e3 on e3.from_user_id = e2.to_user_id

)

select * from final
