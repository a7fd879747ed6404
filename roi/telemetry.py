"""Turn off every third-party tool's telemetry, in one place.

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


def disable_telemetry() -> None:
    """Set the opt-out variables of dlt, dbt, Soda and Prefect unless already set."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
