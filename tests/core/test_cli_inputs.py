"""Every command, any option values: exit 0, 2 or 3 and at most one line ``error: ...``, never a traceback.

A property-based test (Hypothesis) over each command of the live ``roi`` tree: options are
drawn by their type and name (dates and timestamps with extremes, numbers with overflows and
NaN, paths, platforms, any text) and the command is run in-process. The command bodies are
stubbed where they start work (the warehouse, the flows, the simulator, attribution runs,
the scaffold): a stub raises :class:`Started`, which means the draw passed validation and would
have started something, so nothing runs. Derandomized, with a modest number of draws.
"""

from __future__ import annotations

import enum
import json
import sys
import types
import typing
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from roi.cli import app, main

ROOT = Path(__file__).resolve().parents[2]
# Where command bodies start work: functions and classes from these modules are stubbed.
ACTING = (
    "flows",
    "roi.core.warehouse",
    "roi.core.runs",
    "attribution.store",
    "connector_sdk.scaffold",
    "connector_sdk.restatement",
    "simulator.world",
    "simulator.server",
)
# Helpers of the command modules that touch the disk (the demo's own folder and world).
LOCAL_STUBS = {"roi.cli.demo": ("_claim", "_point_pipeline_at", "_run_plan")}
PLATFORMS = ["google_ads", "meta_ads", "tiktok_ads", "apple_search_ads", "impact", "fx_rates"]


class Started(BaseException):
    """Raised by a stub: the command got past its validation and would have started work."""


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, command) of every leaf command under ``group`` (typer vendors its own click)."""
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = dict(_commands(typer.main.get_command(app)))
# Groups that also act themselves (`roi close --date D`): their own options are drawn as well.
COMMANDS[("close",)] = typer.main.get_command(app).commands["close"]  # type: ignore[attr-defined]
COMMANDS[("alerts",)] = typer.main.get_command(app).commands["alerts"]  # type: ignore[attr-defined]

# -- values ---------------------------------------------------------------------------------
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-30))])
EXTREMES = [
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "1970-01-01",
    "2026-02-30",
    "2026-11-20T06:00:00Z",
    "2026-11-20",
    "infinity",
    "-1",
    "",
]
WHEN = st.one_of(
    st.sampled_from(EXTREMES),
    st.dates().map(date.isoformat),
    st.dates(date(2024, 1, 1), date(2027, 12, 31)).map(date.isoformat),
    st.datetimes(timezones=ZONES).map(datetime.isoformat),
    st.datetimes(datetime(2024, 1, 1), datetime(2027, 12, 31)).map(lambda d: d.isoformat() + "Z"),
    TEXT,
)
INTS = st.one_of(
    st.integers(-5, 400), st.sampled_from([0, -1, 2**31, 2**63, -(2**63), 10**30]), st.integers()
).map(str)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "1e-300", "0", "0.002", "10", "10.0001"]),
)
PATHS = st.one_of(
    st.just("world"),
    st.sampled_from(
        [
            "a_file.txt",
            "a_file.txt/sub",
            "a_dir",
            "empty",
            "missing/x",
            "new",
            ".",
            "..",
            "",
            "/",
            "s3://b/p",
            "x" * 300,
        ]
    ),
    TEXT,
)


def _annotation(param: Any) -> Any:
    """The parameter's Python type, without ``| None``."""
    annotation = param.type_descriptor.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def _value(param: Any) -> st.SearchStrategy[str]:
    """Values for one parameter, by its type and name (any text now and then)."""
    name = (param.name or "").lower()
    kind = _annotation(param)
    if kind is int:
        drawn = INTS
    elif kind is float:
        drawn = FLOATS
    elif kind is Path or name in ("world", "out", "root", "to"):
        drawn = PATHS
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        drawn = st.sampled_from([str(m.value) for m in kind])
    elif any(k in name for k in ("start", "end", "date", "day", "until", "as_of", "since", "ts")):
        drawn = WHEN
    elif "platform" in name:
        drawn = st.sampled_from([*PLATFORMS, "bing_ads", "GOOGLE_ADS"])
    elif name == "config":
        drawn = st.sampled_from(["last_touch_v1", "linear_v1", "nope_v9", "a_file.txt", "a_dir", "/"])
    else:
        drawn = st.one_of(st.sampled_from(["snap_ads", "1", "x"]), TEXT)
    return st.one_of(drawn, drawn, drawn, TEXT)


@st.composite
def argv(draw: st.DrawFn, path: tuple[str, ...]) -> list[str]:
    """A command line for ``path``: each parameter given or left out, its value drawn."""
    out = list(path)
    for param in COMMANDS[path].params:
        if not (param.required or draw(st.booleans())):
            continue
        if param.param_type_name == "argument":
            out.append(draw(_value(param)))
        elif param.is_flag:
            out.append(param.opts[0])
        else:
            out += [param.opts[0], draw(_value(param))]
    if draw(st.integers(0, 19)) == 0:
        out.append("--bogus")
    return out


# -- stubs ----------------------------------------------------------------------------------
def _acting(obj: Any) -> bool:
    module = getattr(obj, "__module__", "") or ""
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return False  # exception classes stay: commands catch them
    return callable(obj) and any(module == m or module.startswith(m + ".") for m in ACTING)


@pytest.fixture(scope="module", autouse=True)
def _no_hypothesis_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis keeps its caches in a temporary folder, not in the repository's .hypothesis."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Every place a command starts work raises Started; returns the names reached (per draw, reset)."""
    reached: list[str] = []

    def stub(name: str) -> Callable[..., Any]:
        def started(*args: Any, **kwargs: Any) -> Any:
            reached.append(name)
            raise Started(name)

        return started

    command_modules = [m for m in list(sys.modules) if m.startswith("roi.cli")] + [
        "simulator.cli",
        "connector_sdk.cli",
    ]
    for mod_name in command_modules:
        module = sys.modules[mod_name]
        for attr, value in list(vars(module).items()):
            if _acting(value):
                monkeypatch.setattr(module, attr, stub(f"{mod_name}.{attr}"))
        for attr in LOCAL_STUBS.get(mod_name, ()):
            monkeypatch.setattr(module, attr, stub(f"{mod_name}.{attr}"))
    # modules the commands import when they run
    lazy = [f"flows.{p.stem}" for p in (ROOT / "flows").glob("*.py") if p.stem != "__init__"]
    for mod_name in [*lazy, "connector_sdk.restatement", "simulator.world", "simulator.server"]:
        monkeypatch.setitem(sys.modules, mod_name, _fake_module(mod_name, stub))
    _sandbox(tmp_path, monkeypatch)
    return reached


def _fake_module(name: str, stub: Callable[[str], Callable[..., Any]]) -> types.ModuleType:
    """A module whose every public name is a stub (dunder names stay missing, as tools expect)."""
    fake = types.ModuleType(name)

    def attribute(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return stub(f"{name}.{attr}")

    fake.__getattr__ = attribute  # type: ignore[method-assign]
    return fake


def _sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A working folder with a world, a file and folders the drawn paths name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROI_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    (tmp_path / "world").mkdir()
    meta = {"start": "2026-10-29", "days": 3, "seed": 7, "scale": 0.002}
    (tmp_path / "world" / "world.json").write_text(json.dumps(meta))
    (tmp_path / "a_file.txt").write_text("not yaml: [")
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_dir" / "keep").write_text("x")
    (tmp_path / "empty").mkdir()


DATE_OPTIONS = ("--start", "--end", "--date", "--until", "--as-of", "--since")
# What a body can work with: an accepted value outside these would overflow or never finish.
INT_BOUNDS = {"--days": (1, 3660), "--seed": (0, 2**63 - 1), "--port": (0, 65535)}


def _accepted(option: str, value: str) -> None:
    """A value the command let through is one its body can use (dates in 2000-2099, finite sizes)."""
    if option in DATE_OPTIONS:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        assert 2000 <= ts.year <= 2099, (option, value)
    elif option == "--scale":
        assert 0 < float(value) <= 10, (option, value)
    elif option in INT_BOUNDS:
        low, high = INT_BOUNDS[option]
        assert low <= int(value) <= high, (option, value)


def _check(args: list[str], code: int, err: str, out: str, reached: list[str]) -> None:
    assert "Traceback" not in err + out, (args, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) <= 1, (args, err)
    assert all(line.startswith("error: ") for line in lines), (args, err)
    if reached:  # valid input: the command got as far as starting work, with values it can use
        for option, value in zip(args, args[1:], strict=False):
            _accepted(option, value)
        return
    assert code in (0, 2, 3), (args, code, err)
    assert (code == 0) == (not lines), (args, code, err)


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_any_options_end_in_one_line_and_exit_0_2_or_3(
    path: tuple[str, ...], stubbed: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    @settings(
        max_examples=60,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(args=argv(path))
    def run(args: list[str]) -> None:
        stubbed.clear()
        capsys.readouterr()
        try:
            code = main(args)
        except Started:  # a main that lets a BaseException through: the stub was reached
            code = 1
        captured = capsys.readouterr()
        _check(args, code, captured.err, captured.out, stubbed)

    run()


def test_the_tree_is_drawn_whole() -> None:
    """Every command of `roi` is drawn above (the tree is read, not listed by hand)."""
    assert {"run", "backfill", "checks", "demo", "restatements", "explain"} <= {p[-1] for p in COMMANDS}
    assert ("simulate", "generate") in COMMANDS and ("attribution", "run") in COMMANDS


def test_a_lock_held_by_another_process_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from roi.cli import pipeline

    def locked() -> None:
        raise duckdb.IOException(
            'IO Error: Could not set lock on file "/x/warehouse.duckdb": Conflicting lock is held in '
            "/usr/bin/python3 (PID 4242) by user roi.\nSee also https://duckdb.org/docs/stable/connect/concurrency"
        )

    monkeypatch.setattr(pipeline, "get_warehouse", locked)
    assert main(["bootstrap"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the warehouse is in use by another process")


def test_a_library_panic_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Polars panics (a BaseException) on DuckDB's 'infinity' timestamp: one line, exit 1."""
    from roi.cli import pipeline

    def panics() -> None:
        str(duckdb.sql("select 'infinity'::timestamp as t").pl())

    monkeypatch.setattr(pipeline, "get_warehouse", panics)
    assert main(["bootstrap"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: PanicException") and "ROI_DEBUG" in err[0]
    assert "Traceback" not in captured.err + captured.out
