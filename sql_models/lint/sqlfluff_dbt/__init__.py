"""The dbt names our models use, for sqlfluff's jinja templater (``.sqlfluff`` at the repo root).

The dbt templater is not installed, so sqlfluff renders each model with plain Jinja, our macros
(``sql_models/macros``) and these stand-ins, which render what dbt renders on DuckDB closely
enough to lint the SQL around them: ``var()`` answers dbt_project.yml's defaults (so the models
iterate the real ``ad_platforms``), ``adapter.dispatch()`` finds the ``duckdb__`` / ``default__``
macro as dbt does, and nothing queries a warehouse (``execute`` is false, as in dbt's parse).
sqlfluff's own dbt builtins supply ``ref``, ``source``, ``config``, ``this``, ``is_incremental``
and ``return``.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import yaml

_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project.yml"
_VARS: dict[str, Any] = yaml.safe_load(_PROJECT.read_text())["vars"]

execute = False
target = SimpleNamespace(type="duckdb", name="lint")
modules = SimpleNamespace(datetime=datetime)


def var(name: str, default: Any = None) -> Any:
    """dbt's ``var()`` with no ``--vars``: the project's default, else ``default``."""
    return _VARS.get(name, default)


@jinja2.pass_context
def _dispatch(context: Any, macro_name: str, macro_namespace: str | None = None) -> Any:
    for prefix in ("duckdb__", "default__"):
        if prefix + macro_name in context:
            return context[prefix + macro_name]
    raise jinja2.TemplateRuntimeError(f"no duckdb__ or default__ implementation of {macro_name}")


def _raise_compiler_error(message: str) -> None:
    raise jinja2.TemplateRuntimeError(message)


adapter = SimpleNamespace(dispatch=_dispatch)
exceptions = SimpleNamespace(raise_compiler_error=_raise_compiler_error)
# dbt's cross-database macros as dbt-duckdb renders them
dbt = SimpleNamespace(
    type_string=lambda: "varchar",
    dateadd=lambda datepart, interval, expr: f"({expr} + cast({interval} as bigint) * interval 1 {datepart})",
    date_trunc=lambda datepart, expr: f"date_trunc('{datepart}', {expr})",
)
