-- from_user_id -> canonical user id. Chains (a -> b, then b -> c) are followed up to three hops,
-- so a user merged twice still lands on the surviving account.
with

source as (

    select * from {{ source('raw_events', 'identity_map') }}

),

edges as (

    select distinct
        cast(from_user_id as {{ dbt.type_string() }}) as from_user_id,
        cast(to_user_id as {{ dbt.type_string() }}) as to_user_id
    from source
    where from_user_id <> to_user_id

),

final as (

    select
        e1.from_user_id,
        coalesce(e3.to_user_id, e2.to_user_id, e1.to_user_id) as canonical_user_id
    from edges as e1
    left join edges as e2 on e2.from_user_id = e1.to_user_id
    left join edges as e3 on e3.from_user_id = e2.to_user_id

)

select * from final
