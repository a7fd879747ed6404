"""Table contract: every raw_events table and contract column exists from the first load, loads
carry ``_load_id``, and dlt gets Arrow data that matches its column hints (no warnings)."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest

from connectors.product_events import load_events, tables
from connectors.product_events import settings as S
from tests.events.conftest import PEPPER, Loaded, make_warehouse

RAW_TABLES = (S.T_EVENTS, S.T_MMP, S.T_SKAN, S.T_IDENTITY, S.T_DEAD, S.T_MANIFEST)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_first_load_of_one_landing_event_creates_every_table_and_column(tmp_path: Path) -> None:
    landing = tmp_path / "landing" / "events" / "dt=2026-03-02" / "hour=10"
    landing.mkdir(parents=True)
    event = {
        "event_id": "only",
        "event_type": "landing",
        "event_ts": "2026-03-02T10:00:00.000Z",
        "received_at": "2026-03-02T10:00:01.000Z",
        "schema_version": 1,
        "anonymous_id": "a1",
    }
    (landing / "part-0.jsonl.gz").write_bytes(gzip.compress((json.dumps(event) + "\n").encode()))
    wh = make_warehouse(tmp_path)
    handler = _Collect()
    logging.getLogger("dlt").addHandler(handler)
    try:
        s = load_events(wh.dlt_pipeline("product_events", "raw_events"), str(tmp_path / "landing"), PEPPER)
        cur = wh.connection().cursor()
        for t in RAW_TABLES:
            cols = cur.sql(f"select * from raw_events.{t} limit 0").columns
            missing = [c for c in tables.SCHEMAS[t] if c not in cols]
            assert not missing, (t, missing)
            assert "_load_id" in cols and "_dlt_load_id" in cols, t
        # the staging models read these by name even when no app event has arrived yet
        assert {"device_id", "device_platform", "email_hash"} <= set(
            cur.sql("select * from raw_events.events limit 0").columns
        )
        assert cur.sql("select count(*) from raw_events.mmp_touches").fetchall() == [(0,)]
        ev = cur.sql("select event_id, _load_id, _dlt_load_id from raw_events.events").fetchall()
        assert ev == [("only", s.load_ids[0], s.load_ids[0])]
    finally:
        logging.getLogger("dlt").removeHandler(handler)
        wh.close()
    assert not [m for m in handler.messages if "hints were different" in m]


@pytest.mark.parametrize("table", RAW_TABLES)
def test_every_row_carries_its_load_id(world_loaded: Loaded, table: str) -> None:
    df = world_loaded.sql(
        f"select count(*) n, count(*) filter (where _load_id is distinct from _dlt_load_id) bad "
        f"from raw_events.{table}"
    )
    assert df["bad"][0] == 0
    if table != S.T_IDENTITY:
        assert df["n"][0] > 0
    assert set(world_loaded.summaries[0].load_ids) >= set(
        world_loaded.sql(f"select distinct _load_id from raw_events.{table}")["_load_id"]
    )
