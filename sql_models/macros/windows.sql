{#- Incremental windows. The flows pass start_date / end_date (half-open, UTC dates); each
    incremental model re-derives [start_date - lookback_days, end_date) and replaces exactly
    those dates, so a run equals a full refresh over the dates it touches. -#}

{% macro window_bounds() -%}
  {%- set start = var('start_date', none) -%}
  {%- set end = var('end_date', none) -%}
  {%- if (start is none) != (end is none) -%}
    {{ exceptions.raise_compiler_error("pass both start_date and end_date, or neither") }}
  {%- endif -%}
  {%- if start is none -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set lo = modules.datetime.date.fromisoformat(start | string) - modules.datetime.timedelta(days=var('lookback_days') | int) -%}
  {%- set hi = modules.datetime.date.fromisoformat(end | string) -%}
  {%- if hi <= lo -%}
    {{ exceptions.raise_compiler_error("end_date " ~ hi ~ " must be after start_date " ~ start) }}
  {%- endif -%}
  {{ return([lo, hi]) }}
{%- endmacro %}

{#- A predicate on a date expression: inside the window (true when no window is set). -#}
{% macro in_window(date_expr, pad_days=0) -%}
  {%- set b = window_bounds() -%}
  {%- if b is none -%}
    (1 = 1)
  {%- else -%}
    {%- set lo = b[0] - modules.datetime.timedelta(days=pad_days) -%}
    {%- set hi = b[1] + modules.datetime.timedelta(days=pad_days) -%}
    ({{ date_expr }} >= cast('{{ lo }}' as date) and {{ date_expr }} < cast('{{ hi }}' as date))
  {%- endif -%}
{%- endmacro %}

{#- Same as in_window, but on a timestamp expression. -#}
{% macro ts_in_window(ts_expr, pad_days=0) -%}
  {%- set b = window_bounds() -%}
  {%- if b is none -%}
    (1 = 1)
  {%- else -%}
    {%- set lo = b[0] - modules.datetime.timedelta(days=pad_days) -%}
    {%- set hi = b[1] + modules.datetime.timedelta(days=pad_days) -%}
    ({{ ts_expr }} >= cast('{{ lo }}' as timestamp) and {{ ts_expr }} < cast('{{ hi }}' as timestamp))
  {%- endif -%}
{%- endmacro %}

{#- A predicate: the row is of the definition versions this run builds. Each definition column
    (spend_definition_version, signup_definition_version) has a dbt var of the same name; the
    flows pass the published versions (ROI_PUBLISHED_*_DEFINITION), and a v2 is built beside v1
    by passing the var (docs/definitions.md). Rows of another version are never touched. -#}
{% macro current_definitions(definitions, alias='') -%}
  ({% for column in definitions -%}
    {{ alias ~ '.' if alias }}{{ column }} = '{{ var(column) | string | replace("'", "") }}'{{ " and " if not loop.last }}
  {%- endfor %})
{%- endmacro %}

{#- Pre-hook of the date-partitioned incremental models: on an incremental run, delete the
    window's dates first, so a date whose source rows all vanished (a voided slice) is emptied
    too; the strategy (delete+insert / merge on the row key) then only inserts. With
    ``definitions`` only the rows of the definition versions being built are deleted. -#}
{% macro delete_window(date_column, definitions=[]) -%}
  {%- if is_incremental() -%}
    delete from {{ this }} where {{ in_window(date_column) }}
    {%- if definitions %} and {{ current_definitions(definitions) }}{% endif %}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- The incremental strategy of the warehouse: delete+insert on DuckDB, merge on Snowflake. -#}
{% macro incremental_strategy() -%}
  {{ return(adapter.dispatch('incremental_strategy', 'streamride_roi')()) }}
{%- endmacro %}

{% macro default__incremental_strategy() -%}
  {{ return('merge') }}
{%- endmacro %}

{% macro duckdb__incremental_strategy() -%}
  {{ return('delete+insert') }}
{%- endmacro %}

{#- The run's logical date: var as_of_date, else end_date - 1, else none. -#}
{% macro as_of_date() -%}
  {%- set d = var('as_of_date', none) -%}
  {%- if d is not none -%}
    {{ return(modules.datetime.date.fromisoformat(d | string)) }}
  {%- endif -%}
  {%- set b = window_bounds() -%}
  {%- if b is not none -%}
    {{ return(b[1] - modules.datetime.timedelta(days=1)) }}
  {%- endif -%}
  {{ return(none) }}
{%- endmacro %}

{#- Pre-hook of the mart: before the first attribution run the mart shows spend under the
    placeholder attribution version 'none'; once fact_attribution has rows, every 'none' row
    goes (on any date, not only the window's), so no placeholder lingers beside real versions. -#}
{% macro delete_placeholder_version() -%}
  {%- if is_incremental() -%}
    delete from {{ this }}
    where attribution_version = 'none'
        and exists (select 1 from {{ source('attribution', 'fact_attribution') }})
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- A predicate: the row belongs to the run's new event data. With var event_load_ids (the flows
    pass the event loads not yet folded into the facts) that is exactly the rows of those loads
    (`_load_id`); without it, the rows inside the date window by event or arrival date. -#}
{% macro in_new_event_data() -%}
  {%- set load_ids = var('event_load_ids', none) -%}
  {%- if load_ids is none -%}
    ({{ in_window('event_date') }} or {{ in_window('received_date') }})
  {%- elif load_ids | length == 0 -%}
    (1 = 0)
  {%- else -%}
    (_load_id in (
      {%- for load_id in load_ids -%}
        '{{ load_id | string | replace("'", "") }}'{{ ", " if not loop.last }}
      {%- endfor -%}
    ))
  {%- endif -%}
{%- endmacro %}
