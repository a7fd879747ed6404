"""The foundation: CLI behaviour, settings errors, warehouse bootstrap, network guard, telemetry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from roi.cli import main
from roi.core.telemetry import PREFECT_DEFAULTS, TELEMETRY_OFF

ROOT = Path(__file__).resolve().parents[2]
TELEMETRY_KEYS = {*TELEMETRY_OFF, *PREFECT_DEFAULTS}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``roi`` entry point in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "roi.cli", *args], capture_output=True, text=True, env=full_env, cwd=ROOT
    )


def test_help_lists_commands() -> None:
    res = run_cli("--help")
    assert res.returncode == 0
    assert "bootstrap" in res.stdout
    assert "Usage: roi" in res.stdout


def test_version() -> None:
    res = run_cli("--version")
    assert res.returncode == 0
    assert res.stdout.startswith("roi ")


@pytest.mark.parametrize("args", [["--bogus"], ["no-such-command"], ["bootstrap", "--nope"]])
def test_wrong_option_is_one_line_and_non_zero(args: list[str]) -> None:
    res = run_cli(*args)
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in res.stderr + res.stdout


def test_bad_setting_value_is_one_line() -> None:
    res = run_cli("bootstrap", env={"ROI_WAREHOUSE": "postgres"})
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [
        "error: invalid settings: ROI_WAREHOUSE: Input should be 'duckdb' or 'snowflake'"
    ]


def test_snowflake_without_credentials_names_what_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESTINATION__")}
    env["ROI_WAREHOUSE"] = "snowflake"
    res = subprocess.run(
        [sys.executable, "-m", "roi.cli", "bootstrap"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert res.returncode == 3
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE" in lines[0]
    assert "DESTINATION__SNOWFLAKE__CREDENTIALS__HOST" in lines[0]


def test_missing_pepper_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from roi.core.errors import ConfigError
    from roi.core.settings import Settings

    monkeypatch.delenv("ROI_PII_PEPPER", raising=False)
    with pytest.raises(ConfigError, match="ROI_PII_PEPPER is not set"):
        Settings().require_pepper()


def test_snowflake_profile_and_soda_source_come_from_dlt_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from roi.core.settings import Settings
    from roi.core.warehouse import Warehouse

    for key, value in {
        "DATABASE": "ROI",
        "HOST": "acme-xy123",
        "USERNAME": "loader",
        "PASSWORD": "pw",
        "WAREHOUSE": "TRANSFORMING",
        "ROLE": "LOADER",
    }.items():
        monkeypatch.setenv(f"DESTINATION__SNOWFLAKE__CREDENTIALS__{key}", value)
    wh = Warehouse(Settings(warehouse="snowflake"))
    out = wh.dbt_profile()["streamride_roi"]["outputs"]["default"]
    assert out["type"] == "snowflake"
    assert (out["account"], out["database"], out["warehouse"], out["role"]) == (
        "acme-xy123",
        "ROI",
        "TRANSFORMING",
        "LOADER",
    )
    assert wh.soda_data_source()["connection"]["account"] == "acme-xy123"
    assert type(wh.dlt_destination()).__name__ == "snowflake"


def _snapshot(con) -> dict[str, list]:
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw_ads','raw_events','analytics','audit') order by 1, 2"
    ).fetchall()
    schemas = con.execute("select schema_name from information_schema.schemata order by 1").fetchall()
    return {"tables": tables, "schemas": schemas}


def test_bootstrap_flow_is_idempotent(prefect_harness, fresh_warehouse: Path) -> None:
    from flows.bootstrap import bootstrap_warehouse
    from roi.core.warehouse import get_warehouse

    first_run = bootstrap_warehouse()
    con = get_warehouse().connection()
    after_first = _snapshot(con)
    assert {s for (s,) in after_first["schemas"]} >= {"raw_ads", "raw_events", "analytics", "audit"}
    assert ("audit", "pipeline_runs") in after_first["tables"]

    second_run = bootstrap_warehouse()
    assert _snapshot(con) == after_first
    runs = con.execute(
        "select run_id, flow_name, status, code_version, finished_at is not null from audit.pipeline_runs "
        "order by started_at"
    ).fetchall()
    assert [r[0] for r in runs] == [first_run, second_run]
    assert all(r[1] == "bootstrap_warehouse" and r[2] == "succeeded" and r[4] for r in runs)
    assert runs[0][3] == roi_version()


def roi_version() -> str:
    import roi.core

    return roi.core.__version__


def test_failed_run_is_recorded_as_failed(fresh_warehouse: Path) -> None:
    from roi.core.runs import record_run
    from roi.core.warehouse import get_warehouse

    get_warehouse().bootstrap()
    with pytest.raises(RuntimeError), record_run("demo_failure") as run:
        run.count("rows", 5)
        raise RuntimeError("boom")
    status, error, counts = (
        get_warehouse()
        .connection()
        .execute("select status, error, row_counts from audit.pipeline_runs where flow_name = 'demo_failure'")
        .fetchone()
    )
    assert status == "failed"
    assert "boom" in error
    assert counts == '{"rows": 5}'


def test_network_guard_blocks_non_loopback() -> None:
    from pytest_socket import SocketConnectBlockedError

    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("10.255.255.1", 443), timeout=1)


def test_loopback_is_allowed() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        socket.create_connection(srv.getsockname(), timeout=1).close()
    finally:
        srv.close()


def test_telemetry_is_off_in_one_place() -> None:
    for key, value in TELEMETRY_OFF.items():
        assert os.environ[key] == value
    import dlt

    assert dlt.config.get("runtime.dlthub_telemetry", bool) is False


def test_main_returns_exit_code_in_process() -> None:
    assert main(["--version"]) == 0
    assert main(["--nope"]) == 2


def test_cli_start_up_loads_no_pipeline_tool() -> None:
    """The commands import Prefect, dlt, dbt and Soda when they run: `roi --help` loads none of them."""
    env = {k: v for k, v in os.environ.items() if k not in TELEMETRY_KEYS}
    probe = (
        "import os, sys; from roi.cli import app; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'dlt', 'dbt', 'soda_core'})); "
        "print(os.environ.get('PREFECT_SERVER_ANALYTICS_ENABLED'))"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    # and importing the CLI alone has switched the tools' telemetry off
    assert res.stdout.split() == ["[]", "false"]
