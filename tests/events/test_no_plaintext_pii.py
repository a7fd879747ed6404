"""No plaintext email or phone from the simulator's truth anywhere: tables, dead letters, logs, dlt files."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest

from connectors.product_events import load_events
from tests.events.conftest import PEPPER, Loaded, make_warehouse


def _needles(world: Path) -> pl.DataFrame:
    pii = pl.read_parquet(world / "truth" / "pii.parquet")
    emails = pii["email"].drop_nulls()
    phones = pii["phone"].drop_nulls()
    variants = pl.concat(
        [
            emails,
            emails.str.to_lowercase().str.strip_chars(),
            phones,
            # the E.164 form (with its '+', which no hex hash contains)
            "+" + phones.str.replace_all(r"\D", "").filter(phones.str.starts_with("+")),
        ]
    )
    return pl.DataFrame({"v": variants.unique()}).filter(pl.col("v").str.len_chars() >= 6)


def test_no_truth_pii_in_any_table_or_column(world: Path, world_loaded: Loaded) -> None:
    needles = _needles(world)
    assert needles.height > 50
    cur = world_loaded.warehouse.connection().cursor()
    cols = cur.sql(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type not in ('BIGINT','INTEGER','DOUBLE','BOOLEAN','DATE','TIMESTAMP WITH TIME ZONE')"
    ).fetchall()
    assert any(t == "dead_letters" for _, t, _ in cols) and any(t == "events" for _, t, _ in cols)
    patterns = needles["v"].to_list()
    hits = []
    for schema, table, col in cols:
        values = cur.sql(f'select cast("{col}" as varchar) v from "{schema}"."{table}"').pl()["v"]
        # Aho-Corasick over every needle at once
        n = int(values.str.contains_any(patterns).sum())
        if n:
            hits.append((schema, table, col, n))
    assert hits == []


def test_no_truth_pii_in_logs_or_dlt_working_files(
    world: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline("product_events", "raw_events")
    with caplog.at_level(logging.DEBUG):
        load_events(pipe, str(world / "landing"), PEPPER, batch_files=400)
    out, err = capfd.readouterr()
    text = caplog.text + out + err
    for f in (tmp_path / "dlt").rglob("*"):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".yaml", ""):
            text += f.read_bytes().decode("latin-1")
    # loaded packages keep no rows: device and anonymous ids live only in the warehouse tables
    assert [f.name for f in (tmp_path / "dlt").rglob("*.parquet")] == []
    wh.close()
    text += (tmp_path / "warehouse.duckdb").read_bytes().decode("latin-1")
    found = pl.Series([text]).str.extract_many(_needles(world)["v"].to_list()).explode().drop_nulls()
    assert found.to_list() == []
