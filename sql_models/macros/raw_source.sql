{#- Read a raw table the loaders create, robust to what has not arrived yet.

    The connectors create a table (and, for the product events, a column) only when data of
    that kind first arrives: a fresh warehouse has no `impact__actions` before the first Impact
    pull and no `__campaigns` scd2 table before the first non-backfill run. `raw_source` selects
    the named `columns` from the table when it exists, a typed null for a column it lacks, and an
    empty typed result when the table itself is missing, so staging builds either way.

    columns: a list of [name, type] or [name, type, [candidate raw columns]] (the first present
    candidate wins, e.g. the events' `_load_id` before dlt's `_dlt_load_id`). type is a key of
    raw_type() or a portable SQL type. Rows that are dlt hard-delete tombstones are dropped. -#}
{% macro raw_source(source_name, table_name, columns) -%}
  {%- set rel = source(source_name, table_name) -%}
  {%- set present = [] -%}
  {%- set exists = [true] -%}
  {%- if execute -%}
    {%- for name in raw_columns(rel) -%}
      {%- do present.append(name) -%}
    {%- endfor -%}
    {%- if not present -%}
      {%- do exists.append(false) -%}
    {%- endif -%}
  {%- endif -%}
  {%- set table_exists = exists | last -%}
  select
  {%- for c in columns %}
    {%- set candidates = c[2] if c | length > 2 else [c[0]] -%}
    {%- set hits = [] -%}
    {%- for x in candidates -%}
      {%- if (not execute) or (x | lower in present) -%}{%- do hits.append(x) -%}{%- endif -%}
    {%- endfor %}
    {% if hits | length > 1 -%}
      coalesce({{ hits | join(', ') }})
    {%- elif hits -%}
      {{ hits[0] }}
    {%- else -%}
      cast(null as {{ raw_type(c[1]) }})
    {%- endif %} as {{ c[0] }}{{ "," if not loop.last }}
  {%- endfor %}
  {% if table_exists -%}
  from {{ rel }}
  {%- if (not execute) or ('_tombstone' in present) %}
  where coalesce(_tombstone, false) = false
  {%- endif %}
  {%- else -%}
  -- {{ rel }} does not exist yet: no data of this kind has arrived
  where 1 = 0
  {%- endif %}
{%- endmacro %}

{#- Portable names for the raw column types. -#}
{% macro raw_type(name) -%}
  {%- if name == 'string' -%}{{ dbt.type_string() }}
  {%- elif name == 'ts' -%}{{ adapter.dispatch('raw_ts_type', 'streamride_roi')() }}
  {%- elif name == 'money' -%}decimal(18, 6)
  {%- else -%}{{ name }}
  {%- endif -%}
{%- endmacro %}

{% macro default__raw_ts_type() -%}timestamp_tz{%- endmacro %}
{% macro duckdb__raw_ts_type() -%}timestamp with time zone{%- endmacro %}

{#- The lower-cased column names of a relation; empty when it does not exist. information_schema
    rather than adapter.get_columns_in_relation: the same query answers on DuckDB, Snowflake and
    fakesnow, and a missing table is simply no rows. -#}
{% macro raw_columns(rel) -%}
  {%- set sql -%}
    select lower(column_name) as name
    from {{ raw_information_schema(rel) }}.columns
    where lower(table_schema) = lower('{{ rel.schema }}') and lower(table_name) = lower('{{ rel.identifier }}')
      {%- if target.type == 'duckdb' %} and table_catalog = '{{ rel.database }}'{% endif %}
  {%- endset -%}
  {%- set result = run_query(sql) -%}
  {{ return(result.columns[0].values() | list) }}
{%- endmacro %}

{% macro raw_information_schema(rel) -%}
  {{ return(adapter.dispatch('raw_information_schema', 'streamride_roi')(rel)) }}
{%- endmacro %}
{% macro default__raw_information_schema(rel) -%}{{ rel.database }}.information_schema{%- endmacro %}
{#- DuckDB: information_schema is global (table_catalog tells databases apart) -#}
{% macro duckdb__raw_information_schema(rel) -%}information_schema{%- endmacro %}
