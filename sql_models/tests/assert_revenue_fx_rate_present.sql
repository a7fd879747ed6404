-- FX completeness for revenue: a first ride / first order counted as first revenue (within
-- first_revenue_days of sign-up) in a foreign currency must convert to USD. A null
-- first_revenue_usd beside a non-null local amount means raw_ads.fx_rates has no rate for that
-- currency on or before the revenue day: the run fails rather than reporting revenue as absent.
select
    signup_id,
    signup_date,
    first_revenue_currency,
    first_revenue_local
from {{ ref('fact_signups') }}
where
    first_revenue_local is not null
    and first_revenue_usd is null
    and {{ current_definitions(['signup_definition_version']) }}
