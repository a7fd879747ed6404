"""Every rule of the YAML has its runbook, and every alert message names it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from flows.alerts import Alert, message
from flows.rules import RULES, configured_rules

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("## What it means", "## First commands", "## Usual causes and fixes")


@pytest.mark.parametrize("rule", sorted(configured_rules()))
def test_every_rule_has_a_runbook_with_its_first_commands(rule: str) -> None:
    path = ROOT / configured_rules()[rule].runbook
    assert path.is_file(), f"{rule}: write {path.relative_to(ROOT)}"
    text = path.read_text()
    for section in SECTIONS:
        assert section in text, (rule, section)
    assert "roi alerts" in text and "select" in text.lower(), rule


def test_every_rule_in_code_is_configured() -> None:
    assert set(configured_rules()) == set(RULES)


@pytest.mark.parametrize("kind", ["opened", "reminder", "resolved"])
def test_every_message_names_its_runbook(kind: str) -> None:
    for name, spec in configured_rules().items():
        at = datetime(2026, 11, 20, 12)
        a = Alert(
            7, name, "k", spec.severity(), "open", "summary", {"x": 1}, spec.runbook, at, at,
            at if kind == "resolved" else None, None, kind, None, "pending", 0, None,
        )  # fmt: skip
        title, body = message(a)
        assert body.endswith(f"runbook: docs/runbooks/{name}.md") and name in title


@pytest.mark.parametrize(
    ("yaml_text", "words"),
    [
        ("rules: {spend_spyke: {}}", "no rule named spend_spyke"),
        (
            "defaults: {severity: loud, cooldown_minutes: 5}\nrules: {landing_stall: {}}",
            "severity must be one of",
        ),
        ("defaults: {severity: info, cooldown_minutes: 0}\nrules: {landing_stall: {}}", "cooldown_minutes"),
        ("rules: [1, 2]", "expected a mapping"),
    ],
)
def test_a_bad_rules_file_is_one_line(tmp_path: Path, yaml_text: str, words: str) -> None:
    from flows.rules import load_rules
    from roi.core.errors import ConfigError

    path = tmp_path / "rules.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=words):
        load_rules(path)


def test_an_override_changes_one_key_only() -> None:
    from flows.rules import RuleSpec

    spec = RuleSpec(
        "landing_stall", {"severity": "error", "stall_minutes": 10}, {"skan": {"stall_minutes": 60}}
    )
    assert spec.param("stall_minutes", "skan") == 60 and spec.param("stall_minutes", "events") == 10
