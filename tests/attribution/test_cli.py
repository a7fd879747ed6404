"""``roi attribution run`` / ``versions`` through ``roi.cli.main`` on a temporary warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from attribution import load_config
from roi.cli import main
from tests.attribution.test_store import _world


def test_run_attributes_and_prints_the_summary(
    fresh_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from roi.core.warehouse import get_warehouse

    con = get_warehouse().connection()
    _world(con.cursor())
    assert (
        main(["attribution", "run", "--start", "2024-05-10", "--end", "2024-05-12", "--config", "linear_v1"])
        == 0
    )
    out = capsys.readouterr().out
    version = load_config("linear_v1").attribution_version
    assert version in out and "rows out" in out and "SKAN-modeled credit" in out
    rows = (
        con.cursor()
        .execute(
            "select attribution_version, count(distinct signup_id), sum(credit) from analytics.fact_attribution group by 1"
        )
        .fetchall()
    )
    assert rows == [(version, 4, pytest.approx(4.0))]
    runs = con.cursor().execute("select rows_out, skan_modeled_credit from audit.attribution_runs").fetchall()
    assert runs == [(4, 1.0)]  # s4 is an iOS sign-up without a touch, modeled to meta m1
    assert str(runs[0][0]) in out.split("rows out", 1)[1].splitlines()[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["--start", "2024-05-10", "--end", "2024-05-10", "--config", "last_click_v9"],
            "unknown attribution config",
        ),
        (["--start", "2024-05-12", "--end", "2024-05-10"], "before --start"),
        (["--start", "2024-05-10", "--end", "2024-05-10"], "build the dbt models first"),
    ],
)
def test_user_errors_are_one_line_and_non_zero(
    fresh_warehouse: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    assert main(["attribution", "run", *args]) != 0
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in captured.err + captured.out


def test_versions_lists_every_packaged_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attribution", "versions"]) == 0
    out = capsys.readouterr().out
    for name in ("last_touch_v1", "first_touch_v1", "linear_v1", "position_based_v1", "time_decay_v1"):
        assert load_config(name).attribution_version in out
