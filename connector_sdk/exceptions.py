"""Every exception the connector SDK raises, in one place.

The split follows what a caller can do about it: a transient failure is retried inside the
SDK's session and only escapes, as :class:`RetriesExhaustedError`, once the retry budget is
spent (try again later); a :class:`FatalAPIError` stops the run at once (retrying cannot help: wrong credentials, a
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


class RetriesExhaustedError(APIError):
    """A retriable failure persisted past the retry budget; the run stops and commits nothing."""


class FatalAPIError(APIError):
    """A failure retrying cannot fix (4xx other than throttling): the run stops at once."""


class AuthenticationError(FatalAPIError):
    """Credentials were refused, or a refreshed token was refused again."""
