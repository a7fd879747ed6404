{{
  config(
    materialized='incremental',
    incremental_strategy=incremental_strategy(),
    unique_key=['signup_id', 'signup_definition_version'],
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ current_definitions(['signup_definition_version']) }} and (user_id in (select user_id from {{ ref('int_signup_users__affected') }}) or user_id in (select from_user_id from {{ ref('stg_events__identity_map') }})){% else %}select 1{% endif %}"
  )
}}
-- depends_on: {{ ref('int_signup_users__affected') }} {{ ref('stg_events__identity_map') }}
-- One row per canonical user (after merges): the first sign-up, test accounts excluded, with
-- the first ride / first order and the first revenue in USD (within first_revenue_days), per
-- sign-up definition version: the key is (signup_id, signup_definition_version), so a v2 is
-- built beside v1 (var signup_definition_version) and a run replaces only its own version's rows.
with

events as (

    select * from {{ ref('stg_events__events') }}

),

users as (

    select * from {{ ref('int_users__canonical') }}

),

{% if is_incremental() %}
affected as (

    select user_id from {{ ref('int_signup_users__affected') }}

),
{% endif %}

signup_events as (

    select
        u.canonical_user_id,
        e.*
    from events as e
    inner join users as u on e.user_id = u.user_id
    where
        e.event_type = 'user_signup'
        {% if is_incremental() %}
        and u.canonical_user_id in (select a.user_id from affected as a)
        {% endif %}

),

ranked_signups as (

    select
        *,
        row_number() over (partition by canonical_user_id order by event_ts, event_id) as signup_rank,
        -- a canonical user with any test-account sign-up is a test user
        max(case when is_test_account then 1 else 0 end) over (partition by canonical_user_id) as any_test
    from signup_events

),

first_signups as (

    select * from ranked_signups
    where signup_rank = 1 and any_test = 0

),

conversion_events as (

    select
        u.canonical_user_id,
        e.event_id,
        e.event_type,
        e.event_ts,
        e.revenue,
        e.currency
    from events as e
    inner join users as u on e.user_id = u.user_id
    inner join first_signups as s on u.canonical_user_id = s.canonical_user_id
    where e.event_type in ('first_ride', 'first_order')

),

firsts as (

    select
        canonical_user_id,
        min(case when event_type = 'first_ride' then event_ts end) as first_ride_ts,
        min(case when event_type = 'first_order' then event_ts end) as first_order_ts
    from conversion_events
    group by canonical_user_id

),

ranked_conversions as (

    select
        *,
        cast(event_ts as date) as revenue_date,
        row_number() over (partition by canonical_user_id order by event_ts, event_id) as conversion_rank
    from conversion_events

),

first_conversions as (

    select * from ranked_conversions
    where conversion_rank = 1

),

needed_rates as (

    select distinct
        revenue_date,
        currency
    from first_conversions
    where currency <> 'USD'

),

day_rates as (

    {{ fx_day_rates('needed_rates', 'revenue_date') }}

),

first_revenue as (

    select
        c.canonical_user_id,
        c.event_ts,
        cast(c.revenue as decimal(38, 6)) as revenue_local,
        c.currency,
        -- a missing rate leaves revenue_usd null: assert_revenue_fx_rate_present fails on it
        cast(
            case when c.currency = 'USD' then c.revenue else c.revenue / r.rate end
            as decimal(38, 6)
        ) as revenue_usd
    from first_conversions as c
    left join day_rates as r
        on
            c.revenue_date = r.revenue_date
            and c.currency = r.currency

),

final as (

    select
        s.canonical_user_id as signup_id,
        s.canonical_user_id as user_id,
        s.event_id,
        s.event_ts as signup_ts,
        cast(s.event_ts as date) as signup_date,
        s.device_platform,
        s.country,
        '{{ var("signup_definition_version") }}' as signup_definition_version,
        f.first_ride_ts,
        f.first_order_ts,
        case
            when
                fr.event_ts >= s.event_ts
                and fr.event_ts <= {{ dbt.dateadd('day', var('first_revenue_days'), 's.event_ts') }}
                then fr.revenue_usd
        end as first_revenue_usd,
        case
            when
                fr.event_ts >= s.event_ts
                and fr.event_ts <= {{ dbt.dateadd('day', var('first_revenue_days'), 's.event_ts') }}
                then fr.revenue_local
        end as first_revenue_local,
        case
            when
                fr.event_ts >= s.event_ts
                and fr.event_ts <= {{ dbt.dateadd('day', var('first_revenue_days'), 's.event_ts') }}
                then fr.currency
        end as first_revenue_currency,
        s.anonymous_id,
        s.device_id,
        s._load_id
    from first_signups as s
    left join firsts as f on s.canonical_user_id = f.canonical_user_id
    left join first_revenue as fr on s.canonical_user_id = fr.canonical_user_id

)

select * from final
