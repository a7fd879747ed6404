"""Persistence of attribution runs: read inputs from the warehouse, write versioned results.

Given a DB-API connection (DuckDB by default; the caller passes it in, ``attribution`` reads
no settings):

* ``analytics.fact_attribution`` holds the current rows of each attribution version: a run
  replaces, for its version, exactly the sign-up dates it re-attributed, in one transaction.
* ``audit.attribution_history`` receives every run's rows (append-only).
* ``audit.attribution_runs`` records each run: id, version, input watermarks (max ``_load_id``
  and ``touch_ts``, row counts), rows in and out, start and end.

The SQL is plain ANSI that DuckDB and Snowflake both accept; the one place they differ,
moving an Arrow table in and out, is :func:`_fetch_arrow` / :func:`_insert_arrow`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from attribution.config import AttributionConfig, load_config
from attribution.engine import OUTPUT_SCHEMA, attribute_batches
from attribution.errors import AttributionInputError

FACT_TABLE = "analytics.fact_attribution"
HISTORY_TABLE = "audit.attribution_history"
RUNS_TABLE = "audit.attribution_runs"
SIGNUPS_TABLE = "analytics.fact_signups"
TOUCHES_TABLE = "analytics.fact_touchpoints"
SKAN_TABLE = "analytics.int_skan_signups_daily"

_ATTR_COLUMNS_DDL = """
    attribution_run_id VARCHAR NOT NULL,
    attribution_version VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    signup_id VARCHAR NOT NULL,
    touch_id VARCHAR,
    platform VARCHAR NOT NULL,
    campaign_id VARCHAR NOT NULL,
    credit DOUBLE NOT NULL,
    method VARCHAR NOT NULL,
    signup_date DATE NOT NULL"""
_RUN_COLUMNS: dict[str, str] = {
    "attribution_run_id": "VARCHAR NOT NULL",
    "attribution_version": "VARCHAR NOT NULL",
    "config_name": "VARCHAR NOT NULL",
    "model": "VARCHAR NOT NULL",
    "start_date": "DATE NOT NULL",
    "end_date": "DATE NOT NULL",
    "signups_in": "BIGINT NOT NULL",
    "touches_in": "BIGINT NOT NULL",
    "skan_rows_in": "BIGINT NOT NULL",
    "max_signup_load_id": "VARCHAR",
    "max_touch_load_id": "VARCHAR",
    "max_signup_ts": "TIMESTAMP",
    "max_touch_ts": "TIMESTAMP",
    "rows_out": "BIGINT NOT NULL",
    "deterministic_credit": "DOUBLE NOT NULL",
    "skan_modeled_credit": "DOUBLE NOT NULL",
    "unattributed_credit": "DOUBLE NOT NULL",
    "started_at": "TIMESTAMP NOT NULL",
    "finished_at": "TIMESTAMP NOT NULL",
}


@dataclass(frozen=True)
class RunSummary:
    """What one attribution run read and wrote (also the row it adds to ``audit.attribution_runs``)."""

    attribution_run_id: str
    attribution_version: str
    config_name: str
    model: str
    start_date: date
    end_date: date
    signups_in: int
    touches_in: int
    skan_rows_in: int
    max_signup_load_id: str | None
    max_touch_load_id: str | None
    max_signup_ts: datetime | None
    max_touch_ts: datetime | None
    rows_out: int
    deterministic_credit: float
    skan_modeled_credit: float
    unattributed_credit: float
    started_at: datetime
    finished_at: datetime


def _cursor(con: Any) -> Any:
    return con.cursor() if hasattr(con, "cursor") else con


def _fetch_arrow(cur: Any, sql: str) -> pa.Table:
    """Run a query and return its result as Arrow (DuckDB relation or Snowflake cursor)."""
    if hasattr(cur, "sql"):  # DuckDB: a relation converts without the DB-API result's extra copy
        result: pa.Table = cur.sql(sql).to_arrow_table()
        return result
    cur.execute(sql)
    table = cur.fetch_arrow_all()  # Snowflake: None for an empty result
    if table is None:
        return pa.table({d[0].lower(): pa.array([], pa.null()) for d in cur.description})
    renamed: pa.Table = table.rename_columns([c.lower() for c in table.column_names])
    return renamed


def _insert_arrow(cur: Any, table: str, data: pa.Table) -> None:
    """Bulk insert an Arrow table (DuckDB: registered view; Snowflake: ``write_pandas``)."""
    if data.num_rows == 0:
        return
    if hasattr(cur, "register"):
        name = f"_attribution_rows_{uuid.uuid4().hex[:8]}"
        cur.register(name, data)
        try:
            cur.execute(f"INSERT INTO {table} ({', '.join(data.column_names)}) SELECT * FROM {name}")
        finally:
            cur.unregister(name)
        return
    # Snowflake only: embedded runs never load the Snowflake connector (seconds to import).
    from snowflake.connector.pandas_tools import write_pandas

    schema, _, name = table.partition(".")
    frame = data.to_pandas()
    frame.columns = [c.upper() for c in frame.columns]
    write_pandas(cur.connection, frame, name.upper(), schema=schema.upper())


def _sql_date(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


def _sql_ts(ts: datetime) -> str:
    return f"TIMESTAMP '{ts.strftime('%Y-%m-%d %H:%M:%S')}'"


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ensure_tables(con: Any) -> None:
    """Create the schemas and the three attribution tables if they do not exist (idempotent)."""
    cur = _cursor(con)
    for schema in ("analytics", "audit"):
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {FACT_TABLE} ({_ATTR_COLUMNS_DDL})")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ({_ATTR_COLUMNS_DDL})")
    runs = ",\n    ".join(f"{k} {v}" for k, v in _RUN_COLUMNS.items())
    cur.execute(f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (\n    {runs})")


def write_attribution(
    con: Any, rows: pl.DataFrame | Iterable[pl.DataFrame], summary: RunSummary
) -> RunSummary:
    """Replace the version's rows for the run's sign-up dates, append history and the run, atomically.

    ``rows`` may be one frame or the batches of :func:`attribution.attribute_batches`; each
    batch goes in via Arrow as it comes. The run row gets the counted ``rows_out``, credit
    per method and ``finished_at``; the completed summary is returned.
    """
    ensure_tables(con)
    batches = [rows] if isinstance(rows, pl.DataFrame) else rows
    cur = _cursor(con)
    n_rows = 0
    by_method: dict[str, float] = {}
    cur.execute("BEGIN TRANSACTION")
    try:
        cur.execute(
            f"DELETE FROM {FACT_TABLE} WHERE attribution_version = {_sql_str(summary.attribution_version)}"
            f" AND signup_date BETWEEN {_sql_date(summary.start_date)} AND {_sql_date(summary.end_date)}"
        )
        for batch in batches:
            data = batch.select(list(OUTPUT_SCHEMA)).to_arrow()
            _insert_arrow(cur, FACT_TABLE, data)
            _insert_arrow(cur, HISTORY_TABLE, data)
            n_rows += batch.height
            for method, credit in batch.group_by("method").agg(pl.col("credit").sum()).iter_rows():
                by_method[method] = by_method.get(method, 0.0) + float(credit)
        done = replace(
            summary,
            rows_out=n_rows,
            deterministic_credit=by_method.get("deterministic", 0.0),
            skan_modeled_credit=by_method.get("skan_modeled", 0.0),
            unattributed_credit=by_method.get("unattributed", 0.0),
            # Audit time only (never decides what data a run takes), so the wall clock is fine.
            finished_at=max(summary.started_at, datetime.now(UTC).replace(tzinfo=None)),
        )
        _insert_arrow(cur, RUNS_TABLE, pa.Table.from_pylist([asdict(done)]))
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    return done


@dataclass(frozen=True)
class Inputs:
    """The warehouse rows one run attributes, as Polars frames."""

    signups: pl.DataFrame
    touches: pl.DataFrame
    skan: pl.DataFrame | None


def read_inputs(
    con: Any,
    start_date: date,
    end_date: date,
    config: AttributionConfig,
    signup_definition: str | None = None,
) -> Inputs:
    """Read the sign-ups of [start_date, end_date] and the touches of their users that can be in window.

    ``signup_definition``: only the sign-ups of that ``signup_definition_version`` (a v2
    definition built beside v1 holds a second row per sign-up); None reads every row.

    Touches are read from ``start − longest window`` (minus a day of margin for time-zone
    conversions; the engine applies the exact window) and only for users who signed up.
    The SKAN table is optional: when it does not exist yet the run models no SKAN credit.
    """
    cur = _cursor(con)
    lo = datetime.combine(start_date, datetime.min.time()) - config.max_window - timedelta(days=1)
    hi = datetime.combine(end_date, datetime.min.time()) + timedelta(days=2)
    in_range = f"signup_date BETWEEN {_sql_date(start_date)} AND {_sql_date(end_date)}"
    if signup_definition is not None:
        in_range += f" AND signup_definition_version = {_sql_str(signup_definition)}"
    try:
        signups = pl.from_arrow(
            _fetch_arrow(
                cur,
                "SELECT signup_id, user_id, signup_ts, signup_date, device_platform, _load_id"
                f" FROM {SIGNUPS_TABLE} WHERE {in_range}",
            )
        )
        touches = pl.from_arrow(
            _fetch_arrow(
                cur,
                "SELECT touch_id, user_id, touch_ts, touch_type, platform, campaign_id, is_spam, _load_id"
                f" FROM {TOUCHES_TABLE} WHERE touch_ts >= {_sql_ts(lo)} AND touch_ts < {_sql_ts(hi)}"
                f" AND user_id IN (SELECT user_id FROM {SIGNUPS_TABLE} WHERE {in_range})",
            )
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AttributionInputError(
            f"cannot read {SIGNUPS_TABLE} / {TOUCHES_TABLE} ({first}); build the dbt models first"
        ) from None
    skan: pl.DataFrame | None
    try:
        skan_frame = pl.from_arrow(
            _fetch_arrow(
                cur,
                f"SELECT install_date, platform, campaign_id, skan_signups FROM {SKAN_TABLE}"
                f" WHERE install_date BETWEEN {_sql_date(start_date)} AND {_sql_date(end_date)}",
            )
        )
        skan = skan_frame if isinstance(skan_frame, pl.DataFrame) else None
    except Exception:
        skan = None
    assert isinstance(signups, pl.DataFrame) and isinstance(touches, pl.DataFrame)
    return Inputs(signups=signups, touches=touches, skan=skan)


def _max_str(frame: pl.DataFrame, column: str) -> str | None:
    if column not in frame.columns or frame.height == 0:
        return None
    value = frame.get_column(column).cast(pl.String).max()
    return None if value is None else str(value)


def _max_ts(frame: pl.DataFrame, column: str) -> datetime | None:
    if frame.height == 0:
        return None
    col = frame.get_column(column)
    if isinstance(col.dtype, pl.Datetime) and col.dtype.time_zone is not None:
        col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    value = col.max()
    return value if isinstance(value, datetime) else None


def run_attribution(
    con: Any,
    start_date: date,
    end_date: date,
    config_path: str | Path | None = None,
    run_id: str | None = None,
    signup_definition: str | None = None,
) -> RunSummary:
    """Re-attribute the sign-ups of [start_date, end_date] (both included) and persist the run.

    ``signup_definition`` names the sign-up definition version to attribute (the flows pass the
    published one); None reads every row of ``fact_signups``.

    Idempotent: the same inputs and version give identical ``fact_attribution`` rows (only
    the run id differs); other days and other versions are left untouched.
    """
    if end_date < start_date:
        raise AttributionInputError(f"end date {end_date} is before start date {start_date}")
    config = load_config(config_path)
    started_at = datetime.now(UTC).replace(tzinfo=None)
    run = run_id or f"attr-{started_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    ensure_tables(con)
    inputs = read_inputs(con, start_date, end_date, config, signup_definition)
    batches = attribute_batches(
        inputs.signups, inputs.touches, config, start_date, end_date, skan=inputs.skan, run_id=run
    )
    summary = RunSummary(
        attribution_run_id=run,
        attribution_version=config.attribution_version,
        config_name=config.name,
        model=config.model,
        start_date=start_date,
        end_date=end_date,
        signups_in=inputs.signups.height,
        touches_in=inputs.touches.height,
        skan_rows_in=0 if inputs.skan is None else inputs.skan.height,
        max_signup_load_id=_max_str(inputs.signups, "_load_id"),
        max_touch_load_id=_max_str(inputs.touches, "_load_id"),
        max_signup_ts=_max_ts(inputs.signups, "signup_ts"),
        max_touch_ts=_max_ts(inputs.touches, "touch_ts"),
        rows_out=0,
        deterministic_credit=0.0,
        skan_modeled_credit=0.0,
        unattributed_credit=0.0,
        started_at=started_at,
        finished_at=started_at,
    )
    return write_attribution(con, batches, summary)
