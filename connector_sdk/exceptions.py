"""Every exception the connector SDK raises, in one place.

The split follows what a caller can do about it: a :class:`RetriableAPIError` is retried by
the SDK with backoff and only escapes once the retry budget is spent; a
:class:`FatalAPIError` stops the run at once (retrying cannot help: wrong credentials, a
refused query); a :class:`ConnectorConfigError` or :class:`InvalidRunError` is the
caller's input (missing credentials, an inverted date range, an unknown platform).
Every message is one line that says what was wrong and what to do, and never contains a
credential.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class: a one-line, credential-free message fit to show a user."""

    def __init__(self, message: str, *, platform: str | None = None) -> None:
        self.platform = platform
        text = " ".join(str(message).split())
        super().__init__(f"{platform}: {text}" if platform else text)


class ConnectorConfigError(ConnectorError):
    """Configuration is missing or invalid (credentials, base URL, account list)."""


class InvalidRunError(ConnectorError):
    """The run was asked for something impossible (bad mode, inverted range, unknown platform)."""


class UnknownConnectorError(InvalidRunError):
    """No connector is registered under the requested platform name."""


class APIError(ConnectorError):
    """An API call failed. ``status`` is the HTTP status (or None for a transport error)."""

    def __init__(self, message: str, *, platform: str | None = None, status: int | None = None) -> None:
        self.status = status
        super().__init__(message, platform=platform)


class RetriableAPIError(APIError):
    """A transient failure (429, 5xx, dropped connection, throttling inside HTTP 200).

    ``retry_after`` is the wait the platform asked for, in seconds, when it said one.
    """

    def __init__(
        self,
        message: str,
        *,
        platform: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, platform=platform, status=status)


class RateLimitError(RetriableAPIError):
    """The platform throttled us (HTTP 429 or its own in-body quota code)."""


class RetriesExhaustedError(APIError):
    """A retriable failure persisted past the retry budget; the run stops and commits nothing."""


class FatalAPIError(APIError):
    """A failure retrying cannot fix (4xx other than throttling): the run stops at once."""


class AuthenticationError(FatalAPIError):
    """Credentials were refused, or a refreshed token was refused again."""


class TokenExpiredError(RetriableAPIError):
    """HTTP 401 on a request whose token can be refreshed once."""
