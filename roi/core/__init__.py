"""The application core: settings, warehouse session, errors, telemetry switches, run audit.

It imports nothing else of the project (import-linter holds that). Importing it turns every
third-party tool's telemetry off, before dlt, dbt, Soda or Prefect send anything, and cuts
the errors Prefect logs for runs to one redacted line (:mod:`roi.core.redact`).
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from roi.core.redact import cut_run_logs
from roi.core.telemetry import disable_telemetry

disable_telemetry()
cut_run_logs()

try:
    __version__ = _version("streamride-roi")
except PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
    __version__ = "0.0.0+unknown"
