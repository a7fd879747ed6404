"""Erasure on a simulated world: three subjects from the truth leave no identifier anywhere in the
warehouse (plaintext or the pipeline's hashes), the mart does not move, a full rebuild gives the
same mart, and a load of every landing file into a new warehouse keeps them out."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.privacy.conftest import World, landing_leaks, leaks, mart_numbers, query

KEPT = {("raw_events", "erased_subjects"), ("audit", "erasure_requests")}
RECEIVED = datetime(2026, 11, 12, 7, tzinfo=UTC)
# A simulated world of its own built through the pipeline (~2 minutes on 2 cores, more than
# make test's budget allows): the slower tier, which .ci/run runs after make test.
pytestmark = pytest.mark.slower


def _cli(args: list[str]) -> int:
    from roi.cli.root import main

    return main(args)


@pytest.fixture(scope="module")
def erased(world: World) -> dict[str, object]:
    """The three requests made (one by the CLI with --now, two left to the flow), and the
    mart before and after."""
    from attribution.store import run_attribution
    from flows.dbt_runner import build_facts, build_mart
    from flows.erasure import erasure
    from flows.erasure_file import byte_hits, files_of

    wh = world.warehouse

    def rebuild() -> list[tuple[object, ...]]:
        with wh.session("rebuild"):
            build_facts(full_refresh=True)
            run_attribution(wh.connection(), date(2026, 10, 23), date(2026, 11, 3))
            build_mart(full_refresh=True)
        return mart_numbers(wh)

    before = rebuild()
    for s in world.subjects:
        assert leaks(wh, s.identifiers, set()), f"{s.name}: the world holds none of its ids (bad subject)"
    web, app, phone = world.subjects
    # the landing files as they were: what an old copy or object version would hold
    shutil.copytree(world.landing, world.root / "landing_before")
    assert _cli(["privacy", "erase", *web.request, "--request-id", "req-web", "--now"]) == 0
    assert _cli(["privacy", "erase", *app.request, "--request-id", "req-app"]) == 0
    assert _cli(["privacy", "erase", *phone.request, "--request-id", "req-phone"]) == 0
    open_before_flow = query(
        wh, "select request_id from audit.erasure_requests where completed_at is null order by 1"
    )
    erasure.fn(logical_time=RECEIVED + timedelta(hours=1))
    needles = [v.encode() for s in world.subjects for v in s.identifiers | s.plaintext]
    file_hits = byte_hits(files_of(wh.duckdb_path), needles)
    after = mart_numbers(wh)
    rebuilt = rebuild()
    return {
        "before": before,
        "after": after,
        "rebuilt": rebuilt,
        "open_before_flow": open_before_flow,
        "file_hits": file_hits,
    }


def test_requests_wait_for_the_flow_unless_now(world: World, erased: dict[str, object]) -> None:
    assert erased["open_before_flow"] == [("req-app",), ("req-phone",)]
    rows = query(
        world.warehouse,
        "select request_id, status, completed_at is not null, due_at - requested_at, counts, lookup "
        "from audit.erasure_requests order by 1",
    )
    assert [r[:4] for r in rows] == [
        (rid, "completed", True, timedelta(hours=72)) for rid in ("req-app", "req-phone", "req-web")
    ]
    for r in rows:
        assert r[5] is None  # the lookup (ids and pepper hashes) is gone once complete
        assert '"raw_events.events.user_id"' in r[4]


def test_no_identifier_of_an_erased_subject_is_left_in_any_table(
    world: World, erased: dict[str, object]
) -> None:
    for s in world.subjects:
        assert leaks(world.warehouse, s.identifiers | s.plaintext, KEPT) == [], s.name


def test_no_landing_file_holds_an_identifier_and_the_manifest_does_not_see_new_files(
    world: World, erased: dict[str, object]
) -> None:
    from connectors.product_events import load_events

    for s in world.subjects:
        assert landing_leaks(world.landing, s.identifiers | s.plaintext) == [], s.name
    assert landing_leaks(world.root / "landing_before", world.subjects[0].identifiers)  # the copy still does
    with world.warehouse.session("load"):
        summary = load_events(
            world.warehouse.dlt_pipeline("product_events_sqlm", "raw_events"),
            str(world.landing),
            world.pepper,
        )
    assert summary.files_listed > 0 and summary.lines_read == 0  # the rewrites are not new files


def test_the_database_file_holds_no_identifier_in_its_bytes(world: World, erased: dict[str, object]) -> None:
    """Free blocks and the WAL kept the old values: the flow found them and rewrote the file."""
    assert erased["file_hits"] == 0
    counts = query(world.warehouse, "select counts from audit.erasure_requests where request_id = 'req-web'")[
        0
    ][0]
    assert '"duckdb.hits_after": 0' in counts and '"duckdb.rewritten": 1' in counts


def test_tombstones_and_requests_hold_only_tombstone_key_hashes(
    world: World, erased: dict[str, object]
) -> None:
    from connectors.product_events import pii
    from tests.privacy.conftest import TOMBSTONE_KEY

    for s in world.subjects:
        assert leaks(world.warehouse, s.identifiers | s.plaintext, set()) == [], s.name
    tombs = {
        r[0]
        for r in query(
            world.warehouse, "select subject_id from raw_events.erased_subjects where key_id is not null"
        )
    }
    key = TOMBSTONE_KEY.encode()
    web, app, _ = world.subjects
    assert pii.hmac_one(key, pii.canonical_email(web.request[1]) or "") in tombs
    app_users = {v for v in app.identifiers if v.startswith("usr_")}
    assert len(app_users) >= 2 and {pii.hmac_one(key, u) for u in app_users} <= tombs


def test_the_mart_does_not_move_nor_after_a_full_rebuild(erased: dict[str, object]) -> None:
    assert erased["before"], "an empty mart proves nothing"
    assert erased["after"] == erased["before"]
    assert erased["rebuilt"] == erased["before"]


@pytest.mark.parametrize("folder", ["landing_before", "landing"])
def test_a_load_of_every_landing_file_does_not_bring_them_back(
    world: World, erased: dict[str, object], tmp_path, monkeypatch, folder: str
) -> None:
    """A new warehouse with only the tombstones loads every landing file: from the files as they
    were, the subjects' lines are dropped as erased; from the rewritten files, their lines load
    pseudonymised. Either way none of their identifiers is loaded."""
    from connectors.product_events import load_events
    from roi.core.settings import reset_settings
    from roi.core.warehouse import get_warehouse, reset_warehouse

    tombs = query(
        world.warehouse,
        "select subject_type, subject_id, erased_at, request_id, key_id from raw_events.erased_subjects",
    )
    monkeypatch.setenv("ROI_DUCKDB_PATH", str(tmp_path / "replay.duckdb"))
    reset_settings()
    reset_warehouse()
    try:
        wh = get_warehouse()
        wh.bootstrap()
        with wh.session("seed tombstones"):
            from flows.erasure import write_tombstones

            cur = wh.connection().cursor()
            write_tombstones(cur, [tuple(t) for t in tombs])
            cur.close()
        with wh.session("reload"):
            pipeline = wh.dlt_pipeline(f"replay_{folder}", "raw_events")
            summary = load_events(pipeline, str(world.root / folder), world.pepper)
        # the old files' lines of the subjects are dropped; the rewritten ones load pseudonymised
        assert (summary.erased_dropped > 0) == (folder == "landing_before")
        assert summary.loaded > 100_000
        for s in world.subjects:
            assert leaks(wh, s.identifiers | s.plaintext, KEPT) == [], s.name
    finally:
        reset_warehouse()
        monkeypatch.setenv("ROI_DUCKDB_PATH", str(world.root / "warehouse.duckdb"))
        reset_settings()
        reset_warehouse()
