"""Impact against its recorded-shape fixtures (tests/fixtures/platforms/impact), without the simulator.

The fixtures are written from Impact's documentation (each names its source). They go through
the connector's own parsing and error classification, and a tiny local server replays them
so paging, the per-program pull and the date-range split run as in production.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from connector_sdk.http import FAST_RETRY
from connector_sdk.responses import ResponseAction
from connector_sdk.specs import Account
from connector_sdk.testing import duckdb_pipeline, read_rows
from connectors.impact import ImpactConnector
from connectors.impact import helpers as H

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "impact"
SID = "IRfAkE7xQm2Lz9Wc4Rt6Yu1Io8Pa3Sd5Fg"
CREDS = {"account_sid": SID, "auth_token": "FAKE-AUTH-TOKEN"}  # the fixtures' Basic auth, decoded
ACCOUNT = Account(SID, "UTC", None)


def fixture(name: str) -> dict[str, Any]:
    """One recorded exchange (source, note, request, response)."""
    out: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return out


def response_of(name: str) -> requests.Response:
    """A ``requests.Response`` carrying a fixture's status, headers and body."""
    rec = fixture(name)["response"]
    resp = requests.Response()
    resp.status_code = rec["status"]
    resp.headers.update(rec["headers"])
    body = rec["body"]
    resp._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return resp


# --- parsing -------------------------------------------------------------------------------------


def test_actions_page_parses_ids_money_and_utc_dates() -> None:
    """Ids (integers on the wire) become strings, money (JSON numbers) exact decimals, dates UTC."""
    rows = fixture("actions_first_page")["response"]["body"]["Actions"]
    page = ImpactConnector(credentials=CREDS).report_page(rows, ACCOUNT).to_pylist()
    assert len(page) == 2000
    first = page[0]
    assert first["action_id"] == "19816.4711.1000000"  # a string in the v14 spec
    assert first["campaign_id"] == "19816" and first["media_partner_id"] == "2841102"
    # exactly the decimal the JSON text says, not a float's neighbour
    text = (FIXTURES / "actions_first_page.json").read_text()
    exact = json.loads(text, parse_float=Decimal)["response"]["body"]["Actions"]
    assert sum(r["payout"] for r in page) == sum(Decimal(str(r["Payout"])) for r in exact)
    for wire, row in zip(rows, page, strict=True):
        event = datetime.fromisoformat(wire["EventDate"]).astimezone(UTC)
        assert row["event_ts"] == event
        assert row["report_date"] == event.date()  # the UTC date, not the date written locally
        assert row["locking_date"] == datetime.fromisoformat(wire["LockingDate"]).astimezone(UTC)


def test_evening_local_action_lands_on_the_next_utc_day() -> None:
    """``2026-11-14T19:53:36-08:00`` is 03:53 UTC on 15 Nov: its slice is 15 Nov."""
    rows = fixture("actions_first_page")["response"]["body"]["Actions"]
    evening = [r for r in rows if r["EventDate"].startswith("2026-11-14T19:53:36")]
    page = ImpactConnector(credentials=CREDS).report_page(evening, ACCOUNT).to_pylist()
    assert [r["report_date"] for r in page] == [date(2026, 11, 15)]


def test_programs_read_state_and_have_no_currency() -> None:
    """Programs carry ``State`` (ACTIVE, CLOSED...), integer ids and no ``Currency``."""
    programs = fixture("campaigns_list")["response"]["body"]["Campaigns"]
    rows = ImpactConnector(credentials=CREDS).entity_rows(H.PROGRAM_FIELDS, programs, ACCOUNT)
    assert [(r["campaign_id"], r["status"], r["currency"]) for r in rows] == [
        ("19816", "ACTIVE", None),
        ("20911", "CLOSED", None),
    ]


# --- classification ------------------------------------------------------------------------------


def test_rate_limit_reset_is_seconds_until_the_reset() -> None:
    """429 with ``X-RateLimit-Reset: 1834`` asks for a 1834 s wait (seconds, not an epoch)."""
    res = ImpactConnector.errors.resolve(response_of("rate_limited_429"))
    assert res.action is ResponseAction.RATE_LIMITED and res.delay == pytest.approx(1834.0)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("actions_missing_campaign_id", "CampaignId is required"),
        ("actions_pagesize_out_of_range", "PageSize must be between 2000 and 20000"),
    ],
)
def test_validation_errors_are_fatal_and_name_the_field(name: str, words: str) -> None:
    """A 400 validation error stops the run with Impact's own field message."""
    res = ImpactConnector.errors.resolve(response_of(name))
    assert res.action is ResponseAction.FAIL and words in res.message


def test_too_many_records_is_recognised() -> None:
    """The '> 10 x PageSize' error is told apart from other 400s (the connector splits the range)."""
    res = ImpactConnector.errors.resolve(response_of("actions_too_many_records"))
    assert res.action is ResponseAction.FAIL and H.TOO_MANY in res.message
    other = ImpactConnector.errors.resolve(response_of("actions_missing_campaign_id"))
    assert H.TOO_MANY not in other.message


# --- replaying the fixtures over HTTP -------------------------------------------------------------

Route = Callable[[str, dict[str, str]], tuple[int, dict[str, str], Any]]


@dataclass
class Replay:
    """A local server answering through ``route(path, query)``; ``seen`` lists (path, query)."""

    route: Route
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Base URL (the connector appends ``/impact``)."""
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> Replay:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                replay.seen.append((parts.path, query))
                status, headers, body = replay.route(parts.path, query)
                raw = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    def actions_requests(self) -> list[dict[str, str]]:
        """The queries of every /Actions request, in order."""
        return [q for p, q in self.seen if p.endswith("/Actions")]


def _body(name: str) -> Any:
    return copy.deepcopy(fixture(name)["response"]["body"])


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _page(rows: list[dict[str, Any]], query: dict[str, str], size: int) -> dict[str, Any]:
    """An Actions page of ``rows`` in the fixtures' envelope (paging fields as strings)."""
    page = int(query.get("Page", "1"))
    numpages = max(1, -(-len(rows) // size))
    body: dict[str, Any] = _body("actions_last_page")
    body.update(
        {
            "@page": str(page),
            "@numpages": str(numpages),
            "@pagesize": str(size),
            "@total": str(len(rows)),
            "@start": str((page - 1) * size),
            "@end": str(min(page * size, len(rows)) - 1),
            "@nextpageuri": "" if page >= numpages else "/next",
            "Actions": rows[(page - 1) * size : page * size],
        }
    )
    return body


def _in_range(rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """The rows of the requested program whose EventDate is in [ActionDateStart, ActionDateEnd] (documented inclusive)."""
    lo, hi = _instant(query["ActionDateStart"]), _instant(query["ActionDateEnd"])
    cid = query.get("CampaignId")
    return [
        r
        for r in rows
        if lo <= _instant(r["EventDate"]) <= hi and (cid is None or str(r["CampaignId"]) == cid)
    ]


def _run(
    replay: Replay, pipeline_dir: Path, first: date, last: date, name: str = "impact_rec"
) -> list[tuple[Any, ...]]:
    pipeline = duckdb_pipeline(pipeline_dir, name)
    ImpactConnector(
        base_url=replay.url, credentials=CREDS, retry=FAST_RETRY, requests_per_second=0, max_concurrency=1
    ).load(pipeline, mode="backfill", logical_time=datetime(2026, 12, 1, tzinfo=UTC), start=first, end=last)
    return read_rows(pipeline, "impact__actions", ["action_id", "report_date", "payout"])


def test_pages_every_program_to_the_recorded_total(tmp_path: Path) -> None:
    """Programs first, then /Actions per CampaignId with a valid PageSize, to @total rows."""
    recorded = _body("actions_first_page")["Actions"] + _body("actions_last_page")["Actions"]

    def route(path: str, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if path.endswith("/Campaigns"):
            return 200, {}, _body("campaigns_list")
        if "CampaignId" not in q:
            return 400, {}, _body("actions_missing_campaign_id")
        if not 2000 <= int(q.get("PageSize", "20000")) <= 20000:
            return 400, {}, _body("actions_pagesize_out_of_range")
        return 200, {}, _page(_in_range(recorded, q), q, 2000)

    with Replay(route) as replay:
        rows = _run(replay, tmp_path, date(2026, 10, 30), date(2026, 11, 16))
        assert replay.seen[0][0].endswith("/Campaigns")
        sent = replay.actions_requests()
    assert {q["CampaignId"] for q in sent} == {"19816", "20911"}
    assert all(2000 <= int(q["PageSize"]) <= 20000 for q in sent)
    assert len(rows) == 2001 == len({r[0] for r in rows})


def test_too_many_records_splits_the_range_until_each_part_fits(tmp_path: Path) -> None:
    """A range matching > 10 x PageSize records is halved until every part fits; no row lost or doubled."""
    recorded = _body("actions_first_page")["Actions"] + _body("actions_last_page")["Actions"]
    limit = 600  # this server's 10 x PageSize (as with a served page size of 60)

    def route(path: str, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if path.endswith("/Campaigns"):
            return 200, {}, _body("campaigns_list")
        rows = _in_range(recorded, q)
        if len(rows) > limit:
            return 400, {}, _body("actions_too_many_records")
        return 200, {}, _page(rows, q, 60)

    with Replay(route) as replay:
        rows = _run(replay, tmp_path, date(2026, 10, 30), date(2026, 11, 16))
        sent = [
            q for q in replay.actions_requests() if q["CampaignId"] == "19816" and q.get("Page", "1") == "1"
        ]
    assert len(rows) == 2001 == len({r[0] for r in rows})
    refused = [q for q in sent if len(_in_range(recorded, q)) > limit]
    assert refused, "the whole range must have been refused first"
    spans = [_instant(q["ActionDateEnd"]) - _instant(q["ActionDateStart"]) for q in sent]
    assert min(spans) < max(spans) / 2  # halved at least twice


# --- the UTC day edge ----------------------------------------------------------------------------


def test_local_evening_action_kept_when_neighbouring_utc_day_is_pulled(tmp_path: Path) -> None:
    """An action at 20:30-07:00 on 14 Oct is 03:30 UTC on 15 Oct.

    Pulling 15 Oct keeps it (slice 15 Oct); pulling 14 Oct afterwards must not delete it.
    """
    row = copy.deepcopy(_body("actions_last_page")["Actions"][0])
    row.update({"Id": "19816.4711.2000000", "EventDate": "2026-10-14T20:30:00-07:00", "Payout": 7.25})
    row["LockingDate"] = "2026-11-30T00:00:00-08:00"

    def route(path: str, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if path.endswith("/Campaigns"):
            return 200, {}, _body("campaigns_list")
        return 200, {}, _page(_in_range([row], q), q, 2000)

    with Replay(route) as replay:
        after_15 = _run(replay, tmp_path, date(2026, 10, 15), date(2026, 10, 15))
        after_14 = _run(replay, tmp_path, date(2026, 10, 14), date(2026, 10, 14))
    expected = [("19816.4711.2000000", date(2026, 10, 15), Decimal("7.25"))]
    assert after_15 == expected
    assert after_14 == expected


def test_requested_window_is_the_utc_days_inclusive() -> None:
    """A window of UTC days asks for [first 00:00:00Z, last 23:59:59Z] (ActionDateEnd is inclusive)."""
    start, end = H.utc_bounds(date(2026, 11, 1), date(2026, 11, 2))
    assert (start, end) == ("2026-11-01T00:00:00Z", "2026-11-02T23:59:59Z")
    assert _instant(end) - _instant(start) == timedelta(days=2, seconds=-1)


def test_page_size_sent_is_within_the_documented_limits() -> None:
    """Any configured page size is sent within 2,000..20,000 (default 20,000)."""
    assert H.page_size(ImpactConnector(credentials=CREDS).settings.page_size) == 20_000
    assert [H.page_size(n) for n in (10, 5000, 50_000)] == [2000, 5000, 20_000]
