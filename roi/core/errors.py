"""Errors a user or operator can cause. The CLI prints them as one line, never a traceback."""

from __future__ import annotations


class RoiError(Exception):
    """Base class: the message says what was wrong and what to do, in one line."""

    exit_code = 1


class UserInputError(RoiError):
    """Bad input on the command line or in a file: a date, a platform, a range, a path."""

    exit_code = 2


class ConfigError(RoiError):
    """Missing or invalid settings, credentials or configuration files."""

    exit_code = 3


class PullsFailed(RoiError):
    """Ad pulls that failed after their retries. The run did everything else; the failed
    platforms' dates are owed to the next run (``audit.pull_slices``), which pulls them again."""

    exit_code = 1
