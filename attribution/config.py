"""Versioned attribution configuration: one YAML file per configuration, validated on load.

A configuration names its model, its click and view windows (with per-platform overrides),
the precedence rule and the tie-break order. ``attribution_version`` identifies the rules a
run used: the config name, a short hash of the canonical (normalised) configuration and the
package version, so two runs with the same version applied the same rules with the same code.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from roi.core.errors import ConfigError

MODELS: tuple[str, ...] = ("last_touch", "first_touch", "linear", "position_based", "time_decay")
PRECEDENCES: tuple[str, ...] = ("click_over_view", "none")
TIE_BREAK_KEYS: tuple[str, ...] = ("touch_ts", "touch_type", "touch_id")
# The ad platforms the pipeline loads; an override for anything else is a typo that would silently do nothing.
PLATFORMS: tuple[str, ...] = ("google_ads", "meta_ads", "tiktok_ads", "apple_search_ads", "impact")
CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "last_touch_v1.yaml"

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*(d|h|m|s)\s*$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_TOP_KEYS = {
    "name",
    "model",
    "click_window",
    "view_window",
    "half_life",
    "position_weights",
    "precedence",
    "tie_break",
    "platform_overrides",
    "skan",
    "description",
}


def parse_duration(value: object, what: str) -> timedelta:
    """Parse ``7d``, ``24h``, ``30m`` or ``10s`` (or a whole number of seconds) into a timedelta."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a duration such as 7d or 24h, got {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        m = _DURATION_RE.match(str(value))
        if not m:
            raise ConfigError(f"{what}: expected a duration such as 7d, 24h, 30m or 10s, got {value!r}")
        seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds < 0:
        raise ConfigError(f"{what}: a window cannot be negative, got {value!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Windows:
    """Look-back windows: a touch counts if ``0 <= signup_ts - touch_ts <= window`` (both ends inclusive)."""

    click: timedelta
    view: timedelta


@dataclass(frozen=True)
class PositionWeights:
    """Position-based weights of the first, all middle (shared) and last touch of a journey."""

    first: float = 0.4
    middle: float = 0.2
    last: float = 0.4


@dataclass(frozen=True)
class AttributionConfig:
    """A validated attribution configuration. Build it with :func:`load_config` or :meth:`from_mapping`."""

    name: str
    model: str = "last_touch"
    windows: Windows = field(default_factory=lambda: Windows(timedelta(days=7), timedelta(days=1)))
    platform_windows: dict[str, Windows] = field(default_factory=dict)
    precedence: str = "click_over_view"
    tie_break: tuple[str, ...] = TIE_BREAK_KEYS
    half_life: timedelta | None = None
    position_weights: PositionWeights = field(default_factory=PositionWeights)
    skan_enabled: bool = True

    @classmethod
    def from_mapping(cls, raw: object, source: str = "config") -> AttributionConfig:
        """Validate a parsed YAML mapping; raise :class:`ConfigError` with a one-line message.

        The parts are checked in a fixed order, so a file with several mistakes always reports
        the same one.
        """
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a YAML mapping at the top level")
        name, model = _name_and_model(raw, source)
        windows = Windows(
            click=parse_duration(raw.get("click_window", "7d"), f"{source}: click_window"),
            view=parse_duration(raw.get("view_window", "1d"), f"{source}: view_window"),
        )
        platform_windows = _platform_windows(raw, source)
        precedence = raw.get("precedence", "click_over_view")
        if precedence not in PRECEDENCES:
            raise ConfigError(
                f"{source}: 'precedence' must be one of {', '.join(PRECEDENCES)}, got {precedence!r}"
            )
        return cls(
            name=name,
            model=model,
            windows=windows,
            platform_windows=platform_windows,
            precedence=precedence,
            tie_break=_tie_break(raw, source),
            half_life=_half_life(raw, model, source),
            position_weights=_position_weights(raw, model, source),
            skan_enabled=_skan_enabled(raw, source),
        )

    def window_for(self, platform: str) -> Windows:
        """The windows that apply to touches of ``platform``."""
        return self.platform_windows.get(platform, self.windows)

    @property
    def max_window(self) -> timedelta:
        """The longest window of any touch type or platform: how far back touches must be read."""
        all_w = [self.windows, *self.platform_windows.values()]
        return max(max(w.click, w.view) for w in all_w)

    def canonical(self) -> dict[str, Any]:
        """The normalised configuration (durations in seconds, sorted keys) that the version hashes."""
        out: dict[str, Any] = {
            "name": self.name,
            "model": self.model,
            "click_window_s": int(self.windows.click.total_seconds()),
            "view_window_s": int(self.windows.view.total_seconds()),
            "platform_overrides": {
                p: {
                    "click_window_s": int(w.click.total_seconds()),
                    "view_window_s": int(w.view.total_seconds()),
                }
                for p, w in sorted(self.platform_windows.items())
            },
            "precedence": self.precedence,
            "tie_break": list(self.tie_break),
            "skan_enabled": self.skan_enabled,
        }
        if self.half_life is not None:
            out["half_life_s"] = int(self.half_life.total_seconds())
        if self.model == "position_based":
            pw = self.position_weights
            out["position_weights"] = {"first": pw.first, "middle": pw.middle, "last": pw.last}
        return out

    @property
    def config_hash(self) -> str:
        """First 8 hex digits of SHA-256 over the canonical configuration."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:8]

    @property
    def attribution_version(self) -> str:
        """``<name>-<config hash>-<package version>``, e.g. ``last_touch_v1-1a2b3c4d-0.1.0``."""
        return f"{self.name}-{self.config_hash}-{package_version()}"


def _name_and_model(raw: dict[Any, Any], source: str) -> tuple[str, str]:
    """No unknown key, a valid name and a known model."""
    unknown = sorted(set(map(str, raw)) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_TOP_KEYS))}"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f"{source}: 'name' must be lower-case letters, digits and _ (e.g. last_touch_v1)")
    model = raw.get("model", "last_touch")
    if model not in MODELS:
        raise ConfigError(f"{source}: unknown model {model!r}; choose one of {', '.join(MODELS)}")
    return name, str(model)


def _platform_windows(raw: dict[Any, Any], source: str) -> dict[str, Windows]:
    """``platform_overrides``: per platform, windows that default to the top-level ones."""
    overrides_raw = raw.get("platform_overrides") or {}
    if not isinstance(overrides_raw, dict):
        raise ConfigError(f"{source}: 'platform_overrides' must map a platform to its windows")
    platform_windows: dict[str, Windows] = {}
    for platform, ov in sorted(overrides_raw.items()):
        if platform not in PLATFORMS:
            raise ConfigError(
                f"{source}: platform_overrides: unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}"
            )
        if not isinstance(ov, dict) or not set(ov) <= {"click_window", "view_window"}:
            raise ConfigError(
                f"{source}: platform_overrides.{platform} may only set click_window and view_window"
            )
        platform_windows[platform] = Windows(
            click=parse_duration(
                ov.get("click_window", raw.get("click_window", "7d")),
                f"{source}: platform_overrides.{platform}.click_window",
            ),
            view=parse_duration(
                ov.get("view_window", raw.get("view_window", "1d")),
                f"{source}: platform_overrides.{platform}.view_window",
            ),
        )
    return platform_windows


def _tie_break(raw: dict[Any, Any], source: str) -> tuple[str, ...]:
    """``tie_break``: touch_ts first, then touch_type and touch_id in either order."""
    tie_break_raw = raw.get("tie_break", list(TIE_BREAK_KEYS))
    if (
        not isinstance(tie_break_raw, list)
        or sorted(map(str, tie_break_raw)) != sorted(TIE_BREAK_KEYS)
        or tie_break_raw[0] != "touch_ts"
    ):
        raise ConfigError(
            f"{source}: 'tie_break' must list touch_ts first, then touch_type and touch_id in some order"
        )
    return tuple(map(str, tie_break_raw))


def _half_life(raw: dict[Any, Any], model: str, source: str) -> timedelta | None:
    """``half_life``: required by time_decay (and positive), refused by every other model."""
    if model != "time_decay":
        if "half_life" in raw:
            raise ConfigError(f"{source}: 'half_life' only applies to model time_decay")
        return None
    if "half_life" not in raw:
        raise ConfigError(f"{source}: model time_decay needs 'half_life' (e.g. half_life: 7d)")
    half_life = parse_duration(raw["half_life"], f"{source}: half_life")
    if half_life <= timedelta(0):
        raise ConfigError(f"{source}: 'half_life' must be positive")
    return half_life


def _position_weights(raw: dict[Any, Any], model: str, source: str) -> PositionWeights:
    """``position_weights`` (position_based only): first, middle and last, non-negative, summing to 1."""
    if "position_weights" not in raw:
        return PositionWeights()
    if model != "position_based":
        raise ConfigError(f"{source}: 'position_weights' only applies to model position_based")
    pw = raw["position_weights"]
    if not isinstance(pw, dict) or set(pw) != {"first", "middle", "last"}:
        raise ConfigError(f"{source}: 'position_weights' needs exactly first, middle and last")
    try:
        weights = PositionWeights(float(pw["first"]), float(pw["middle"]), float(pw["last"]))
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: 'position_weights' must be numbers") from None
    total = weights.first + weights.middle + weights.last
    if min(weights.first, weights.middle, weights.last) < 0 or abs(total - 1.0) > 1e-9:
        raise ConfigError(f"{source}: 'position_weights' must be non-negative and sum to 1 (got {total:g})")
    return weights


def _skan_enabled(raw: dict[Any, Any], source: str) -> bool:
    """``skan``: only ``enabled``, a boolean (default true)."""
    skan_raw = raw.get("skan", {}) or {}
    if not isinstance(skan_raw, dict) or not set(skan_raw) <= {"enabled"}:
        raise ConfigError(f"{source}: 'skan' may only set enabled: true|false")
    skan_enabled = skan_raw.get("enabled", True)
    if not isinstance(skan_enabled, bool):
        raise ConfigError(f"{source}: skan.enabled must be true or false")
    return skan_enabled


def package_version() -> str:
    """The installed version of the project package (part of every attribution version)."""
    try:
        return importlib.metadata.version("streamride-roi")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def config_names() -> list[Path]:
    """The packaged configuration files (``configs/*.yaml``), sorted by name."""
    return sorted(CONFIG_DIR.glob("*.yaml"))


def load_config(path: str | Path | None = None) -> AttributionConfig:
    """Load and validate a YAML configuration (default: ``configs/last_touch_v1.yaml``).

    A bare name such as ``linear_v1`` is looked up in the packaged ``configs/`` folder.
    """
    if path is None:
        p = DEFAULT_CONFIG
    else:
        p = Path(path)
        if not p.suffix and not p.exists():
            if not (CONFIG_DIR / f"{p.name}.yaml").exists():
                known = ", ".join(c.stem for c in config_names())
                raise ConfigError(
                    f"unknown attribution config {str(path)!r}: use one of {known} or a YAML path"
                )
            p = CONFIG_DIR / f"{p.name}.yaml"
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read attribution config {p}: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise ConfigError(f"{p}: not valid YAML ({first})") from None
    return AttributionConfig.from_mapping(raw, source=str(p))
