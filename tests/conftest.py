"""Suite-wide fixtures: an isolated environment, the network guard, Prefect's local API.

Expensive things (Prefect's local API, simulated worlds, built warehouses) are made once per
session; each area's conftest builds its own on top of these.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from roi.core.telemetry import disable_telemetry

# Isolate every run from the developer's own .roi and Prefect home before anything imports
# dlt or Prefect or asks roi for its settings (they read these once).
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="roi-tests-"))
os.environ["ROI_DUCKDB_PATH"] = str(_SESSION_DIR / "warehouse.duckdb")
os.environ["ROI_LANDING_URL"] = str(_SESSION_DIR / "landing")
os.environ.setdefault("ROI_PII_PEPPER", "test-pepper-not-a-secret-0123456789")
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "prefect")
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["DLT_DATA_DIR"] = str(_SESSION_DIR / "dlt-data")
# The simulator restates within 7 days on every platform: the production windows (Meta 28,
# Apple 30, Impact until LockingDate) would only re-pull days that cannot change.
os.environ["ROI_RESTATEMENT_DAYS"] = "{}"
os.environ.pop("ROI_API_BASE_URL", None)
os.environ.pop("ROI_WAREHOUSE", None)
# Tests import flows and tools directly, not through the ``roi`` command: switch telemetry off
# before any test module loads Prefect or Soda (they read their switches once, at import).
disable_telemetry()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from roi.core.warehouse import reset_warehouse

    reset_warehouse()
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    """A scratch folder for the whole session, removed at the end."""
    return _SESSION_DIR


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness (a local API on SQLite), started once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def fresh_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point settings and the warehouse at an empty DuckDB file for one test."""
    from roi.core.settings import reset_settings
    from roi.core.warehouse import reset_warehouse

    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("ROI_DUCKDB_PATH", str(path))
    reset_settings()
    reset_warehouse()
    yield path
    reset_warehouse()
    reset_settings()
