"""Turn off every third-party tool's telemetry, in one place (and set Prefect's runtime defaults).

Imported (and applied) by ``roi/__init__.py`` before dlt, dbt, Soda or Prefect are imported,
so nothing the pipeline runs calls out: the production network allows no egress to vendors,
and offline each phone-home attempt costs seconds of retries (Soda v4: ~6 s a contract).
``setdefault`` lets an operator opt back in explicitly.
"""

from __future__ import annotations

import os

TELEMETRY_OFF: dict[str, str] = {
    # dlt: anonymous usage tracking
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    # dbt: anonymous usage stats (env var and the flag it maps to)
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    # Soda v4: traces to Soda Cloud
    "SODA_CORE_TELEMETRY_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    # Prefect: server analytics and the UI's own phone-home
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}


# Operational defaults for Prefect, applied the same way (an operator's value wins).
PREFECT_DEFAULTS: dict[str, str] = {
    # Prefect's local API starts in a subprocess; on a busy 2-core machine 20 s is not enough.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def disable_telemetry() -> None:
    """Set the opt-out variables of dlt, dbt, Soda and Prefect unless already set."""
    for key, value in {**TELEMETRY_OFF, **PREFECT_DEFAULTS}.items():
        os.environ.setdefault(key, value)
