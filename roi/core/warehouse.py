"""The one place that turns settings into warehouse connections.

From ``ROI_WAREHOUSE`` it gives a DB-API connection, the dlt destination, the dbt profile and
the Soda data source, for the embedded DuckDB file (default) or Snowflake. Nothing else in the
project reads connection details.

DuckDB allows one writing *process* per file (and while one has it open, no other process may
open it, even read-only), but many connections inside it. So in embedded mode a process opens
the file only during its turn (:meth:`Warehouse.session`, :mod:`roi.core.turns`): one database
instance, handing out cursors to our own SQL, its connection to dlt (as borrowed credentials)
and cursors to Soda; dbt-duckdb opens the same path in the same process, which DuckDB maps to
the same instance. When the outermost session ends the instance is closed, and the next
process in line may open the file. Flows hold a session per step, commands per command (or
per query, for long reads). The turn also orders the uses of the working folder beside the
file (dlt's pipeline folders, dbt's target folder).

dlt and the Snowflake connector are imported inside the methods that use them: each takes
seconds to load, and every ``roi`` command (``--help`` and a settings error included) imports
this module; embedded mode never loads the Snowflake connector at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from roi.core.errors import ConfigError
from roi.core.settings import Settings, get_settings
from roi.core.turns import Turn, turn_for

SCHEMAS: tuple[str, ...] = ("raw_ads", "raw_events", "analytics", "audit")

PIPELINE_RUNS_DDL = """
create table if not exists audit.pipeline_runs (
    run_id varchar not null,
    flow_name varchar not null,
    window_start timestamp,
    window_end timestamp,
    status varchar not null,
    started_at timestamp not null,
    finished_at timestamp,
    row_counts varchar,
    code_version varchar not null,
    error varchar
)
"""

# The product-event loads already folded into the facts: an hourly run re-derives only the
# touches of loads not listed here (written by flows/pipeline.py once a run's models succeed).
FACTS_EVENT_LOADS_DDL = """
create table if not exists audit.facts_event_loads (
    load_id varchar not null,
    run_id varchar not null,
    folded_at timestamp not null
)
"""

# The latest outcome of every (platform, account, report date) slice an ads pull planned:
# complete, partial (rows not applied) or deferred (not pulled; resume_after says when). A later
# run re-pulls the open ones; the close gates and the monitoring rules read it.
PULL_SLICES_DDL = """
create table if not exists audit.pull_slices (
    platform varchar not null,
    account_id varchar not null,
    report_date date not null,
    status varchar not null,
    rows_expected bigint,
    rows_received bigint,
    resume_after timestamp,
    load_id varchar,
    applied boolean,
    detail varchar,
    logical_time timestamp not null,
    recorded_at timestamp not null
)
"""

# Snowflake credentials follow dlt's conventions: DESTINATION__SNOWFLAKE__CREDENTIALS__<FIELD>
# (or one connection string in DESTINATION__SNOWFLAKE__CREDENTIALS).
SNOWFLAKE_REQUIRED = ("database", "host", "username", "warehouse")


@dataclass(frozen=True)
class SnowflakeConfig:
    """Resolved Snowflake credentials (from dlt's config providers)."""

    database: str
    host: str
    username: str
    password: str | None
    warehouse: str
    role: str | None
    private_key: str | None


def resolve_snowflake() -> SnowflakeConfig:
    """Resolve Snowflake credentials through dlt, or fail with one line naming what is missing."""
    # Imported at use (start-up time, see the module docstring).
    from dlt.common.configuration import resolve_configuration
    from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigurationException
    from dlt.destinations.impl.snowflake.configuration import SnowflakeCredentials

    try:
        creds = resolve_configuration(
            SnowflakeCredentials(), sections=("destination", "snowflake", "credentials")
        )
    except ConfigFieldMissingException as exc:
        missing = ", ".join(f"DESTINATION__SNOWFLAKE__CREDENTIALS__{f.upper()}" for f in exc.fields)
        raise ConfigError(f"ROI_WAREHOUSE=snowflake but credentials are missing: set {missing}") from None
    except (ConfigurationException, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"invalid Snowflake credentials: {first}") from None
    missing_opt = [f for f in SNOWFLAKE_REQUIRED if not getattr(creds, f, None)]
    if missing_opt:
        names = ", ".join(f"DESTINATION__SNOWFLAKE__CREDENTIALS__{f.upper()}" for f in missing_opt)
        raise ConfigError(f"ROI_WAREHOUSE=snowflake but credentials are missing: set {names}")
    return SnowflakeConfig(
        database=creds.database,
        host=creds.host,
        username=str(creds.username),
        password=creds.password,
        warehouse=str(creds.warehouse),
        role=creds.role,
        private_key=creds.private_key,
    )


class Warehouse:
    """Connections to the configured warehouse; one instance per process (see get_warehouse)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kind = settings.warehouse
        self._lock = threading.Lock()
        self._snowflake: SnowflakeConfig | None = None
        self._turn: Turn | None = None
        if self.kind == "snowflake":
            self._snowflake = resolve_snowflake()
        else:
            self._turn = turn_for(self.duckdb_path)

    # -- connections -------------------------------------------------------------------
    @property
    def duckdb_path(self) -> Path:
        """Absolute path of the embedded DuckDB file."""
        return self.settings.duckdb_path.expanduser().resolve()

    @contextmanager
    def session(self, what: str = "", on_wait: Callable[[str], None] | None = None) -> Iterator[Warehouse]:
        """Hold the embedded file for the block: wait for this process's turn, close the file at the end.

        Re-entrant; a no-op on Snowflake, which has no one-process limit. ``what`` names the
        holder to waiting processes; ``on_wait(holder)`` is called once if the turn is busy.
        """
        if self._turn is None:
            yield self
            return
        with self._turn.hold(what or f"pid {os.getpid()}", on_wait, before_release=self._close_duckdb):
            yield self

    def connection(self) -> Any:
        """A DB-API connection: the process's shared DuckDB instance, or a new Snowflake session.

        For DuckDB, call it inside :meth:`session`; outside one, the process takes the turn
        until :meth:`close` (correct, but every other process waits that long). Callers should
        take ``.cursor()`` per query: a cursor with an unfinished result blocks its connection.
        """
        turn = self._turn
        if turn is not None:
            if not turn.held:
                turn.pin(f"pid {os.getpid()} (outside a session)")
            with self._lock:
                if turn.opened is None:
                    self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
                    con = duckdb.connect(str(self.duckdb_path))
                    # A SET (not a connect-time config) so dbt-duckdb, which opens the same
                    # file in this process with its own config, still maps to this instance.
                    con.execute(f"set memory_limit = '{self.settings.duckdb_memory_limit}'")
                    turn.opened = con
                return turn.opened
        import snowflake.connector  # Snowflake mode only (see the module docstring)

        sf = self._snowflake
        assert sf is not None
        snowflake.connector.paramstyle = "qmark"
        return snowflake.connector.connect(
            account=sf.host,
            user=sf.username,
            password=sf.password,
            database=sf.database,
            warehouse=sf.warehouse,
            role=sf.role,
            schema="ANALYTICS",
            session_parameters={"TIMEZONE": "UTC", "QUERY_TAG": "streamride-roi"},
        )

    def _close_duckdb(self) -> None:
        """Close the process's DuckDB instance (its cursors close with it), so another process may open the file."""
        turn = self._turn
        with self._lock:
            if turn is not None and turn.opened is not None:
                con, turn.opened = turn.opened, None
                con.close()

    def close_file(self) -> None:
        """Close the embedded file's instance but keep the turn: the next :meth:`connection` opens
        the file again. For a caller that replaces the file in its turn (erasure's rewrite)."""
        self._close_duckdb()

    def close(self) -> None:
        """End a turn taken outside a session and close the DuckDB instance (tests and the CLI call this)."""
        turn = self._turn
        if turn is None:
            return
        turn.unpin(before_release=self._close_duckdb)
        if not turn.held:
            self._close_duckdb()

    # -- dlt ---------------------------------------------------------------------------
    def dlt_destination(self) -> Any:
        """The dlt destination for this warehouse (DuckDB shares this process's instance)."""
        import dlt  # start-up time (see the module docstring)

        if self.kind == "duckdb":
            return dlt.destinations.duckdb(credentials=self.connection())
        # Credentials resolve through dlt's own providers (DESTINATION__SNOWFLAKE__CREDENTIALS__*).
        return dlt.destinations.snowflake()

    def dlt_pipeline(self, pipeline_name: str, dataset_name: str, **kwargs: Any) -> Any:
        """A dlt pipeline on this warehouse, with its working folder under ``.roi/dlt``.

        Every loader hands dlt Arrow tables, which get dlt's ``_dlt_load_id`` only with this
        normalizer option; the flows select new rows by it. Set at every call, not
        once at import: a caller that restores its environment later would drop it.
        """
        import dlt  # start-up time (see the module docstring)

        os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
        pipelines_dir = self.duckdb_path.parent / "dlt"
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=self.dlt_destination(),
            dataset_name=dataset_name,
            pipelines_dir=str(pipelines_dir),
            **kwargs,
        )

    # -- dbt ---------------------------------------------------------------------------
    def dbt_profile(self, threads: int = 1) -> dict[str, Any]:
        """The dbt ``profiles.yml`` content (profile ``streamride_roi``, target ``default``)."""
        if self.kind == "duckdb":
            output: dict[str, Any] = {
                "type": "duckdb",
                "path": str(self.duckdb_path),
                "schema": "analytics",
                "threads": threads,
            }
        else:
            sf = self._snowflake
            assert sf is not None
            output = {
                "type": "snowflake",
                "account": sf.host,
                "user": sf.username,
                "database": sf.database,
                "warehouse": sf.warehouse,
                "schema": "analytics",
                "threads": max(threads, 4),
                "client_session_keep_alive": False,
            }
            if sf.password:
                output["password"] = sf.password
            if sf.role:
                output["role"] = sf.role
            if sf.private_key:
                output["private_key"] = sf.private_key
        return {"streamride_roi": {"target": "default", "outputs": {"default": output}}}

    # -- Soda --------------------------------------------------------------------------
    def soda_data_source(self) -> dict[str, Any]:
        """The Soda v4 data source definition (DuckDB: the shared connection itself)."""
        if self.kind == "duckdb":
            return {
                "type": "duckdb",
                "name": "roi",
                "connection": {"duckdb_connection": self.connection(), "schema": "analytics"},
            }
        sf = self._snowflake
        assert sf is not None
        conn: dict[str, Any] = {
            "account": sf.host,
            "user": sf.username,
            "database": sf.database,
            "warehouse": sf.warehouse,
            "schema": "ANALYTICS",
        }
        if sf.password:
            conn["password"] = sf.password
        if sf.role:
            conn["role"] = sf.role
        return {"type": "snowflake", "name": "roi", "connection": conn}

    # -- bootstrap ---------------------------------------------------------------------
    def bootstrap(self) -> None:
        """Create the schemas and audit tables if missing. Idempotent."""
        with self.session("bootstrap"):
            cur = self.connection().cursor()
            try:
                for schema in SCHEMAS:
                    cur.execute(f"create schema if not exists {schema}")
                cur.execute(PIPELINE_RUNS_DDL)
                cur.execute(FACTS_EVENT_LOADS_DDL)
                cur.execute(PULL_SLICES_DDL)
            finally:
                cur.close()


def table_exists(cursor: Any, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists, asked through ``information_schema`` on either warehouse.

    Compared case-insensitively: Snowflake stores unquoted identifiers in upper case.
    """
    row = cursor.execute(
        "select count(*) from information_schema.tables "
        "where lower(table_schema) = lower(?) and lower(table_name) = lower(?)",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


_WAREHOUSE: Warehouse | None = None
_WAREHOUSE_LOCK = threading.Lock()


def get_warehouse() -> Warehouse:
    """The process's warehouse, built from settings on first use."""
    global _WAREHOUSE
    with _WAREHOUSE_LOCK:
        if _WAREHOUSE is None:
            _WAREHOUSE = Warehouse(get_settings())
        return _WAREHOUSE


def reset_warehouse() -> None:
    """Close and forget the process's warehouse (after settings change, and in tests)."""
    global _WAREHOUSE
    with _WAREHOUSE_LOCK:
        if _WAREHOUSE is not None:
            _WAREHOUSE.close()
        _WAREHOUSE = None
