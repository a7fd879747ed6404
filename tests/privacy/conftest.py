"""A simulated 10-day world (tests/sql_models/sim_world.py) loaded and built once per session,
with three subjects chosen from its truth: a web user, an app user merged from two ids, and
one known only by a phone number (docs/privacy.md, "Erasure")."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

TOMBSTONE_KEY = "tombstone-key-for-tests-0123456789"
MART = "analytics.mart_marketing_roi_daily"
MART_NUMBERS = (
    "spend_usd, impressions, clicks, platform_conversions, signups, modeled_signups, "
    "first_conversions, revenue_usd, cac_usd, roas, roi"
)


@dataclass
class Subject:
    """One person of the world's truth: what the request names and every identifier of theirs,
    read from the truth and the landing files (not from what the erasure flow resolves)."""

    name: str
    request: list[str]
    plaintext: set[str] = field(default_factory=set)
    identifiers: set[str] = field(default_factory=set)


@dataclass
class World:
    """The built world: its folders, the warehouse and the chosen subjects."""

    root: Path
    landing: Path
    warehouse: Any
    pepper: bytes
    subjects: list[Subject]


def _landing_lines(landing: Path) -> pl.DataFrame:
    """Every landing line's id fields (DuckDB reads the gzipped JSON lines)."""
    con = duckdb.connect()
    names = [
        "user_id",
        "anonymous_id",
        "device_id",
        "gclid",
        "fbclid",
        "ttclid",
        "from_user_id",
        "to_user_id",
    ]
    try:
        rows = con.execute(
            "select user_id, anonymous_id, device_id, gclid, fbclid, ttclid, from_user_id, to_user_id "
            f"from read_json('{landing}/**/*.jsonl.gz', format = 'newline_delimited', ignore_errors = true, "
            "columns = {user_id: 'varchar', anonymous_id: 'varchar', device_id: 'varchar', gclid: 'varchar', "
            "fbclid: 'varchar', ttclid: 'varchar', from_user_id: 'varchar', to_user_id: 'varchar'})"
        ).fetchall()
        return pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
    finally:
        con.close()


def _ids(lines: pl.DataFrame, users: set[str]) -> set[str]:
    """The users' ids on the landing lines: anonymous and device ids, then their click ids."""
    own = lines.filter(
        pl.col("user_id").is_in(list(users))
        | pl.col("from_user_id").is_in(list(users))
        | pl.col("to_user_id").is_in(list(users))
    )
    anon = set(own["anonymous_id"].drop_nulls()) | set(own["device_id"].drop_nulls())
    theirs = lines.filter(pl.col("anonymous_id").is_in(list(anon)) | pl.col("device_id").is_in(list(anon)))
    clicks = {v for c in ("gclid", "fbclid", "ttclid") for v in theirs[c].drop_nulls()}
    return users | anon | clicks


def choose_subjects(world: Path, landing: Path, pepper: bytes) -> list[Subject]:
    """A web user (no merge), an app user merged from two ids, and a user erased by phone."""
    from connectors.product_events import pii

    truth = world / "truth"
    people = pl.read_parquet(truth / "pii.parquet")
    idents = pl.read_parquet(truth / "user_identities.parquet")
    signups = pl.read_parquet(truth / "signups.parquet").filter(~pl.col("is_test"))
    merged = idents.filter(pl.col("user_id") != pl.col("canonical_user_id"))
    single = idents.group_by("canonical_user_id").len().filter(pl.col("len") == 1)["canonical_user_id"]
    touched = set(pl.read_parquet(truth / "touch_paths.parquet").drop_nulls("event_id")["user_id"])
    web = signups.filter(
        (pl.col("device_platform") == "web")
        & pl.col("user_id").is_in(single.implode())
        & pl.col("user_id").is_in(list(touched))
    )["user_id"][0]
    app_rows = signups.filter(
        (pl.col("device_platform") != "web") & pl.col("user_id").is_in(merged["canonical_user_id"].implode())
    )
    app = app_rows["user_id"][0]
    phone_user = signups.filter(
        pl.col("user_id").is_in(single.implode()) & ~pl.col("user_id").is_in([web, app])
    )["user_id"][-1]
    lines = _landing_lines(landing)
    country_of = dict(zip(signups["user_id"], signups["country"], strict=True))
    out = []
    for name, canonical in (("web", web), ("app_merged", app), ("phone_only", phone_user)):
        person = people.filter(pl.col("user_id") == canonical).row(0, named=True)
        users = set(idents.filter(pl.col("canonical_user_id") == canonical)["user_id"]) | {canonical}
        hashes = pii.subject_hashes(pepper, email=person["email"], phone=person["phone"])
        other = sorted(users - {canonical})
        request = {
            "web": ["--email", person["email"]],
            "app_merged": ["--user-id", other[0] if other else canonical],
            # a national number is read in the sign-up's country, as the ingestion read it
            "phone_only": ["--phone", person["phone"], "--country", country_of[canonical]],
        }[name]
        s = Subject(name, request, {person["email"], person["phone"], person["email"].lower()})
        s.identifiers = _ids(lines, users) | set(hashes["email_hash"]) | set(hashes["phone_hash"])
        out.append(s)
    return out


@pytest.fixture(scope="session")
def world(session_dir: Path) -> Iterator[World]:
    """The world built through every checkpoint (ads, events, facts, attribution, the mart)."""
    from roi.core.settings import reset_settings
    from roi.core.warehouse import get_warehouse, reset_warehouse
    from tests.sql_models import sim_world

    root = session_dir / "privacy"
    old = {k: os.environ.get(k) for k in ("ROI_DUCKDB_PATH", "ROI_TOMBSTONE_KEY", "ROI_LANDING_URL")}
    os.environ["ROI_DUCKDB_PATH"] = str(root / "warehouse.duckdb")
    os.environ["ROI_LANDING_URL"] = str(root / "landing")
    os.environ["ROI_TOMBSTONE_KEY"] = TOMBSTONE_KEY
    reset_settings()
    reset_warehouse()
    wh = get_warehouse()
    wh.bootstrap()
    run = sim_world.run_world(root, wh)
    pepper = os.environ["ROI_PII_PEPPER"].encode()
    yield World(root, root / "landing", wh, pepper, choose_subjects(run.world, root / "landing", pepper))
    reset_warehouse()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    reset_settings()


def query(wh: Any, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """All rows of one query, in the warehouse's turn."""
    with wh.session("test"):
        cur = wh.connection().cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()


def mart_numbers(wh: Any) -> list[tuple[Any, ...]]:
    """The mart's numbers per row key."""
    return query(wh, f"select mart_key, {MART_NUMBERS} from {MART} order by mart_key")


def landing_leaks(landing: Path, needles: set[str]) -> list[str]:
    """``file: value`` for every landing file whose text holds one of ``needles``."""
    found = []
    for path in sorted(landing.rglob("*.jsonl.gz")):
        text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        found += [f"{path.relative_to(landing)}: {n}" for n in sorted(needles) if n in text]
    return found


def leaks(wh: Any, needles: set[str], skip: set[tuple[str, str]]) -> list[str]:
    """``schema.table.column: value`` for every column of every base table (cast to text) that
    holds one of ``needles``, whole or inside, but the tables of ``skip``."""
    cols = query(
        wh,
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t using (table_catalog, table_schema, table_name) "
        "where t.table_type = 'BASE TABLE' and c.table_catalog = current_database()",
    )
    found = []
    values = sorted(needles)
    for schema, table, column in cols:
        if (schema, table) in skip:
            continue
        sql = (
            f'select distinct n from "{schema}"."{table}", unnest(?::varchar[]) as u(n) '
            f'where contains(cast("{column}" as varchar), n)'
        )
        found += [f"{schema}.{table}.{column}: {r[0]}" for r in query(wh, sql, [values])]
    return found
