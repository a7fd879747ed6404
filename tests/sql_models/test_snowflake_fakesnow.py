"""The whole dbt project on the Snowflake adapter, against fakesnow.

A full-refresh build only: dbt-snowflake's incremental materialization creates temporary
tables, which fakesnow rejects ("TEMPORARY table names can only use the temp catalog"), so
the incremental path is tested on DuckDB and here every model is built from scratch. What
this proves is that every dialect difference goes through the dispatch
macros: the Snowflake SQL (convert_timezone, dateadd, dayofweekiso, ...) compiles, runs and
gives the same facts as DuckDB.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.sql_models.raw_world import build_raw_world

SNOWFLAKE_ENV = {
    "ROI_WAREHOUSE": "snowflake",
    "DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE": "ROI",
    "DESTINATION__SNOWFLAKE__CREDENTIALS__HOST": "fakesnow",
    "DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME": "dbt",
    "DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD": "not-a-secret",
    "DESTINATION__SNOWFLAKE__CREDENTIALS__WAREHOUSE": "compute_wh",
}
SUMMARY = (
    "select lower(platform), count(*), sum(spend_local), sum(spend_usd), count(distinct spend_key),"
    " sum(coalesce(spend_hour, -1) * 100 + extract(day from spend_date)) from {t} group by 1 order by 1"
)


@pytest.fixture
def snowflake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from roi.core.settings import reset_settings
    from roi.core.warehouse import reset_warehouse

    for key, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ROI_DUCKDB_PATH", str(tmp_path / "roi" / "unused.duckdb"))
    reset_settings()
    reset_warehouse()
    yield tmp_path
    reset_warehouse()
    monkeypatch.undo()
    reset_settings()


def test_full_refresh_build_on_snowflake_adapter_matches_duckdb(built, snowflake_env):
    import fakesnow

    from flows.dbt_runner import run_dbt

    db_dir = snowflake_env / "fakesnow"
    db_dir.mkdir()
    con = duckdb.connect(str(db_dir / "ROI.db"))  # fakesnow attaches <db_path>/<DATABASE>.db
    build_raw_world().write(con)
    con.close()
    # the attribution engine's rows, copied from the DuckDB build, so the mart has input
    cur = built.connection().cursor()
    attribution = cur.execute("select * from analytics.fact_attribution").to_arrow_table()
    cur.close()
    con = duckdb.connect(str(db_dir / "ROI.db"))
    con.register("attribution", attribution)
    con.execute("create table analytics.fact_attribution as select * from attribution")
    con.close()

    # the unit tests' fixtures are DuckDB SQL; test_models.py runs them (test_dbt_unit_tests_pass)
    with fakesnow.patch(db_path=db_dir):
        run = run_dbt(
            ["build", "--full-refresh", "--exclude-resource-type", "unit_test"], raise_on_failure=False
        )
    assert run.success, [(n.name, n.message) for n in run.failed]
    assert any(n.name == "assert_mart_spend_equals_fact_spend" and n.status == "pass" for n in run.nodes)

    snow = duckdb.connect(str(db_dir / "ROI.db"), read_only=True)
    try:
        got = snow.execute(SUMMARY.format(t="analytics.fact_ad_spend")).fetchall()
        signups = snow.execute(
            "select count(*), sum(first_revenue_usd) from analytics.fact_signups"
        ).fetchall()
        spam = snow.execute(
            "select count(*), sum(case when is_spam then 1 else 0 end) from analytics.fact_touchpoints"
        ).fetchall()
    finally:
        snow.close()
    ref = built.connection().cursor()
    try:
        assert got == ref.execute(SUMMARY.format(t="analytics.fact_ad_spend")).fetchall()
        assert (
            signups
            == ref.execute("select count(*), sum(first_revenue_usd) from analytics.fact_signups").fetchall()
        )
        assert (
            spam
            == ref.execute(
                "select count(*), sum(case when is_spam then 1 else 0 end) from analytics.fact_touchpoints"
            ).fetchall()
        )
    finally:
        ref.close()
