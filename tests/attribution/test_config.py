"""Configuration files, validation messages and the attribution version."""

from __future__ import annotations

from pathlib import Path

import pytest

from attribution import AttributionConfig, load_config
from attribution.config import CONFIG_DIR, MODELS, package_version
from roi.core.errors import ConfigError


@pytest.mark.parametrize("model", MODELS)
def test_every_packaged_config_loads_and_names_its_version(model: str) -> None:
    c = load_config(CONFIG_DIR / f"{model}_v1.yaml")
    assert c.model == model and c.name == f"{model}_v1"
    name, digest, version = c.attribution_version.split("-", 2)
    assert name == c.name and len(digest) == 8 and version == package_version()
    assert c.windows.click.days == 7 and c.windows.view.days == 1 and c.precedence == "click_over_view"


def test_default_config_is_last_touch() -> None:
    assert load_config().model == "last_touch"


def test_version_changes_with_any_rule_and_not_with_formatting(tmp_path: Path) -> None:
    base = {"name": "x_v1", "model": "last_touch", "click_window": "7d", "view_window": "1d"}
    v = AttributionConfig.from_mapping(base).attribution_version
    assert AttributionConfig.from_mapping({**base, "click_window": "168h"}).attribution_version == v
    assert AttributionConfig.from_mapping({**base, "click_window": "6d"}).attribution_version != v
    assert AttributionConfig.from_mapping({**base, "precedence": "none"}).attribution_version != v
    assert (
        AttributionConfig.from_mapping(
            {**base, "platform_overrides": {"meta_ads": {"click_window": "28d"}}}
        ).attribution_version
        != v
    )
    f = tmp_path / "x.yaml"
    f.write_text("# comment\nname: x_v1\nmodel:   last_touch\nclick_window: 7d\nview_window: 24h\n")
    assert load_config(f).attribution_version == v


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "x", "model": "last_click"}, "unknown model 'last_click'"),
        ({"name": "x", "click_window": "7 weeks"}, "click_window: expected a duration"),
        (
            {"name": "x", "platform_overrides": {"facebook": {"click_window": "1d"}}},
            "unknown platform 'facebook'",
        ),
        ({"name": "x", "model": "time_decay"}, "needs 'half_life'"),
        ({"name": "x", "half_life": "1d"}, "only applies to model time_decay"),
        ({"name": "x", "precedence": "view_first"}, "'precedence' must be one of"),
        (
            {"name": "x", "tie_break": ["touch_id", "touch_ts", "touch_type"]},
            "'tie_break' must list touch_ts first",
        ),
        (
            {
                "name": "x",
                "model": "position_based",
                "position_weights": {"first": 0.5, "middle": 0.5, "last": 0.5},
            },
            "sum to 1",
        ),
        ({"name": "X Y"}, "'name' must be"),
        ({"name": "x", "click_windw": "7d"}, "unknown key(s) click_windw"),
    ],
)
def test_invalid_configs_fail_with_one_line_messages(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        AttributionConfig.from_mapping(raw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unreadable_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read attribution config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    assert load_config("linear_v1").model == "linear"
