-- CAC, ROAS and ROI follow their identities, and are null exactly where the divisor is zero.
select
    mart_key,
    report_date,
    platform,
    campaign_id,
    attribution_version,
    spend_usd,
    revenue_usd,
    signups,
    modeled_signups,
    cac_usd,
    roas,
    roi
from {{ ref('mart_marketing_roi_daily__staged') }}
where
    {{ current_definitions(['spend_definition_version', 'signup_definition_version']) }}
    and (
        (spend_usd = 0 and (roas is not null or roi is not null))
        or (spend_usd <> 0 and abs(roas - revenue_usd / spend_usd) > 0.000001)
        or (spend_usd <> 0 and abs(roi - (revenue_usd - spend_usd) / spend_usd) > 0.000001)
        or (signups + modeled_signups = 0 and cac_usd is not null)
        or (signups + modeled_signups > 0 and abs(cac_usd - spend_usd / (signups + modeled_signups)) > 0.00001)
    )
