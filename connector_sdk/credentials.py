"""A connector's credentials: from the ``credentials`` argument, or dlt's config and the environment.

dlt resolves ``sources.<platform>.<key>`` from its secrets providers, which include the
environment variable ``SOURCES__<PLATFORM>__<KEY>``; that name is what every error message
tells the user to set. Values are resolved on first use, once per connector instance.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import dlt

from connector_sdk.exceptions import ConnectorConfigError


def config_value(platform: str, key: str) -> str | None:
    """A non-secret setting ``sources.<platform>.<key>`` from dlt config (or its environment variable)."""
    value: object = dlt.config.get(f"sources.{platform}.{key}")
    if value is None:
        value = os.environ.get(f"SOURCES__{platform.upper()}__{key.upper()}")
    return None if value is None or str(value).strip() == "" else str(value).strip()


class Credentials:
    """The secrets and id lists of one connector instance; errors name the variable to set."""

    def __init__(
        self,
        platform: str,
        required: Sequence[str],
        optional: Sequence[str] = (),
        given: Mapping[str, str] | None = None,
    ) -> None:
        self.platform = platform
        self.required = tuple(required)
        self.optional_keys = tuple(optional)
        self._given = dict(given) if given is not None else None
        self._resolved: dict[str, str] | None = None

    def env_var(self, key: str) -> str:
        """The environment variable dlt reads ``key`` from."""
        return f"SOURCES__{self.platform.upper()}__{key.upper()}"

    def get(self, key: str) -> str:
        """One credential; a missing one is a config error naming its variable."""
        value = self._values().get(key)
        if value is None:
            raise ConnectorConfigError(f"missing credential: set {self.env_var(key)}", platform=self.platform)
        return value

    def optional(self, key: str) -> str | None:
        """A credential that may be absent."""
        return self._values().get(key)

    def id_list(self, key: str) -> list[str]:
        """A comma-separated id list credential, as a list of ids."""
        ids = [x.strip() for x in self.get(key).split(",") if x.strip()]
        if not ids:
            raise ConnectorConfigError(
                f"{self.env_var(key)} is empty: list at least one id", platform=self.platform
            )
        return ids

    def _values(self) -> dict[str, str]:
        if self._resolved is None:
            values = (
                self._from_config()
                if self._given is None
                else {k.lower(): str(v) for k, v in self._given.items()}
            )
            missing = [k for k in self.required if not values.get(k)]
            if missing:
                names = ", ".join(self.env_var(k) for k in missing)
                raise ConnectorConfigError(f"missing credentials: set {names}", platform=self.platform)
            self._resolved = values
        return self._resolved

    def _from_config(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for key in self.required + self.optional_keys:
            value: object = dlt.secrets.get(f"sources.{self.platform}.{key}")
            if value is None:
                value = os.environ.get(self.env_var(key))
            if value is not None:
                values[key] = str(value)
        return values
