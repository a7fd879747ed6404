"""Row count and sorted-row hash of a table: how the e2e tests compare warehouse states."""

from __future__ import annotations

from typing import Any


def base_tables(con: Any, schema: str, extra_filter: str = "") -> list[str]:
    """The base tables of ``schema`` (``extra_filter``: more SQL conditions on ``table_name``), sorted."""
    sql = (
        "select table_name from information_schema.tables where table_schema = ? "
        f"and table_type = 'BASE TABLE' {extra_filter} order by 1"
    )
    return [r[0] for r in con.execute(sql, [schema]).fetchall()]


def table_hash(con: Any, schema: str, table: str, drop: tuple[str, ...], where: str = "") -> tuple[int, str]:
    """Row count and an md5 of the sorted rows of ``schema.table`` without the ``drop`` columns."""
    cols = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]
    select = ", ".join(f'"{c}"' for c in cols if c not in drop)
    row = con.execute(
        f"select count(*), coalesce(md5(string_agg(r, '|' order by r)), '') "
        f"from (select cast(row({select}) as varchar) as r from {schema}.{table} {where})"
    ).fetchone()
    return int(row[0]), str(row[1])


def has_column(con: Any, schema: str, table: str, column: str) -> bool:
    """Whether ``schema.table`` has ``column``."""
    return bool(
        con.execute(
            "select count(*) from information_schema.columns where table_schema = ? and table_name = ? "
            "and column_name = ?",
            [schema, table, column],
        ).fetchone()[0]
    )
