"""``roi connector new``: validated names, never overwrites, and the result passes the structure checks."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector_sdk.cli import app
from connector_sdk.exceptions import InvalidRunError
from connector_sdk.registry import _REGISTRY
from connector_sdk.scaffold import scaffold
from connector_sdk.testing import structure_problems


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A throwaway repository with the real connector_sdk and an empty connectors package."""
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "__init__.py").write_text("")
    (tmp_path / "tests" / "connectors").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(
    "bad", ["Snap", "snap-ads", "../evil", "snap/ads", "1snap", "class", "", "a", "snap_"]
)
def test_invalid_names_are_refused_in_one_line(repo: Path, bad: str) -> None:
    """Names with capitals, path tricks, keywords or digits first are refused, nothing written."""
    with pytest.raises(InvalidRunError) as err:
        scaffold(bad, repo)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in (repo / "connectors").iterdir()) == ["__init__.py"]


def test_never_overwrites(repo: Path) -> None:
    """A second scaffold of the same name fails and leaves the first untouched."""
    scaffold("snap_ads", repo)
    target = repo / "connectors" / "snap_ads" / "connector.py"
    target.write_text("# edited\n")
    with pytest.raises(InvalidRunError, match="already exists"):
        scaffold("snap_ads", repo)
    assert target.read_text() == "# edited\n"


def test_scaffold_passes_structure_checks(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated connector imports, registers and passes the suite's structural checks."""
    result = CliRunner().invoke(app, ["new", "snap_ads", "--root", str(repo)])
    assert result.exit_code == 0, result.output
    assert (repo / "tests" / "connectors" / "test_snap_ads.py").exists()
    shutil.copytree(repo / "connectors" / "snap_ads", repo / "scaffolded" / "snap_ads")
    (repo / "scaffolded" / "__init__.py").write_text("")
    # import it under a private package name so the real `connectors` package is not shadowed
    text = (
        (repo / "scaffolded" / "snap_ads" / "__init__.py").read_text().replace("connectors.", "scaffolded.")
    )
    (repo / "scaffolded" / "snap_ads" / "__init__.py").write_text(text)
    monkeypatch.syspath_prepend(str(repo))
    try:
        module = importlib.import_module("scaffolded.snap_ads")
        cls = module.SnapAdsConnector
        assert structure_problems(cls) == []
        assert callable(module.load_snap_ads)
    finally:
        _REGISTRY.pop("snap_ads", None)
        for mod in [m for m in sys.modules if m.startswith("scaffolded")]:
            del sys.modules[mod]


def test_cli_bad_name_exits_nonzero_with_one_line(repo: Path) -> None:
    """The command prints one error line on stderr and exits 2 (bad input)."""
    result = CliRunner().invoke(app, ["new", "../x", "--root", str(repo)])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
