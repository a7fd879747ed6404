{#- Dialect differences, through adapter dispatch only (DuckDB default, Snowflake override). -#}

{#- An account-local wall-clock hour (date + hour) as a naive UTC timestamp, DST-correct.
    A repeated hour on a fall-back day is one platform row covering two real hours: it maps
    to its first occurrence (the earlier UTC instant), as the platforms' own UTC exports do.
    Both engines resolve an ambiguous local time to the later offset, so we also convert the
    hour before and add one hour back, and keep the earlier of the two. -#}
{% macro local_hour_to_utc(date_expr, hour_expr, tz_expr) -%}
  {{ return(adapter.dispatch('local_hour_to_utc', 'streamride_roi')(date_expr, hour_expr, tz_expr)) }}
{%- endmacro %}

{% macro default__local_hour_to_utc(date_expr, hour_expr, tz_expr) -%}
  least(
    timezone('UTC', timezone({{ tz_expr }}, cast({{ date_expr }} as timestamp) + {{ hour_expr }} * interval 1 hour)),
    timezone('UTC', timezone({{ tz_expr }}, cast({{ date_expr }} as timestamp) + ({{ hour_expr }} - 1) * interval 1 hour))
      + interval 1 hour
  )
{%- endmacro %}

{% macro snowflake__local_hour_to_utc(date_expr, hour_expr, tz_expr) -%}
  least(
    convert_timezone({{ tz_expr }}, 'UTC', dateadd(hour, {{ hour_expr }}, cast({{ date_expr }} as timestamp_ntz))),
    dateadd(hour, 1, convert_timezone({{ tz_expr }}, 'UTC', dateadd(hour, {{ hour_expr }} - 1, cast({{ date_expr }} as timestamp_ntz))))
  )
{%- endmacro %}

{#- Any timestamp (with or without zone; dlt lands timestamptz) as naive UTC. The DuckDB
    session runs in UTC (flows/dbt_runner.py sets it), so naive values are already UTC. -#}
{% macro utc_naive(ts_expr) -%}
  {{ return(adapter.dispatch('utc_naive', 'streamride_roi')(ts_expr)) }}
{%- endmacro %}

{% macro default__utc_naive(ts_expr) -%}
  cast(cast({{ ts_expr }} as timestamptz) as timestamp)
{%- endmacro %}

{% macro snowflake__utc_naive(ts_expr) -%}
  cast(convert_timezone('UTC', cast({{ ts_expr }} as timestamp_tz)) as timestamp_ntz)
{%- endmacro %}

{#- Microseconds since the epoch of a naive UTC timestamp (for numeric range windows). -#}
{% macro epoch_us(ts_expr) -%}
  {{ return(adapter.dispatch('epoch_us', 'streamride_roi')(ts_expr)) }}
{%- endmacro %}

{% macro default__epoch_us(ts_expr) -%}
  epoch_us({{ ts_expr }})
{%- endmacro %}

{% macro snowflake__epoch_us(ts_expr) -%}
  date_part(epoch_microsecond, {{ ts_expr }})
{%- endmacro %}

{#- ISO day of week (1 = Monday .. 7 = Sunday). -#}
{% macro iso_dow(date_expr) -%}
  {{ return(adapter.dispatch('iso_dow', 'streamride_roi')(date_expr)) }}
{%- endmacro %}

{% macro default__iso_dow(date_expr) -%}
  isodow({{ date_expr }})
{%- endmacro %}

{% macro snowflake__iso_dow(date_expr) -%}
  dayofweekiso({{ date_expr }})
{%- endmacro %}

{#- A stable surrogate key: md5 over '|'-joined, null-safe string parts. -#}
{% macro surrogate_key(parts) -%}
  md5({% for p in parts %}coalesce(cast({{ p }} as {{ dbt.type_string() }}), '~'){% if not loop.last %} || '|' || {% endif %}{% endfor %})
{%- endmacro %}

{#- A touch's id from the columns of int_touches__unioned: a web landing's click id (the same
    click id seen twice is one touch; a landing without one is its own touch), an MMP callback's
    natural key (callbacks carry no click id; one sent twice has the same key). Kept out of the
    unioned rows so the (md5) key is computed only for the touches a run re-derives. -#}
{% macro touch_id(alias='') -%}
  {%- set p = alias ~ '.' if alias else '' -%}
  case
    when {{ p }}source = 'web' and {{ p }}click_id is not null
        then {{ surrogate_key(["'web'", p ~ 'platform', p ~ 'click_id']) }}
    when {{ p }}source = 'web' then {{ surrogate_key(["'web'", p ~ 'event_id']) }}
    else {{ surrogate_key(["'mmp'", p ~ 'identifier', p ~ 'platform', p ~ 'campaign_id', p ~ 'ad_group_id',
                           p ~ 'ad_id', p ~ 'touch_type', p ~ 'touch_ts']) }}
  end
{%- endmacro %}

{#- A bit test (conversion_value bit 0 and the like). -#}
{% macro bit_set(expr, bit) -%}
  (floor({{ expr }} / {{ 2 ** bit }}) % 2 = 1)
{%- endmacro %}
