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
