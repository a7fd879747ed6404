"""Errors as one short line without response bodies or secrets: what runs store and the CLI prints.

An exception from dlt or an HTTP library can carry a whole API response (dlt's
``PipelineStepFailed`` embeds its inner exception, whose text may be the body), and a body or a
request can echo a credential. :func:`one_line_error` keeps the first line of the exception
(and of its innermost cause), drops everything after it, removes the values of the secret
settings in the environment and anything shaped like a token, and caps the length.
:func:`cut_run_logs` does the same to the warnings and errors Prefect logs for flow and task
runs (which it prints and stores in its API), so a failed run prints no traceback or body.
"""

from __future__ import annotations

import logging
import os
import re

MAX_ERROR_CHARS = 300
"""The longest error text stored in ``audit.pipeline_runs.error`` or printed."""

MASK = "***"

DEBUG_VARIABLE = "ROI_DEBUG"
"""Set to 1: unexpected errors keep their tracebacks (the CLI re-raises, run logs are not cut)."""

# Credentials in dlt's conventions (SOURCES__<PLATFORM>__<KEY>, DESTINATION__...__CREDENTIALS__<KEY>)
# and the plain AWS variables, and the pipeline's own secret.
_SECRET_SUFFIXES = (
    "CLIENT_SECRET|REFRESH_TOKEN|ACCESS_TOKEN|AUTH_TOKEN|DEVELOPER_TOKEN|PASSWORD|PRIVATE_KEY"
    "|PRIVATE_KEY_PASSPHRASE|SECRET_ACCESS_KEY|SESSION_TOKEN|API_KEY"
)
SECRET_VARIABLE = re.compile(
    rf"^(?:(?:SOURCES|DESTINATION)__\w+__(?:{_SECRET_SUFFIXES})"
    r"|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|ROI_PII_PEPPER)$"
)
# A secret shorter than this is not searched for: it would mask ordinary words and digits.
_MIN_SECRET_CHARS = 6

# Values shaped like credentials, whatever their source: bearer tokens, key=value and "key": "value".
_SECRET_KEYS = (
    r"(?:access_token|refresh_token|client_secret|auth_token|developer_token|password|token|secret)"
)
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {MASK}"),
    (re.compile(rf"(?i)\b({_SECRET_KEYS})=[^&\s\"',;]+"), rf"\1={MASK}"),
    (re.compile(rf"(?i)([\"']{_SECRET_KEYS}[\"']\s*:\s*)[\"'][^\"']*[\"']"), rf'\1"{MASK}"'),
)


def secret_values(environ: os._Environ[str] | dict[str, str] | None = None) -> list[str]:
    """The values of the secret variables set in ``environ`` (default: this process), longest first."""
    env = os.environ if environ is None else environ
    values = {v.strip() for k, v in env.items() if SECRET_VARIABLE.match(k.upper()) and v}
    return sorted((v for v in values if len(v) >= _MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every secret value of the environment and every token-shaped value masked."""
    for value in secret_values():
        text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped ('' when there is none)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost explicit cause: ``raise ... from`` chains and dlt's wrapped ``exception``."""
    inner = exc
    for _ in range(20):  # chains are short; a cycle must not loop forever
        nxt = inner.__cause__ or getattr(inner, "exception", None)
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    return inner


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` reduced to its first line, redacted, at most ``limit`` characters."""
    line = redact(first_line(text))
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def one_line_error(exc: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """``Type: first line`` of ``exc``, with its innermost cause's when that adds something; redacted, capped."""
    text = f"{type(exc).__name__}: {first_line(str(exc)) or '(no message)'}"
    cause = _root_cause(exc)
    cause_line = first_line(str(cause))
    if cause is not exc and cause_line not in text:
        text += f" (cause: {type(cause).__name__}: {cause_line or '(no message)'})"
    return one_line(text, limit)


# Prefect's loggers of flow and task runs: their records go to the console and to Prefect's API.
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class OneLineRunLogs(logging.Filter):
    """Warnings and errors of run loggers as one redacted line, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place (always kept)."""
        if record.levelno < logging.WARNING and not record.exc_info:
            return True
        # a state's or an exception's repr holds the exception text with its line breaks escaped
        try:
            text = record.getMessage().split("\\n", 1)[0]
        except (TypeError, ValueError):  # arguments that do not fit the format
            text = str(record.msg)
        exc = record.exc_info[1] if record.exc_info else None
        line = f"{text.split(': ', 1)[0]}: {one_line_error(exc)}" if exc is not None else text
        record.msg, record.args = one_line(line), ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def cut_run_logs() -> None:
    """Put :class:`OneLineRunLogs` on Prefect's run loggers (once; not with ``ROI_DEBUG=1``)."""
    if os.environ.get(DEBUG_VARIABLE) == "1":
        return
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineRunLogs) for f in logger.filters):
            logger.addFilter(OneLineRunLogs())
