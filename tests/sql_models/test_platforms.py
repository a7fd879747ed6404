"""One platform list: the connector registry.

dbt gets it as var ``ad_platforms`` (flows/dbt_runner.py) and iterates it, the Soda contracts get
it written into their slots (flows/checks.py); what must still name each platform on its own
(a staging model, a seed row, the attribution engine's list) is checked against the registry
here, so a registered ad connector missing anywhere fails a test that names the place.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector_sdk.scaffold import STAGING_TEMPLATES as STAGING_TEMPLATE_FILES
from connector_sdk.scaffold import scaffold
from flows.checks import AD_PLATFORMS_SLOT, CONTRACTS_DIR, render_contract
from flows.dbt_runner import PROJECT_DIR, ad_platforms

STAGING = PROJECT_DIR / "models" / "staging"
STAGING_TEMPLATES = Path(__file__).resolve().parents[2] / "connector_sdk" / "templates" / "staging"
VAR_EXPRESSION = "var('ad_platforms')"


@pytest.fixture(scope="module")
def platforms() -> list[str]:
    """The registered ad platforms."""
    found = ad_platforms()
    assert found, "no ad connector is registered"
    return found


def _yml_files() -> list[Path]:
    return sorted([*PROJECT_DIR.glob("models/**/*.yml"), *PROJECT_DIR.glob("seeds/*.yml")])


def _platform_accepted_values(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """(node name, accepted values) of every accepted_values test on a column named platform."""
    found = []
    for kind in ("models", "seeds"):
        for node in doc.get(kind) or []:
            for column in node.get("columns") or []:
                if column["name"] != "platform":
                    continue
                for test in column.get("data_tests") or []:
                    if isinstance(test, dict) and "accepted_values" in test:
                        found.append((node["name"], test["accepted_values"]["arguments"]["values"]))
    return found


def test_dbt_default_platforms_are_the_registry(platforms):
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["ad_platforms"] == platforms, (
        "sql_models/dbt_project.yml vars.ad_platforms (the default of plain dbt commands) must equal"
        f" the registered ad connectors {platforms}"
    )


def test_every_platform_has_its_staging_models(platforms):
    missing = []
    for p in platforms:
        folder = STAGING / p
        for name in (f"stg_{p}__ad_performance", f"stg_{p}__campaigns"):
            missing += [
                str(folder / f"{name}.{ext}")
                for ext in ("sql", "yml")
                if not (folder / f"{name}.{ext}").exists()
            ]
        sources = folder / f"_{p}__sources.yml"
        declared = yaml.safe_load(sources.read_text())["sources"] if sources.exists() else []
        if not any(s["name"] == p and any(t["name"] == "campaigns" for t in s["tables"]) for s in declared):
            missing.append(f"{sources} (source {p!r} with table 'campaigns')")
    assert not missing, f"registered ad connectors without their staging files: {missing}"


def test_no_model_yml_restates_the_platform_list():
    restated = []
    for path in _yml_files():
        for node, values in _platform_accepted_values(yaml.safe_load(path.read_text()) or {}):
            if not (isinstance(values, str) and VAR_EXPRESSION in values):
                restated.append(f"{path.relative_to(PROJECT_DIR)}: {node}")
    assert not restated, f"accepted platform values must be {{{{ {VAR_EXPRESSION} }}}}: {restated}"


def test_the_utm_seed_maps_every_platform(platforms):
    with (PROJECT_DIR / "seeds" / "utm_source_platforms.csv").open() as f:
        mapped = {row["platform"] for row in csv.DictReader(f)}
    missing = sorted(set(platforms) - mapped)
    assert not missing, f"sql_models/seeds/utm_source_platforms.csv has no utm_source for {missing}"


def test_soda_contracts_take_the_platforms_from_the_registry(platforms, tmp_path):
    contracts = sorted(CONTRACTS_DIR.glob("*.yaml"))
    with_slot = [c for c in contracts if AD_PLATFORMS_SLOT in c.read_text()]
    assert {c.stem for c in with_slot} == {"fact_ad_spend", "fact_touchpoints", "mart_marketing_roi_daily"}
    for contract in contracts:
        rendered = yaml.safe_load(render_contract(contract, platforms, tmp_path).read_text())
        for column in rendered.get("columns") or []:
            if column["name"] != "platform":
                continue
            valid = next(c["invalid"]["valid_values"] for c in column["checks"] if "invalid" in c)
            assert set(platforms) <= set(valid), f"{contract.name}: platform valid_values {valid}"
            assert set(valid) - set(platforms) <= {"unattributed"}, f"{contract.name}: {valid}"


def test_attribution_knows_every_platform(platforms):
    from attribution.config import CONFIG_DIR, PLATFORMS

    assert sorted(PLATFORMS) == platforms, (
        "attribution/config.py PLATFORMS (the platforms a config may override) must equal the"
        f" registered ad connectors {platforms}"
    )
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        overrides = yaml.safe_load(path.read_text()).get("platform_overrides") or {}
        assert set(overrides) <= set(platforms), f"{path.name}: overrides of unknown platforms"


def test_a_new_platform_needs_only_its_staging_models(platforms, tmp_path):
    """The staging templates for a new connector parse with the models as they are: the unions
    of fact_ad_spend and dim_campaign pick the platform up from the var alone."""
    from dbt.cli.main import dbtRunner

    from flows.dbt_runner import write_profile

    project = tmp_path / "sql_models"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (tmp_path / "connectors").mkdir()
    (tmp_path / "tests" / "connectors").mkdir(parents=True)
    name = "snap_ads"
    written = scaffold(name, tmp_path)
    folder = project / "models" / "staging" / name
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        out.format(name=name) for out in STAGING_TEMPLATE_FILES.values()
    )
    assert sorted(p.name for p in STAGING_TEMPLATES.iterdir()) == sorted(STAGING_TEMPLATE_FILES)
    assert project / "seeds" / "utm_source_platforms.csv" in written
    assert f"{name},{name}" in (project / "seeds" / "utm_source_platforms.csv").read_text().splitlines()
    paths = {
        "--project-dir": project,
        "--profiles-dir": write_profile(),
        "--target-path": tmp_path / "target",
        "--log-path": tmp_path / "logs",
    }
    dbt_vars = json.dumps({"ad_platforms": sorted([*platforms, name])})
    args = ["parse", *[part for flag, path in paths.items() for part in (flag, str(path))]]
    res = dbtRunner().invoke([*args, "--quiet", "--vars", dbt_vars])
    assert res.success, res.exception
    nodes = res.result.nodes
    parents = {
        model: nodes[f"model.streamride_roi.{model}"].depends_on.nodes
        for model in ("int_ad_performance__unioned", "int_campaigns__unioned")
    }
    assert f"model.streamride_roi.stg_{name}__ad_performance" in parents["int_ad_performance__unioned"]
    assert f"model.streamride_roi.stg_{name}__campaigns" in parents["int_campaigns__unioned"]
