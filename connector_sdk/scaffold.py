"""``roi connector new NAME``: a connector package and its test, from the templates.

Writes ``connectors/<name>/{__init__,connector}.py`` and ``tests/connectors/test_<name>.py``.
NAME must be a lowercase Python identifier that is not taken; nothing is ever overwritten.
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
    if not (root / "connectors").is_dir():
        raise InvalidRunError(f"{root} has no connectors/ folder: run from the repository root")
    for target in (package, test):
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
    written = []
    for path, tmpl in files.items():
        path.write_text(Template((TEMPLATES / tmpl).read_text()).substitute(subs))
        written.append(path)
    return written
