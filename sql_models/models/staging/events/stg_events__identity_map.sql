-- User merges, one row per merged-away user (from_user_id). canonical_user_id is the surviving
-- account as the loader resolved it (docs/events.md, "Identity"); it is null where the loader
-- did not resolve a chain, which int_users__canonical then follows.
with

source as (

    {{ raw_source('events', 'identity_map', [
        ['from_user_id', 'string'],
        ['to_user_id', 'string'],
        ['canonical_user_id', 'string'],
        ['merged_at', 'ts'],
        ['event_id', 'string'],
        ['_load_id', 'string', ['_load_id', '_dlt_load_id']],
    ]) }}

),

final as (

    select
        cast(from_user_id as {{ dbt.type_string() }}) as from_user_id,
        cast(to_user_id as {{ dbt.type_string() }}) as to_user_id,
        cast(canonical_user_id as {{ dbt.type_string() }}) as canonical_user_id,
        {{ utc_naive('merged_at') }} as merged_at,
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        _load_id
    from source
    -- a broken cycle edge points at itself: the user is its own canonical id, no mapping
    where from_user_id <> to_user_id

)

select * from final
