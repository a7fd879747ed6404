"""``roi connector new NAME``: a connector package and its test, from the templates.

Writes ``connectors/<name>/{__init__,connector}.py`` and ``tests/connectors/test_<name>.py``, and,
in a repository with the dbt project, the platform's staging models
(``sql_models/models/staging/<name>/``) plus its ``utm_source`` seed row: the unions of
``fact_ad_spend`` and ``dim_campaign`` pick a platform up from the registry alone, so these files
are all a new platform needs. NAME must be a lowercase Python identifier that is not taken;
nothing is ever overwritten.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from string import Template

from connector_sdk.exceptions import InvalidRunError

TEMPLATES = Path(__file__).parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
RESERVED = frozenset({"connector_sdk", "connectors", "test", "tests", "product_events"})
STAGING_TEMPLATES = {
    "_sources.yml.tmpl": "_{name}__sources.yml",
    "ad_performance.sql.tmpl": "stg_{name}__ad_performance.sql",
    "ad_performance.yml.tmpl": "stg_{name}__ad_performance.yml",
    "campaigns.sql.tmpl": "stg_{name}__campaigns.sql",
    "campaigns.yml.tmpl": "stg_{name}__campaigns.yml",
}
"""Staging template -> model file, under ``sql_models/models/staging/<name>/``."""
UTM_SEED = Path("sql_models") / "seeds" / "utm_source_platforms.csv"


def validate_name(name: str) -> str:
    """The name, or a one-line error saying what a valid one looks like."""
    if not _NAME.fullmatch(name or "") or keyword.iskeyword(name) or name.endswith("_"):
        raise InvalidRunError(
            f"invalid connector name {name!r}: use a lowercase Python identifier such as 'snap_ads' "
            "(letters, digits, underscores; 2-40 characters; starts with a letter)"
        )
    if name in RESERVED:
        raise InvalidRunError(f"connector name {name!r} is reserved: pick another")
    return name


def scaffold(name: str, root: Path) -> list[Path]:
    """Create the connector package and test under ``root`` (the repository); returns the files written."""
    validate_name(name)
    root = Path(root).resolve()
    package = root / "connectors" / name
    test = root / "tests" / "connectors" / f"test_{name}.py"
    staging = root / "sql_models" / "models" / "staging" / name
    if not (root / "connectors").is_dir():
        raise InvalidRunError(f"{root} has no connectors/ folder: run from the repository root")
    for target in (package, test, staging):
        if target.exists():
            raise InvalidRunError(f"{target.relative_to(root)} already exists: nothing was written")
    words = name.split("_")
    subs = {
        "name": name,
        "NAME": name.upper(),
        "Class": "".join(w.capitalize() for w in words),
        "Title": " ".join(w.capitalize() for w in words),
    }
    files = {
        package / "__init__.py": "init.py.tmpl",
        package / "connector.py": "connector.py.tmpl",
        test: "test.py.tmpl",
    }
    package.mkdir(parents=True)
    test.parent.mkdir(parents=True, exist_ok=True)
    if staging.parent.is_dir():
        staging.mkdir()
        files.update(
            {staging / out.format(name=name): f"staging/{tmpl}" for tmpl, out in STAGING_TEMPLATES.items()}
        )
    written = []
    for path, tmpl in files.items():
        path.write_text(Template((TEMPLATES / tmpl).read_text()).substitute(subs))
        written.append(path)
    seed = root / UTM_SEED
    if seed.is_file():
        _append_line(seed, f"{name},{name}")
        written.append(seed)
    return written


def _append_line(path: Path, line: str) -> None:
    """Append ``line`` to a text file, on a line of its own."""
    text = path.read_text()
    path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + line + "\n")
