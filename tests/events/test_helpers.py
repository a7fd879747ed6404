"""The batch logic on frames alone (``connectors.product_events.helpers``): erasure, dedupe inside
a batch and against loaded copies, the manifest; and the pipeline-scoped dlt settings."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import polars as pl
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.destination.configuration import ParquetFormatConfiguration
from dlt.normalize.configuration import ItemsNormalizerConfiguration
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.product_events import configure_pipeline, helpers, tables
from connectors.product_events import settings as S


def _ts(second: int) -> datetime:
    return datetime(2026, 3, 2, 10, 0, second, tzinfo=UTC)


def _keys(rows: list[tuple[str, int, str, int]]) -> pl.DataFrame:
    """Key rows ``(event_id, received second, file key, line)``; ``_row`` is the position."""
    return pl.DataFrame(
        {
            "_row": list(range(len(rows))),
            "event_id": [r[0] for r in rows],
            "event_type": "landing",
            "event_date": date(2026, 3, 2),
            "received_at": [_ts(r[1]) for r in rows],
            "_file_key": [r[2] for r in rows],
            "_line_no": [r[3] for r in rows],
        },
        schema_overrides={"_row": pl.Int64, "_line_no": pl.Int32, "received_at": tables.TS},
    )


def _loaded(rows: list[tuple[str, int, str, int]]) -> pl.DataFrame:
    return _keys(rows).select("event_id", "received_at", "_file_key", "_line_no")


def test_batch_duplicates_keep_the_earliest_received_then_file_then_line() -> None:
    keys = _keys(
        [
            ("a", 5, "f2", 1),
            ("a", 3, "f9", 7),  # earliest received: wins
            ("b", 3, "f2", 9),
            ("b", 3, "f1", 9),  # same time, lower file key: wins
            ("c", 3, "f1", 4),
            ("c", 3, "f1", 2),  # same time and file, lower line: wins
            ("d", 1, "f1", 1),  # no copy: untouched
        ]
    )
    losers = helpers.batch_duplicates(keys)
    assert losers.schema == helpers.ROWS_SCHEMA
    assert sorted(losers["_row"]) == [0, 2, 4]
    assert helpers.batch_duplicates(keys.filter(pl.col("event_id") == "d")).height == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcde"), st.integers(0, 3), st.sampled_from(["f1", "f2"]), st.integers(1, 3)
        ),
        min_size=1,
        max_size=25,
        unique_by=lambda r: (r[2], r[3]),  # a (file, line) is one line
    )
)
def test_batch_duplicates_leave_exactly_the_lowest_copy_of_each_id(
    rows: list[tuple[str, int, str, int]],
) -> None:
    keys = _keys(rows)
    losers = set(helpers.batch_duplicates(keys)["_row"])
    kept = [(i, r) for i, r in enumerate(rows) if i not in losers]
    assert sorted(r[0] for _, r in kept) == sorted({r[0] for r in rows})
    for _, (eid, rx, fk, ln) in kept:
        assert (rx, fk, ln) == min((r[1], r[2], r[3]) for r in rows if r[0] == eid)


def test_compare_with_loaded_drops_losers_recognises_redos_and_lets_winners_replace() -> None:
    incoming = _keys([("a", 5, "f3", 1), ("b", 5, "f3", 2), ("c", 5, "f3", 3), ("d", 5, "f3", 4)])
    loaded = _loaded(
        [
            ("a", 4, "f1", 8),  # received earlier: the loaded copy wins
            ("b", 5, "f3", 2),  # the very same line: a redo after a crash
            ("c", 6, "f1", 1),  # received later: the incoming copy replaces it
            ("d", 5, "f9", 1),  # same time, higher file key: the incoming copy replaces it
        ]
    )
    v = helpers.compare_with_loaded(incoming, loaded)
    assert (list(v.losing["_row"]), list(v.same["_row"]), sorted(v.replacing["_row"])) == ([0], [1], [2, 3])
    assert list(v.losing.columns) == ["_file_key", "_row"]


def test_merged_verdict_of_no_table_is_empty_and_typed() -> None:
    v = helpers.merge_verdicts([])
    assert all(f.height == 0 and f.schema == helpers.ROWS_SCHEMA for f in (v.losing, v.same, v.replacing))
    one = helpers.compare_with_loaded(_keys([("a", 5, "f3", 1)]), _loaded([("a", 4, "f1", 1)]))
    assert list(helpers.merge_verdicts([one, one]).losing["_row"]) == [0, 0]


def test_keep_rows_filters_the_wide_frame_once_and_not_at_all_when_nothing_is_skipped() -> None:
    valid = _keys([("a", 1, "f1", 1), ("b", 1, "f1", 2), ("c", 1, "f1", 3)])
    empty = pl.DataFrame(schema=helpers.ROWS_SCHEMA)
    assert helpers.keep_rows(valid, [empty, empty]) is valid
    skip = pl.DataFrame({"_file_key": ["f1"], "_row": [1]}, schema=helpers.ROWS_SCHEMA)
    assert list(helpers.keep_rows(valid, [empty, skip])["event_id"]) == ["a", "c"]


def test_erased_users_expand_through_the_identity_map_and_match_their_columns() -> None:
    subjects = pl.DataFrame({"subject_type": ["user_id", "device_id"], "subject_id": ["u1", "d9"]})
    links = pl.DataFrame({"from_user_id": ["u0", "u1", "x"], "canonical_user_id": ["u1", "u2", "y"]})
    erased = helpers.expand_erased_users(subjects, links)
    assert set(erased.filter(pl.col("subject_type") == "user_id")["subject_id"]) == {"u0", "u1", "u2"}
    assert helpers.expand_erased_users(subjects, None) is subjects
    valid = pl.DataFrame(
        {
            "user_id": ["u2", None, "z", None],
            "to_user_id": [None, "u0", None, None],
            "device_id": [None, None, None, "d9"],
            "email_hash": [None, None, None, None],
        },
        schema_overrides={"email_hash": pl.String},
    )
    assert valid.select(helpers.erased_mask(valid, erased)).to_series().to_list() == [True, True, False, True]
    nobody = erased.clear()
    assert valid.filter(helpers.erased_mask(valid, nobody)).height == 0


def test_manifest_counts_each_files_lines_by_fate_with_zeros_and_truncation() -> None:
    files = pl.DataFrame(
        {
            "file_key": ["f1", "f2", "f3"],
            "file_url": ["u1", "u2", "u3"],
            "size_bytes": [10, 20, 30],
            "modified_at": [_ts(0), _ts(1), _ts(2)],
        }
    )
    lines_read = pl.DataFrame(
        {"_file_key": ["f1", "f2"], "lines_read": [4, 1]},
        schema={"_file_key": pl.String, "lines_read": pl.UInt32},
    )

    def lines(*keys: str) -> pl.DataFrame:
        return pl.DataFrame({"_file_key": list(keys)}, schema={"_file_key": pl.String})

    fates = {
        "loaded": lines("f1", "f1"),
        "duplicates_dropped": lines("f1"),
        "dead_letters": lines("f2"),
        "erased_dropped": lines("f1"),
        "replaced_earlier": lines("f1"),
    }
    man = helpers.manifest_rows(files, lines_read, fates, {"f2"})
    assert dict(man.schema) == dict(pl.Schema(tables.SCHEMAS[S.T_MANIFEST]))
    rows = {r["file_key"]: r for r in man.iter_rows(named=True)}
    assert {c: rows["f1"][c] for c in S.MANIFEST_COUNTS} == {
        "lines_read": 4,
        "loaded": 2,
        "duplicates_dropped": 1,
        "dead_letters": 0,
        "erased_dropped": 1,
        "replaced_earlier": 1,
    }
    assert (rows["f2"]["dead_letters"], rows["f2"]["truncated"], rows["f1"]["truncated"]) == (1, True, False)
    assert all(rows["f3"][c] == 0 for c in S.MANIFEST_COUNTS)  # an empty file: a row of zeros
    for r in rows.values():
        assert r["lines_read"] == sum(r[c] for c in S.LINE_FATES)


def test_dlt_settings_are_scoped_to_the_pipeline() -> None:
    def resolved(name: str) -> tuple[bool, str | None]:
        ctx = ConfigSectionContext(pipeline_name=name, sections=("extract",))
        with Container().injectable_context(ctx):
            items = ItemsNormalizerConfiguration()
            normalizer = resolve_configuration(items, sections=("normalize", "parquet_normalizer"))
            return bool(normalizer.add_dlt_load_id), resolve_configuration(
                ParquetFormatConfiguration()
            ).compression

    configure_pipeline(
        SimpleNamespace(pipeline_name="pe_scoped", destination=SimpleNamespace(destination_name="duckdb"))
    )
    assert resolved("pe_scoped") == (True, "none")
    assert resolved("pe_other")[1] == "snappy"
