"""Persistence on a temporary DuckDB file: replace per version and day, history, run audit."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from attribution import load_config
from attribution.errors import AttributionInputError
from attribution.store import run_attribution
from tests.attribution.builders import DAY, NOON, signups, touches

D = timedelta(days=1)
H = timedelta(hours=1)


def _world(con: duckdb.DuckDBPyConnection) -> None:
    """Three days of sign-ups and touches in the dbt models' tables (with load ids)."""
    su = signups(
        ("s1", "u1", NOON),
        ("s2", "u2", NOON + D),
        ("s3", "u3", NOON + 2 * D, "ios"),
        ("s4", "u4", NOON + 2 * D, "ios"),
    ).with_columns(
        pl.lit("1700000000.1").alias("_load_id"),
        pl.lit("US").alias("country"),
        pl.lit("signup_v1").alias("signup_definition_version"),
    )
    tt = touches(
        ("a", "u1", NOON - 6 * D, "click", "google_ads", "g1"),
        ("b", "u1", NOON - H, "view", "meta_ads", "m1"),
        ("c", "u2", NOON + D - 2 * H, "click", "meta_ads", "m1"),
        ("d", "u3", NOON + 2 * D - 3 * D, "click", "apple_search_ads", "a1"),
        ("e", "u9", NOON, "click", "google_ads", "g1"),
    ).with_columns(pl.lit("1700000000.2").alias("_load_id"))
    sk = pl.DataFrame(
        {"install_date": [DAY + 2 * D], "platform": ["meta_ads"], "campaign_id": ["m1"], "skan_signups": [1]}
    )
    con.execute("create schema if not exists analytics")
    for name, frame in (("fact_signups", su), ("fact_touchpoints", tt), ("int_skan_signups_daily", sk)):
        con.register("_f", frame.to_arrow())
        con.execute(f"create or replace table analytics.{name} as select * from _f")
        con.unregister("_f")


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(str(tmp_path / "wh.duckdb"))
    _world(c)
    return c


def _fact(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return pl.from_arrow(con.sql("select * from analytics.fact_attribution order by all").to_arrow_table())  # type: ignore[return-value]


def test_run_writes_fact_history_and_audit(con: duckdb.DuckDBPyConnection) -> None:
    summary = run_attribution(con, DAY, DAY + 2 * D, run_id="run-1")
    fact = _fact(con)
    assert set(fact["signup_id"]) == {"s1", "s2", "s3", "s4"}
    assert fact.group_by("signup_id").agg(pl.col("credit").sum())["credit"].to_list() == pytest.approx(
        [1.0] * 4
    )
    got = {
        r["signup_id"]: (r["touch_id"], r["method"])
        for r in fact.iter_rows(named=True)
        if r["method"] != "unattributed"
    }
    assert got == {
        "s1": ("a", "deterministic"),
        "s2": ("c", "deterministic"),
        "s3": ("d", "deterministic"),
        "s4": (None, "skan_modeled"),
    }
    assert (fact["attribution_version"] == load_config().attribution_version).all()
    runs = con.sql("select * from audit.attribution_runs").pl()
    assert runs.height == 1
    r = runs.row(0, named=True)
    assert r["attribution_run_id"] == "run-1" and r["signups_in"] == 4 and r["touches_in"] == 4
    assert r["max_touch_load_id"] == "1700000000.2" and r["max_signup_load_id"] == "1700000000.1"
    assert r["rows_out"] == fact.height == summary.rows_out and r["finished_at"] >= r["started_at"]
    assert r["skan_modeled_credit"] == pytest.approx(1.0) and r["unattributed_credit"] == pytest.approx(0.0)
    hist = con.execute("select count(*) from audit.attribution_history").fetchone()
    assert hist == (fact.height,)


def test_rerun_is_identical_and_only_replaces_its_days(con: duckdb.DuckDBPyConnection) -> None:
    run_attribution(con, DAY, DAY + 2 * D, run_id="run-1")
    first = _fact(con)
    run_attribution(con, DAY, DAY + 2 * D, run_id="run-2")
    second = _fact(con)
    assert first.drop("attribution_run_id").equals(second.drop("attribution_run_id"))
    assert set(second["attribution_run_id"]) == {"run-2"}
    # a late touch arrives for day 2's user; re-attribute only day 2
    con.execute(
        "insert into analytics.fact_touchpoints (touch_id, user_id, touch_ts, touch_type, platform, campaign_id,"
        " is_spam, _load_id) values ('late', 'u2', TIMESTAMP '2024-05-11 11:30:00', 'click', 'tiktok_ads', 'k1',"
        " false, '1700000000.3')"
    )
    run_attribution(con, DAY + D, DAY + D, run_id="run-3")
    third = _fact(con)
    assert third.filter(pl.col("signup_id") == "s2")["touch_id"].to_list() == ["late"]
    others = pl.col("signup_date") != DAY + D
    assert third.filter(others).equals(second.filter(others))  # other days untouched, still run-2
    assert set(third.filter(others)["attribution_run_id"]) == {"run-2"}
    runs = con.execute(
        "select attribution_run_id, max_touch_load_id from audit.attribution_runs order by 1"
    ).fetchall()
    assert runs == [("run-1", "1700000000.2"), ("run-2", "1700000000.2"), ("run-3", "1700000000.3")]
    n_hist = con.execute("select count(*) from audit.attribution_history").fetchone()
    assert n_hist == (first.height * 2 + third.filter(~others).height,)


def test_versions_live_side_by_side(con: duckdb.DuckDBPyConnection) -> None:
    run_attribution(con, DAY, DAY + 2 * D, run_id="lt")
    run_attribution(con, DAY, DAY + 2 * D, config_path="linear_v1", run_id="lin")
    run_attribution(con, DAY, DAY, run_id="lt2")
    fact = _fact(con)
    per_version = fact.group_by("attribution_version", "model").agg(pl.col("credit").sum())
    assert sorted(per_version["credit"].to_list()) == pytest.approx([4.0, 4.0])
    lin = fact.filter(pl.col("model") == "linear")
    assert set(lin["attribution_run_id"]) == {"lin"}
    assert lin.filter(pl.col("signup_id") == "s1").height == 1  # the view loses to the click


def test_a_v2_signup_definition_beside_v1_is_not_attributed_twice(con: duckdb.DuckDBPyConnection) -> None:
    """With v2 rows of the same sign-ups in fact_signups, a run over the published definition
    reads only that definition's rows: credit still sums to 1 per sign-up."""
    con.execute(
        "insert into analytics.fact_signups select * replace ('signup_v2' as signup_definition_version)"
        " from analytics.fact_signups"
    )
    summary = run_attribution(con, DAY, DAY + 2 * D, signup_definition="signup_v1")
    fact = _fact(con)
    assert summary.signups_in == 4
    assert fact.group_by("signup_id").agg(pl.col("credit").sum())["credit"].to_list() == pytest.approx(
        [1.0] * 4
    )


def test_missing_inputs_and_bad_range_are_user_errors(tmp_path: Path) -> None:
    empty = duckdb.connect(str(tmp_path / "empty.duckdb"))
    with pytest.raises(AttributionInputError, match="build the dbt models first"):
        run_attribution(empty, DAY, DAY)
    with pytest.raises(AttributionInputError, match="before start date"):
        run_attribution(empty, DAY, date(2024, 1, 1))


def test_timestamptz_inputs_give_the_same_rows(tmp_path: Path) -> None:
    naive = duckdb.connect(str(tmp_path / "a.duckdb"))
    _world(naive)
    aware = duckdb.connect(str(tmp_path / "b.duckdb"))
    _world(aware)
    aware.execute("set TimeZone = 'America/New_York'")  # a session zone that is not UTC
    aware.execute(
        "alter table analytics.fact_signups alter signup_ts type timestamptz using signup_ts AT TIME ZONE 'UTC'"
    )
    aware.execute(
        "alter table analytics.fact_touchpoints alter touch_ts type timestamptz using touch_ts AT TIME ZONE 'UTC'"
    )
    run_attribution(naive, DAY, DAY + 2 * D, run_id="r")
    run_attribution(aware, DAY, DAY + 2 * D, run_id="r")
    assert _fact(naive).equals(_fact(aware))
