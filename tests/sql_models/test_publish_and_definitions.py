"""What readers see: the mart is published only after its checks, definitions are versions in the
data, the published attribution config is what the report and the artifact show, and SKAN-modeled
revenue stays off the campaigns.

One warehouse of its own (the hand-made raw world, built like the session's ``built``), because
these tests rebuild the mart, run other attribution configs and a v2 sign-up definition.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.sql_models.conftest import rows
from tests.sql_models.raw_world import build_raw_world

FIRST = date(2024, 10, 25)
LAST = date(2024, 11, 6)
# a day of the world with spend, deterministic sign-ups and u11's SKAN-modeled sign-up (Meta)
DAY = date(2024, 11, 2)
MART = "analytics.mart_marketing_roi_daily"
STAGED = "analytics.mart_marketing_roi_daily__staged"


@pytest.fixture(scope="module")
def world(session_dir: Path) -> Iterator[Any]:
    """A fully built warehouse of the raw world (facts, last-touch attribution, published mart)."""
    from attribution.store import run_attribution
    from flows.dbt_runner import build_facts, build_mart
    from roi.core.settings import reset_settings
    from roi.core.warehouse import get_warehouse, reset_warehouse

    old = os.environ.get("ROI_DUCKDB_PATH")
    os.environ["ROI_DUCKDB_PATH"] = str(session_dir / "publish" / "warehouse.duckdb")
    reset_settings()
    reset_warehouse()
    wh = get_warehouse()
    wh.bootstrap()
    build_raw_world().write(wh.connection())
    build_facts(full_refresh=True)
    run_attribution(wh.connection(), FIRST, LAST)
    build_mart(full_refresh=True)
    yield wh
    reset_warehouse()
    if old is None:
        os.environ.pop("ROI_DUCKDB_PATH", None)
    else:
        os.environ["ROI_DUCKDB_PATH"] = old
    reset_settings()


def _table(wh: Any, table: str, where: str = "true") -> list[tuple[Any, ...]]:
    """Every row of a table, sorted (a comparable picture of it)."""
    return sorted(rows(wh, f"select * from {table} where {where}"), key=repr)


# --- checks before publish ------------------------------------------------------------------


@dataclass
class _Run:
    """The bits of ``roi.core.runs`` a flow's ``run`` offers to ``_transform``."""

    run_id: str = "test-run"
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, value: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + int(value)


def _contracts_with_a_failing_mart_check(folder: Path) -> Path:
    """A copy of soda_checks/ whose mart contract demands an impossible number of rows."""
    from flows.checks import CONTRACTS_DIR

    shutil.copytree(CONTRACTS_DIR, folder)
    path = folder / "mart_marketing_roi_daily.yaml"
    path.write_text(
        path.read_text()
        + "  - row_count:\n"
        + "      qualifier: impossible\n"
        + "      name: impossible row count\n"
        + "      threshold:\n"
        + "        must_be_greater_than: 1000000000\n"
    )
    return folder


@pytest.mark.usefixtures("prefect_harness")
def test_failing_check_leaves_the_published_mart_as_it_was(world, tmp_path, monkeypatch) -> None:
    """A run whose new mart rows fail a check fails naming the check in one line, and the mart
    readers see is byte for byte what it was; once the check passes, the same run publishes."""
    from prefect import flow

    import flows.tasks
    from flows.checks import ChecksFailed, run_all_checks
    from flows.pipeline import _transform

    con = world.connection()
    before = _table(world, MART)
    # new data for the window: the candidate must differ from what is published
    con.execute(
        "update raw_events.events set revenue = revenue * 3 "
        "where event_type in ('first_ride', 'first_order') and revenue is not null"
    )
    broken = _contracts_with_a_failing_mart_check(tmp_path / "contracts")

    def checks_with(contracts: Path):
        def run(*args: Any, **kwargs: Any) -> Any:
            return run_all_checks(*args, contracts_dir=contracts, **kwargs)

        return run

    @flow(name="transform-under-test")
    def transform() -> None:
        _transform(_Run(), date(2024, 11, 1), date(2024, 11, 4), datetime(2024, 11, 3, 12, tzinfo=UTC))

    revenue = "select sum(revenue_usd) from {} where report_date between '2024-10-30' and '2024-11-03'"
    try:
        monkeypatch.setattr(flows.tasks, "run_all_checks", checks_with(broken))
        with pytest.raises(ChecksFailed) as failed:
            transform()
        message = str(failed.value)
        assert "\n" not in message
        assert "mart_marketing_roi_daily__staged:impossible row count (failed)" in message
        assert "the mart was not published" in message
        assert _table(world, MART) == before  # readers see exactly what they saw
        assert rows(world, revenue.format(STAGED))[0][0] != rows(world, revenue.format(MART))[0][0]

        # the same run with the real contracts publishes the new rows
        monkeypatch.setattr(flows.tasks, "run_all_checks", checks_with(flows.checks.CONTRACTS_DIR))
        transform()
        assert _table(world, MART) != before
        assert rows(world, revenue.format(STAGED))[0][0] == rows(world, revenue.format(MART))[0][0]
    finally:
        con.execute(
            "update raw_events.events set revenue = revenue / 3 "
            "where event_type in ('first_ride', 'first_order') and revenue is not null"
        )
        monkeypatch.setattr(flows.tasks, "run_all_checks", checks_with(flows.checks.CONTRACTS_DIR))
        transform()
    assert _table(world, MART) == before


def test_publish_is_one_transaction(world) -> None:
    """A publish that fails half-way (after its delete of the window) leaves the published mart as it was."""
    from flows.dbt_runner import DbtError, publish_mart

    con = world.connection()
    before = _table(world, MART)
    # a candidate row that cannot go into the published mart (a key column made null): the insert
    # fails after the pre-hook deleted the window's rows
    con.execute(f"create table analytics._staged_copy as select * from {STAGED}")
    con.execute(f"alter table {MART} alter column platform set not null")
    try:
        con.execute(f"update {STAGED} set platform = null where report_date = '2024-11-02'")
        with pytest.raises(DbtError):
            publish_mart(date(2024, 11, 1), date(2024, 11, 4))
        assert _table(world, MART) == before
    finally:
        con.execute(f"alter table {MART} alter column platform drop not null")
        con.execute(f"delete from {STAGED}")
        con.execute(f"insert into {STAGED} select * from analytics._staged_copy")
        con.execute("drop table analytics._staged_copy")


# --- definitions as versions ------------------------------------------------------------------

# The toy v2 rule: a sign-up counts only with a first ride or order within the revenue window.
TOY_V2_RULE = """
{% if var('signup_definition_version') == 'signup_v2' %}
where first_revenue_usd is not null
{% endif %}
"""


def _project_with_toy_v2(folder: Path) -> Path:
    """A copy of sql_models/ whose fact_signups has a toy rule under signup_v2."""
    from flows.dbt_runner import PROJECT_DIR

    shutil.copytree(PROJECT_DIR, folder, ignore=shutil.ignore_patterns("target", "logs"))
    model = folder / "models" / "marts" / "fact_signups.sql"
    text = model.read_text()
    assert text.rstrip().endswith("select * from final")
    model.write_text(text.rstrip() + "\n" + TOY_V2_RULE)
    return folder


def test_a_v2_definition_runs_beside_v1(world, tmp_path, monkeypatch) -> None:
    """fact_signups and the mart built under signup_v2 add rows beside v1's: v1's stay as they
    were, and the published numbers (ROI_PUBLISHED_SIGNUP_DEFINITION = signup_v1) do not move."""
    import flows.dbt_runner as dbt_runner
    from flows.report import roi_rows

    v1 = "signup_definition_version = 'signup_v1'"
    signups_v1, mart_v1 = _table(world, "analytics.fact_signups", v1), _table(world, MART, v1)
    report = [roi_rows(d) for d in (DAY, date(2024, 11, 3))]
    monkeypatch.setattr(dbt_runner, "PROJECT_DIR", _project_with_toy_v2(tmp_path / "sql_models"))
    v2 = {"signup_definition_version": "signup_v2"}
    # the facts' tests (unique per sign-up and version) run beside v1's rows
    build = ["build", "--select", "int_signup_users__affected", "fact_signups"]
    build += ["--exclude", "tag:after_attribution", "--exclude-resource-type", "unit_test"]
    dbt_runner.run_dbt(build, v2)
    dbt_runner.stage_mart(dbt_vars=v2)
    dbt_runner.publish_mart(dbt_vars=v2)

    assert _table(world, "analytics.fact_signups", v1) == signups_v1
    assert _table(world, MART, v1) == mart_v1
    counts = dict(
        rows(world, "select signup_definition_version, count(*) from analytics.fact_signups group by 1")
    )
    with_revenue = rows(
        world, f"select count(*) from analytics.fact_signups where {v1} and first_revenue_usd > 0"
    )
    assert counts["signup_v2"] == with_revenue[0][0] < counts["signup_v1"]
    mart_v2 = rows(
        world,
        f"select sum(signups + modeled_signups) from {MART} where signup_definition_version = 'signup_v2'",
    )
    assert mart_v2[0][0] == counts["signup_v2"]  # the v2 mart reconciles with the v2 facts
    assert [roi_rows(d) for d in (DAY, date(2024, 11, 3))] == report

    # put the world back: v2 rows gone, the project's own models again
    for table in ("fact_signups", "mart_marketing_roi_daily__staged", "mart_marketing_roi_daily"):
        world.connection().execute(
            f"delete from analytics.{table} where signup_definition_version = 'signup_v2'"
        )


# --- the published attribution config --------------------------------------------------------


def test_another_attribution_config_changes_no_published_number(world, monkeypatch) -> None:
    """A manual linear_v1 run over the same days (its rows reach the mart) changes neither the
    report rows nor the artifact: both read the ROI_DEFAULT_ATTRIBUTION_CONFIG version."""
    import flows.tasks
    from attribution.store import run_attribution
    from flows.dbt_runner import build_mart
    from flows.published import published
    from flows.report import roi_rows

    artifacts: list[dict[str, Any]] = []
    monkeypatch.setattr(flows.tasks, "create_table_artifact", lambda **kw: artifacts.append(kw))
    days = [date(2024, 10, 28), DAY, date(2024, 11, 3), date(2024, 11, 4)]
    report = [roi_rows(d) for d in days]
    for d in days:
        flows.tasks.publish_roi_artifact.fn(d)

    linear = run_attribution(world.connection(), FIRST, LAST, "linear_v1")
    build_mart(FIRST, LAST)
    versions = [r[0] for r in rows(world, f"select distinct attribution_version from {MART} order by 1")]
    assert linear.attribution_version in versions and published().attribution_version in versions
    # "the largest version" would now be linear's: what the report used to pick
    assert max(versions) == linear.attribution_version != published().attribution_version

    assert [roi_rows(d) for d in days] == report
    for d in days:
        flows.tasks.publish_roi_artifact.fn(d)
    assert artifacts[len(days) :] == artifacts[: len(days)]
    assert all(a["table"] for a in artifacts)


def test_the_flows_attribute_under_the_default_config(world, monkeypatch) -> None:
    """The flows' attribution task runs ROI_DEFAULT_ATTRIBUTION_CONFIG, on the published sign-ups."""
    import flows.tasks
    from roi.core.settings import reset_settings

    monkeypatch.setenv("ROI_DEFAULT_ATTRIBUTION_CONFIG", "first_touch_v1")
    reset_settings()
    try:
        summary = flows.tasks.attribute.fn(DAY, date(2024, 11, 3))
    finally:
        monkeypatch.delenv("ROI_DEFAULT_ATTRIBUTION_CONFIG")
        reset_settings()
    assert summary["config_name"] == "first_touch_v1"
    signups = rows(world, f"select count(*) from analytics.fact_signups where signup_date = '{DAY}'")
    assert summary["signups_in"] == signups[0][0]


# --- SKAN-modeled revenue ---------------------------------------------------------------------


def test_skan_modeled_revenue_is_not_credited_to_campaigns(world) -> None:
    """A SKAN-modeled sign-up's revenue goes to the day's unattributed row, not to the campaign
    its (arbitrary) pool draw named; the day's revenue still equals the sign-ups' revenue."""
    from flows.dbt_runner import stage_mart
    from flows.published import published

    con = world.connection()
    version = published().attribution_version
    skan = rows(
        world,
        "select a.signup_id, a.platform, a.campaign_id from analytics.fact_attribution a"
        f" join analytics.fact_signups s using (signup_id) where a.method = 'skan_modeled'"
        f" and a.attribution_version = '{version}' and s.signup_date = '{DAY}'",
    )
    assert skan, "the world has a SKAN-modeled sign-up on DAY"
    signup_id, platform, campaign = skan[0]
    old = rows(world, f"select first_revenue_usd from analytics.fact_signups where signup_id = '{signup_id}'")
    con.execute(f"update analytics.fact_signups set first_revenue_usd = 1000 where signup_id = '{signup_id}'")
    try:
        stage_mart(DAY, date(2024, 11, 3), lookback_days=0)
        cell = f"from {STAGED} where report_date = '{DAY}' and attribution_version = '{version}'"
        campaign_row = rows(
            world,
            f"select modeled_signups, revenue_usd {cell} and platform = '{platform}' and campaign_id = '{campaign}'",
        )
        deterministic = rows(
            world,
            "select coalesce(sum(a.credit * coalesce(s.first_revenue_usd, 0)), 0)"
            " from analytics.fact_attribution a join analytics.fact_signups s using (signup_id)"
            f" where a.method = 'deterministic' and a.attribution_version = '{version}'"
            f" and s.signup_date = '{DAY}' and a.platform = '{platform}' and a.campaign_id = '{campaign}'",
        )
        assert campaign_row[0][0] >= 1 and float(campaign_row[0][1]) == pytest.approx(
            float(deterministic[0][0])
        )
        unattributed = rows(world, f"select revenue_usd {cell} and platform = 'unattributed'")
        assert float(unattributed[0][0]) >= 1000
        total = rows(
            world, f"select sum(first_revenue_usd) from analytics.fact_signups where signup_date = '{DAY}'"
        )
        assert float(rows(world, f"select sum(revenue_usd) {cell}")[0][0]) == pytest.approx(
            float(total[0][0])
        )
    finally:
        con.execute(
            "update analytics.fact_signups set first_revenue_usd = ? where signup_id = ?",
            [old[0][0], signup_id],
        )
        stage_mart(DAY, date(2024, 11, 3), lookback_days=0)
