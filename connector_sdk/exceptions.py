"""Every exception the connector SDK raises, in one place.

The split follows what a caller can do about it: a transient failure is retried inside the
SDK's session and only escapes, as :class:`RetriesExhaustedError`, once the retry budget is
spent (try again later); a :class:`FatalAPIError` stops the run at once (retrying cannot help: wrong credentials, a
refused query); a :class:`ConnectorConfigError` or :class:`InvalidRunError` is the
caller's input (missing credentials, an inverted date range, an unknown platform).
A :class:`PullDeferred` is not a failure: the platform asked for a wait longer than the run
may wait (``ConnectorSettings.max_wait_seconds``), so the pull of that platform stops and its
open slices are recorded as deferred (the run itself does not raise it).
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


class ApiVersionSunsetError(ConnectorConfigError):
    """The API version in use is switched off at the run's logical time: set another one."""


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


class UnparseableResponseError(RetriesExhaustedError):
    """A successful (2xx) status whose body could not be decoded, past the retry budget.

    The message names the status and the content type, never the decoder's error or the body.
    """


class FatalAPIError(APIError):
    """A failure retrying cannot fix (4xx other than throttling): the run stops at once."""


class AuthenticationError(FatalAPIError):
    """Credentials were refused, or a refreshed token was refused again."""


class PullDeferred(ConnectorError):
    """The platform asked to wait ``delay_seconds``, longer than the run may wait: resume later.

    Raised by the session instead of sleeping; a connector run catches it, stops that
    platform's pull and records the slices not pulled as deferred (resume after logical time
    + ``delay_seconds``).
    """

    def __init__(self, delay_seconds: float, message: str, *, platform: str | None = None) -> None:
        self.delay_seconds = float(delay_seconds)
        super().__init__(message, platform=platform)


class UntrustedHostError(FatalAPIError):
    """A request would go to a host that is neither the platform's own nor the configured base URL's.

    Raised before anything is sent (credentials included): a response that points elsewhere
    (an absolute next-page link, a redirect) or a token URL on another host stops the run.
    """
