"""What a monitoring rule answers (:class:`Firing`) and how it is configured (:class:`RuleSpec`).

Shared by the operational rules (``flows/rules.py``), the anomaly rules (``flows/anomalies.py``)
and the alerts (``flows/alerts.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from roi.core.errors import ConfigError

RULES_PATH = Path(__file__).with_name("alert_rules.yaml")
RUNBOOKS = "docs/runbooks"
SEVERITIES = ("info", "warning", "error", "critical")


@dataclass(frozen=True)
class Firing:
    """One key breaking a rule at ``now``: the numbers that fired it and a one-line summary."""

    rule: str
    key: str
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleSpec:
    """A rule's settings from the YAML: the defaults, its own keys, its per-key overrides."""

    name: str
    params: dict[str, Any]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def param(self, name: str, key: str | None = None) -> Any:
        """The value of ``name`` for ``key`` (its override if any, else the rule's, else the default's)."""
        if key is not None and name in self.overrides.get(key, {}):
            return self.overrides[key][name]
        if name not in self.params:
            raise ConfigError(f"{RULES_PATH.name}: rule {self.name} has no {name!r}: add it")
        return self.params[name]

    def severity(self, key: str | None = None) -> str:
        return str(self.param("severity", key))

    def cooldown(self, key: str | None = None) -> timedelta:
        return timedelta(minutes=float(self.param("cooldown_minutes", key)))

    @property
    def runbook(self) -> str:
        return f"{RUNBOOKS}/{self.name}.md"


Rule = Callable[[Any, datetime, RuleSpec], list[Firing]]
