"""ROI_API_BASE_URL is loopback unless a host is allowed by name; run errors are one line, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from roi.cli import main
from roi.core.errors import ConfigError
from roi.core.settings import get_settings, reset_settings


@pytest.fixture(autouse=True)
def _fresh_settings() -> object:
    reset_settings()
    yield
    reset_settings()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765",
        "http://127.3.4.5",
        "http://localhost:9000/",
        "http://[::1]:8080",
        "HTTP://LocalHost",
    ],
)
def test_loopback_base_urls_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("ROI_API_BASE_URL", url)
    assert get_settings().api_base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com",
        "http://127.0.0.1.evil.io:80",
        "http://user@evil.example.com",
        "http://10.0.0.8:8080",
        "http://[::2]:80",
        "http://",
    ],
)
def test_other_hosts_are_a_config_error(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("ROI_API_BASE_URL", url)
    with pytest.raises(ConfigError, match="ROI_API_BASE_URL") as err:
        get_settings()
    assert "\n" not in str(err.value)


def test_a_host_allowed_by_name_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROI_API_BASE_URL", "https://Sim.Internal:8443")
    monkeypatch.setenv("ROI_API_BASE_URL_ALLOW_HOSTS", "other.internal, sim.internal")
    assert get_settings().api_base_url == "https://Sim.Internal:8443"
    monkeypatch.setenv("ROI_API_BASE_URL", "https://evil.example.com")
    reset_settings()
    with pytest.raises(ConfigError, match=r"evil\.example\.com.*ROI_API_BASE_URL_ALLOW_HOSTS"):
        get_settings()


def test_the_cli_refuses_another_host_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROI_API_BASE_URL", "https://evil.example.com")
    assert main(["bootstrap"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "evil.example.com" in err[0]


SECRET = "s3cr3t-client-secret-value-0123"
PEPPER = "pepper-value-for-the-test-0123456789"


def test_a_failed_runs_error_is_one_line_without_body_or_secrets(
    fresh_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roi.core.runs import record_run
    from roi.core.warehouse import get_warehouse

    monkeypatch.setenv("SOURCES__GOOGLE_ADS__CLIENT_SECRET", SECRET)
    monkeypatch.setenv("ROI_PII_PEPPER", PEPPER)
    get_warehouse().bootstrap()
    body = '{"error": "invalid_client", "echo": "' + SECRET + '"}\n' + "x" * 5000
    with pytest.raises(RuntimeError), record_run("leaky"):
        raise RuntimeError(f"token refused with client_secret={SECRET} pepper {PEPPER}\n{body}")
    (error,) = (
        get_warehouse()
        .connection()
        .execute("select error from audit.pipeline_runs where flow_name = 'leaky'")
        .fetchone()
    )
    assert error.startswith("RuntimeError: token refused")
    assert "\n" not in error and len(error) <= 300
    assert SECRET not in error and PEPPER not in error and "invalid_client" not in error


def test_one_line_error_keeps_the_cause_and_redacts() -> None:
    from roi.core.redact import one_line_error

    try:
        try:
            raise ValueError("Authorization: Bearer abcdefghijklmnop1234 was refused\nbody")
        except ValueError as inner:
            raise RuntimeError("Pipeline execution failed at step=extract with exception:\n\nmore") from inner
    except RuntimeError as exc:
        text = one_line_error(exc)
    assert text.startswith("RuntimeError: Pipeline execution failed at step=extract")
    assert "ValueError" in text and "abcdefghijklmnop1234" not in text and "\n" not in text


def test_prefect_run_errors_are_logged_as_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed flow's log record (printed and stored by Prefect) carries no traceback, body or secret."""
    import logging
    import sys

    from roi.core.redact import RUN_LOGGERS, OneLineRunLogs

    assert all(any(isinstance(f, OneLineRunLogs) for f in logging.getLogger(n).filters) for n in RUN_LOGGERS)
    monkeypatch.setenv("SOURCES__META_ADS__ACCESS_TOKEN", SECRET)
    try:
        raise RuntimeError(f"first line with {SECRET}\n" + '{"body": "invalid_client"}')
    except RuntimeError:
        exc_info = sys.exc_info()
    failed = logging.LogRecord(
        "prefect.flow_runs",
        logging.ERROR,
        __file__,
        1,
        "Encountered exception during execution: %r",
        (exc_info[1],),
        exc_info,
    )
    state = logging.LogRecord(
        "prefect.flow_runs",
        logging.ERROR,
        __file__,
        1,
        "Finished in state Failed('Flow run encountered an exception: x\\n{\"body\": 1}')",
        (),
        None,
    )
    for record in (failed, state):
        assert OneLineRunLogs().filter(record)
    first, last = (logging.Formatter().format(r) for r in (failed, state))
    assert first == "Encountered exception during execution: RuntimeError: first line with ***"
    assert last == "Finished in state Failed('Flow run encountered an exception: x"
