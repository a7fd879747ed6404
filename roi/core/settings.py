"""Settings from the environment (``ROI_`` prefix), validated once at start.

Only the pipeline's own ``ROI_*`` names live here. Credentials for ad platforms, Snowflake and
S3 do not: they follow dlt's own secrets conventions (``SOURCES__...``, ``DESTINATION__...``,
``AWS_*``) and are resolved by dlt where they are used.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from roi.core.errors import ConfigError

RestatementWindow = int | Literal["locking"]
"""Days a lookback re-pulls, or ``"locking"``: back to the latest LockingDate (Impact)."""

# How far back each platform restates in production: Meta changes insights for 28 days, Apple's
# attribution window is 30 days, Impact changes payouts and reversals until each action's
# LockingDate. Platforms not named use their connector's default (7 days).
PRODUCTION_RESTATEMENT_DAYS: dict[str, RestatementWindow] = {
    "meta_ads": 28,
    "apple_search_ads": 30,
    "impact": "locking",
}


class Settings(BaseSettings):
    """Pipeline settings. See README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="ROI_", extra="ignore")

    warehouse: Literal["duckdb", "snowflake"] = "duckdb"
    duckdb_path: Path = Path(".roi/warehouse.duckdb")
    # The embedded warehouse shares the machine with Polars and dlt: cap DuckDB's buffer pool.
    duckdb_memory_limit: str = "3GB"
    landing_url: str = ".roi/landing"
    pii_pepper: SecretStr | None = None
    # The key of erasure tombstones (raw_events.erased_subjects, audit.erasure_requests): its own
    # secret, not the pepper, so rotating the pepper keeps every tombstone working (docs/privacy.md).
    tombstone_key: SecretStr | None = None
    # Hosts besides loopback that ROI_API_BASE_URL may name (comma list; declared before
    # api_base_url, whose check reads it). The base URL gets every platform's credentials.
    api_base_url_allow_hosts: str = ""
    api_base_url: str | None = None
    # Decompressed text one landing file may hold, in MB: a larger file is quarantined unread
    # (raw_events.quarantined_files), so one oversized or malicious file cannot exhaust memory.
    landing_max_file_mb: int = Field(default=512, ge=1, le=1_000_000)
    # JSON object, e.g. ROI_RESTATEMENT_DAYS='{"meta_ads": 28}'; '{}' gives every platform 7 days.
    restatement_days: dict[str, RestatementWindow] = dict(PRODUCTION_RESTATEMENT_DAYS)
    # Tests and demos only: `roi serve` runs every scheduled flow each N seconds, all due
    # together, instead of on its cron; with serve_ticks, that many times (flows/serve.py).
    serve_every_seconds: int | None = Field(default=None, ge=1)
    serve_ticks: int | None = Field(default=None, ge=1)
    # What is published (the report, the artifact, the close and `roi explain` read exactly
    # these; nothing picks "the largest version"). A v2 definition or another attribution
    # config can be built beside them without changing a published number.
    published_spend_definition: str = Field(default="spend_v1", pattern=r"^[A-Za-z0-9_]+$")
    published_signup_definition: str = Field(default="signup_v1", pattern=r"^[A-Za-z0-9_]+$")
    default_attribution_config: str = Field(default="last_touch_v1", min_length=1)
    # Dead-letter ceiling: the share of a day's landing lines that may be dead letters. The
    # close gate and the monitoring's dead-letter rule both read it.
    dead_letter_ceiling: float = Field(default=0.01, ge=0.0, le=1.0)
    # Where alerts are delivered: Apprise URLs, comma or space separated (slack://..., mailto://...,
    # pagerduty://..., json://host/path). Secret: the URLs hold tokens. Empty: alerts are recorded
    # in audit.alerts and shown by `roi alerts`, not sent (docs/monitoring.md).
    alert_urls: SecretStr = SecretStr("")
    # Retention (docs/privacy.md "Retention"): raw event-level data (raw events, dead letters,
    # landing files, user-level facts, attribution history) is kept this many calendar months
    # before the daily retention flow deletes it; aggregates (mart, closes, adjustments) forever.
    raw_retention_months: int = Field(default=13, ge=1, le=120)

    @field_validator("restatement_days")
    @classmethod
    def _windows(cls, v: dict[str, RestatementWindow]) -> dict[str, RestatementWindow]:
        for platform, days in v.items():
            if isinstance(days, int) and not 1 <= days <= 400:
                raise ValueError(f'{platform}: a window of 1 to 400 days, or "locking"')
        return v

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory(cls, v: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", v.strip(), flags=re.IGNORECASE):
            raise ValueError("must be a size such as 3GB or 512MB")
        return v.strip()

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None or v.strip() == "":
            return None
        v = v.strip()
        parts = urlsplit(v)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        allowed = allowed_hosts(str(info.data.get("api_base_url_allow_hosts") or ""))
        if not is_loopback(parts.hostname) and parts.hostname.lower() not in allowed:
            raise ValueError(
                f"host {parts.hostname} is not loopback (127.0.0.0/8, ::1, localhost): every "
                "platform's credentials go to this URL; allow the host by name in "
                "ROI_API_BASE_URL_ALLOW_HOSTS if it is yours"
            )
        return v.rstrip("/")

    def require_pepper(self) -> bytes:
        """The PII pepper as bytes, or a one-line error saying how to set it."""
        if self.pii_pepper is None or not self.pii_pepper.get_secret_value():
            raise ConfigError("ROI_PII_PEPPER is not set: export a secret of at least 16 characters")
        value = self.pii_pepper.get_secret_value()
        if len(value) < 16:
            raise ConfigError("ROI_PII_PEPPER is too short: use a secret of at least 16 characters")
        return value.encode()

    def require_tombstone_key(self) -> tuple[bytes, str]:
        """The tombstone key as bytes and its key id (a digest of the key, stored beside each
        tombstone so a row made under another key is recognised), or a one-line error."""
        if self.tombstone_key is None or not self.tombstone_key.get_secret_value():
            raise ConfigError("ROI_TOMBSTONE_KEY is not set: export a secret of at least 16 characters")
        value = self.tombstone_key.get_secret_value()
        if len(value) < 16:
            raise ConfigError("ROI_TOMBSTONE_KEY is too short: use a secret of at least 16 characters")
        key = value.encode()
        return key, hmac.new(key, b"roi-tombstone-key-id", hashlib.sha256).hexdigest()[:16]


def allowed_hosts(value: str) -> frozenset[str]:
    """The host names of a comma list (``ROI_API_BASE_URL_ALLOW_HOSTS``), lower case."""
    return frozenset(h.strip().lower() for h in value.split(",") if h.strip())


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "settings"
        parts.append(f"ROI_{loc.upper()}: {err['msg']}")
    return "invalid settings: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, validated; raises ConfigError with one line when invalid."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment between runs)."""
    get_settings.cache_clear()
