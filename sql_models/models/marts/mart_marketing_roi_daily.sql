{{
  config(
    materialized='incremental',
    incremental_strategy=incremental_strategy(),
    unique_key='mart_key',
    on_schema_change='append_new_columns',
    tags=['after_attribution', 'published_mart'],
    pre_hook=[
      "{{ delete_window('report_date', ['spend_definition_version', 'signup_definition_version']) }}",
      "{{ delete_placeholder_version() }}"
    ]
  )
}}
-- The mart readers see (report, artifact, close, roi explain). Nothing is computed here: a run
-- copies the rows of its window from mart_marketing_roi_daily__staged once the candidate and
-- the models that feed it passed their checks (flows/dbt_runner.py publish_mart). The delete
-- of the window (pre-hook) and the insert run in one transaction (dbt's incremental
-- materialization: pre-hooks inside the transaction, one COMMIT), so readers see the old rows
-- or the new ones, never a half-replaced window; a run whose checks fail never gets here.
-- Grain as the candidate's: UTC date x platform x campaign x attribution version x spend and
-- sign-up definition version. Every column of the candidate, so a column added there is
-- published with it (on_schema_change append_new_columns), never listed twice.
select *  -- noqa: AM04
from {{ ref('mart_marketing_roi_daily__staged') }}
where
    {{ in_window('report_date') }}
    and {{ current_definitions(['spend_definition_version', 'signup_definition_version']) }}
