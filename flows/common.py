"""Task defaults shared by every flow: retries with backoff and jitter, never for user errors."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from connector_sdk.exceptions import ConnectorConfigError, FatalAPIError, InvalidRunError
from roi.core.errors import RoiError

# Failures a retry cannot fix: bad input, missing credentials, an API refusing the request.
NOT_RETRIABLE: tuple[type[BaseException], ...] = (
    RoiError,
    ConnectorConfigError,
    InvalidRunError,
    FatalAPIError,
)


def retry_unless_user_error(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry transient failures, not bad input or missing credentials."""
    try:
        state.result()
    except NOT_RETRIABLE:
        return False
    except Exception:
        return True
    return True


# Exponential backoff with jitter: 2 s, 4 s, 8 s (each +-50%).
TASK_RETRY: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_unless_user_error,
}
