"""Platform API versions: which one a run calls, and what its known sunset date means.

A connector's ``settings.py`` declares ``API_VERSION`` (the default) and ``SUNSETS`` (version
-> the date the platform switches it off) in its ``ConnectorSettings``; dlt config
``sources.<platform>.api_version`` (environment ``SOURCES__<PLATFORM>__API_VERSION``) or the
constructor's ``api_version=`` overrides the version. "Before" and "after" a sunset are judged
at the run's logical time, never the wall clock: a run within :data:`WARN_DAYS` of the sunset
gets a warning in its summary, a run on or after it is refused before any request.
"""

from __future__ import annotations

from datetime import datetime

from connector_sdk.exceptions import ApiVersionSunsetError
from connector_sdk.specs import ConnectorSettings
from connector_sdk.windows import as_utc

WARN_DAYS = 60
"""Days before a known sunset from which a run's summary warns."""


def check_sunset(platform: str, settings: ConnectorSettings, logical_time: datetime) -> list[str]:
    """Warnings for the version in use at ``logical_time``; raises once that version is switched off."""
    version = settings.api_version
    sunset = settings.sunsets.get(version) if version is not None else None
    if version is None or sunset is None:
        return []
    today = as_utc(logical_time).date()
    setting = f"sources.{platform}.api_version"
    if today >= sunset:
        raise ApiVersionSunsetError(
            f"API {version} is switched off since {sunset.isoformat()} (the run's logical date is "
            f"{today.isoformat()}): set {setting} (SOURCES__{platform.upper()}__API_VERSION) to a supported version",
            platform=platform,
        )
    days = (sunset - today).days
    if days <= WARN_DAYS:
        return [f"{platform} API {version} sunsets on {sunset.isoformat()} (in {days} days): set {setting}"]
    return []
