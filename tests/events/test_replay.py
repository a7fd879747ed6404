"""Dead letters replayed through today's rules: a line that now passes loads once (deduped as
usual) and its dead letter is marked replayed; one that still fails stays; twice changes nothing."""

from __future__ import annotations

import gzip
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.product_events import load_events
from connectors.product_events import settings as S
from connectors.product_events.replay import replay_dead_letters
from tests.events import dirty
from tests.events.conftest import PEPPER, make_warehouse

DAY = "2026-01-05"
KEY = f"events/dt={DAY}/hour=10/part-a.jsonl.gz"
OTHER = f"events/dt={DAY}/hour=11/part-b.jsonl.gz"
RX = f"{DAY}T10:00:00Z"
AHEAD = f"{DAY}T12:00:00Z"  # 2 h after received_at: implausible by default, fine with a 3 h rule
EMAIL = "Replay.Person@example.com"


def _lines() -> dict[str, list[str]]:
    return {
        KEY: [
            dirty.ev("r1", "landing", "2026-01-05T09:59:00Z", RX, anonymous_id="a1"),
            dirty.ev("r2", "landing", AHEAD, RX, anonymous_id="a2"),
            dirty.ev(
                "r3",
                "user_signup",
                AHEAD,
                RX,
                user_id="u3",
                anonymous_id="a3",
                device_platform="web",
                country="US",
                email=EMAIL,
            ),
            '{"event_id": "r4", "oops',
            # a later copy of r1: once plausible, it loses to the loaded r1
            dirty.ev("r1", "landing", AHEAD, f"{DAY}T10:00:05Z", anonymous_id="a1"),
            dirty.ev("r5", EMAIL, "2026-01-05T09:59:00Z", RX),
        ],
        OTHER: [dirty.ev("r6", "landing", AHEAD, RX, anonymous_id="a6", email=EMAIL)],
    }


def _write(landing: Path, key: str, lines: list[str]) -> None:
    path = landing / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))


def _rows(wh: Any, q: str) -> list[tuple[Any, ...]]:
    return list(wh.connection().cursor().sql(q).fetchall())


def _state(wh: Any) -> list[list[tuple[Any, ...]]]:
    return [
        _rows(wh, "select event_id, _file_key, _line_no, email_hash from raw_events.events order by 1"),
        _rows(
            wh,
            "select file_key, line_no, reason, line, replayed_at from raw_events.dead_letters order by 1, 2",
        ),
        _rows(wh, "select * exclude (_load_id, _dlt_load_id) from raw_events.landing_manifest order by 1"),
    ]


@pytest.fixture
def loaded(tmp_path: Path) -> Any:
    landing = tmp_path / "landing"
    for key, lines in _lines().items():
        _write(landing, key, lines)
    wh = make_warehouse(tmp_path)
    pipe = wh.dlt_pipeline(S.PIPELINE_NAME, "raw_events")
    s = load_events(pipe, str(landing), PEPPER)
    assert (s.loaded, s.dead_letters) == (1, 6)
    yield wh, pipe, landing
    wh.close()


def test_replay_changes_nothing_while_the_rules_are_the_same(loaded: Any) -> None:
    wh, pipe, landing = loaded
    before = _state(wh)
    s = replay_dead_letters(pipe, str(landing), PEPPER)
    assert (s.selected, s.replayed, s.still_dead, s.unrecoverable, s.load_ids) == (6, 0, 6, 0, [])
    assert _state(wh) == before


def test_after_a_rule_fix_lines_that_pass_load_once_and_their_dead_letters_are_marked(
    loaded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, pipe, landing = loaded
    dead = dict(
        _rows(wh, "select line_no, reason from raw_events.dead_letters where file_key = '" + KEY + "'")
    )
    assert dead[6] == "unknown_event_type:event_type"  # the reason never quotes a value
    assert _rows(wh, "select count(*) from raw_events.dead_letters where line like '%Replay.Person%'") == [
        (0,)
    ]
    monkeypatch.setattr(S, "TS_MAX_AFTER_RECEIVED", timedelta(hours=3))  # the fix
    _write(
        landing, OTHER, [dirty.ev("r6", "landing", AHEAD, RX, anonymous_id="a6", email="changed@example.com")]
    )

    s = replay_dead_letters(pipe, str(landing), PEPPER, reason=S.R_IMPLAUSIBLE_TS)
    assert (s.selected, s.replayed, s.loaded, s.duplicates_dropped, s.still_dead, s.unrecoverable) == (
        4,
        3,
        2,
        1,
        0,
        1,
    )
    events = {
        r[0]: r for r in _rows(wh, "select event_id, _file_key, _line_no, email_hash from raw_events.events")
    }
    assert sorted(events) == ["r1", "r2", "r3"]
    assert events["r1"][2] == 1 and events["r3"][1:3] == (KEY, 3)
    # the masked email came back from the landing file: hashed as at ingestion, never "[email]"
    want = hmac.new(PEPPER, EMAIL.strip().lower().encode(), hashlib.sha256).hexdigest()
    assert events["r3"][3] == want
    marked = _rows(
        wh,
        "select file_key, line_no from raw_events.dead_letters where replayed_at is not null order by 1, 2",
    )
    assert marked == [(KEY, 2), (KEY, 3), (KEY, 5)]
    # still dead: the malformed line, the unknown type, and r6 (its file changed since: masked
    # values cannot be restored)
    assert _rows(wh, "select count(*) from raw_events.dead_letters where replayed_at is null") == [(3,)]

    after = _state(wh)
    again = replay_dead_letters(pipe, str(landing), PEPPER)
    assert (again.selected, again.replayed, again.still_dead, again.unrecoverable, again.load_ids) == (
        3,
        0,
        2,
        1,
        [],
    )
    assert _state(wh) == after


def test_replay_filters_by_reason_family_and_recording_time(
    loaded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, pipe, landing = loaded
    monkeypatch.setattr(S, "TS_MAX_AFTER_RECEIVED", timedelta(hours=3))
    later = datetime.now(UTC) + timedelta(days=1)
    assert replay_dead_letters(pipe, str(landing), PEPPER, since=later).selected == 0
    assert replay_dead_letters(pipe, str(landing), PEPPER, reason="malformed_json").selected == 1
    assert replay_dead_letters(pipe, str(landing), PEPPER, reason="implausible").selected == 0
    earlier = datetime.now(UTC) - timedelta(days=1)
    s = replay_dead_letters(pipe, str(landing), PEPPER, reason="implausible_timestamp", since=earlier)
    assert (s.selected, s.replayed) == (4, 4)  # r6's file is unchanged here
