"""The simulated Impact API: programs, CampaignId required, PageSize limits, > 10 x PageSize refused,
local offsets, inclusive ActionDate filter, 429 headers, locking, truth, and shapes as the fixtures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from simulator.ads.state import AdsWorld
from simulator.server import SimServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "impact"
JSON = {"Accept": "application/json"}


def _fixture(name: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return out


def _auth(env: dict[str, str]) -> tuple[str, str]:
    return env["SOURCES__IMPACT__ACCOUNT_SID"], env["SOURCES__IMPACT__AUTH_TOKEN"]


def _get(srv: SimServer, env: dict[str, str], what: str, **params: Any) -> requests.Response:
    sid = env["SOURCES__IMPACT__ACCOUNT_SID"]
    return requests.get(
        f"{srv.url}/impact/Advertisers/{sid}/{what}", params=params, auth=_auth(env), headers=JSON, timeout=30
    )


def _program_ids(srv: SimServer, env: dict[str, str]) -> list[int]:
    r = _get(srv, env, "Campaigns")
    assert r.status_code == 200, r.text
    return [p["Id"] for p in r.json()["Campaigns"]]


def _actions(
    srv: SimServer, env: dict[str, str], start: str, end: str, page_size: int = 2000
) -> tuple[list[dict[str, Any]], int]:
    """Every action of every program in [start, end], following @nextpageuri; (rows, pages)."""
    rows: list[dict[str, Any]] = []
    pages = 0
    for cid in _program_ids(srv, env):
        params: dict[str, Any] = {
            "CampaignId": cid,
            "ActionDateStart": start,
            "ActionDateEnd": end,
            "PageSize": page_size,
        }
        url: str | None = f"{srv.url}/impact/Advertisers/{env['SOURCES__IMPACT__ACCOUNT_SID']}/Actions"
        while url:
            r = requests.get(url, params=params, auth=_auth(env), headers=JSON, timeout=30)
            assert r.status_code == 200, r.text
            body = r.json()
            assert all(isinstance(v, str) for k, v in body.items() if k.startswith("@"))
            rows += body["Actions"]
            pages += 1
            nxt = body["@nextpageuri"]
            url, params = (f"{srv.url}/impact{nxt}" if nxt else None), {}
    return rows, pages


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def test_actions_page_and_final_payout_matches_truth(
    ads_server: SimServer, ads_env: dict[str, str], ads_state: AdsWorld, ads_truth: pl.DataFrame
) -> None:
    """Paged per program to the end, the final payouts of actions not reversed equal the truth."""
    ads_server.set_as_of(datetime.fromtimestamp(ads_state.end_utc + 9 * 86400, UTC))
    ads_server.set_page_size(25)
    rows: list[dict[str, Any]] = []
    pages = 0
    for i in range(11):  # UTC days 23 Oct .. 2 Nov, a request range each (10 x 25 records at most)
        d = (date(2026, 10, 23) + timedelta(days=i)).isoformat()
        got, n = _actions(ads_server, ads_env, f"{d}T00:00:00Z", f"{d}T23:59:59Z")
        rows, pages = rows + got, pages + n
    assert pages > 3 and len({r["Id"] for r in rows}) == len(rows)
    assert {r["State"] for r in rows} == {"APPROVED", "REVERSED"}
    paid = sum(Decimal(str(r["Payout"])) for r in rows if r["State"] != "REVERSED")
    truth = ads_truth.filter(pl.col("platform") == "impact")
    assert paid * 1_000_000 == truth["spend_micros"].sum() > 0
    assert truth["ad_id"].null_count() == truth.height
    assert set(truth["ad_group_id"]) <= {str(r["MediaPartnerId"]) for r in rows}
    # the truth's dates and hours are the UTC ones of EventDate
    hours = {
        (_utc(r["EventDate"]).date(), _utc(r["EventDate"]).hour) for r in rows if r["State"] != "REVERSED"
    }
    assert set(zip(truth["spend_date"], truth["spend_hour"], strict=True)) == hours


def test_pending_until_locking_and_payout_changes(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """Before LockingDate actions are PENDING and payouts/states change; after it they are final."""
    ads_server.set_as_of("2026-10-26T12:00:00Z")
    early, _ = _actions(ads_server, ads_env, "2026-10-25T00:00:00Z", "2026-10-25T23:59:59Z")
    ads_server.set_as_of("2026-11-10T00:00:00Z")
    late, _ = _actions(ads_server, ads_env, "2026-10-25T00:00:00Z", "2026-10-25T23:59:59Z")
    assert {r["State"] for r in early} <= {"PENDING", "REVERSED"} and "PENDING" in {r["State"] for r in early}
    assert {r["Id"] for r in early} == {r["Id"] for r in late}
    by_id = {r["Id"]: r for r in late}
    changed = [
        a for a in early if (a["Payout"], a["State"]) != (by_id[a["Id"]]["Payout"], by_id[a["Id"]]["State"])
    ]
    assert changed, "payouts or states change before LockingDate"
    assert all(_utc(r["LockingDate"]) <= datetime(2026, 11, 10, tzinfo=UTC) for r in late)
    # every change of a UTC day's actions happens within the 7-day restatement window
    assert all(_utc(r["LockingDate"]) <= datetime(2026, 11, 2, tzinfo=UTC) for r in late)


def test_event_and_locking_dates_carry_the_accounts_offset(
    ads_server: SimServer, ads_env: dict[str, str]
) -> None:
    """Los Angeles time: -07:00 before the US clocks go back (1 Nov 09:00 UTC), -08:00 after."""
    rows, _ = _actions(ads_server, ads_env, "2026-10-31T00:00:00Z", "2026-11-02T23:59:59Z")
    for r in rows:
        event = _utc(r["EventDate"])
        offset = "-07:00" if event < datetime(2026, 11, 1, 9, tzinfo=UTC) else "-08:00"
        assert r["EventDate"].endswith(offset), r["EventDate"]
        assert r["LockingDate"][10:19] == "T00:00:00"  # local midnight
    # local evenings are the next UTC day: some actions are written on another date than their UTC one
    assert any(_utc(r["EventDate"]).date().isoformat() != r["EventDate"][:10] for r in rows)


def test_action_date_filter_is_the_instant_given_and_inclusive(
    ads_server: SimServer, ads_env: dict[str, str]
) -> None:
    """ActionDateStart/End filter EventDate on or after / on or before the instant, in whatever offset."""
    as_z, _ = _actions(ads_server, ads_env, "2026-10-27T07:00:00Z", "2026-10-28T06:59:59Z")
    as_local, _ = _actions(ads_server, ads_env, "2026-10-27T00:00:00-07:00", "2026-10-27T23:59:59-07:00")
    naive_local, _ = _actions(ads_server, ads_env, "2026-10-27T00:00:00", "2026-10-27T23:59:59")
    assert as_z and [r["Id"] for r in as_z] == [r["Id"] for r in as_local] == [r["Id"] for r in naive_local]
    last = max(as_z, key=lambda r: _utc(r["EventDate"]))
    exact, _ = _actions(ads_server, ads_env, last["EventDate"], last["EventDate"])
    assert [r["Id"] for r in exact] == [last["Id"]]


def test_actions_without_campaign_id_are_refused(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """CampaignId is required on /Actions: 400 with Impact's validation envelope."""
    r = _get(
        ads_server,
        ads_env,
        "Actions",
        ActionDateStart="2026-10-25T00:00:00Z",
        ActionDateEnd="2026-10-25T23:59:59Z",
        PageSize=2000,
    )
    assert r.status_code == 400
    assert r.json() == _fixture("actions_missing_campaign_id")["response"]["body"]


@pytest.mark.parametrize("size", [100, 1999, 20_001])
def test_page_size_out_of_range_is_refused(ads_server: SimServer, ads_env: dict[str, str], size: int) -> None:
    """PageSize must be 2,000..20,000 (the test-only served page size does not change that)."""
    ads_server.set_page_size(10)
    cid = _program_ids(ads_server, ads_env)[0]
    r = _get(
        ads_server,
        ads_env,
        "Actions",
        CampaignId=cid,
        ActionDateStart="2026-10-25T00:00:00Z",
        ActionDateEnd="2026-10-25T23:59:59Z",
        PageSize=size,
    )
    assert r.status_code == 400
    assert r.json() == _fixture("actions_pagesize_out_of_range")["response"]["body"]


def test_default_page_size_is_20000(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """Without PageSize the page holds up to 20,000 actions."""
    cid = _program_ids(ads_server, ads_env)[0]
    r = _get(
        ads_server,
        ads_env,
        "Actions",
        CampaignId=cid,
        ActionDateStart="2026-10-25T00:00:00Z",
        ActionDateEnd="2026-10-25T23:59:59Z",
    )
    assert r.status_code == 200 and r.json()["@pagesize"] == "20000"


def test_more_than_ten_pages_of_records_is_refused(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """A request matching > 10 x the served page size is an error; a shorter range answers."""
    ads_server.set_page_size(5)  # served page size 5: at most 50 records a request
    cid = _program_ids(ads_server, ads_env)[0]
    week = _get(
        ads_server,
        ads_env,
        "Actions",
        CampaignId=cid,
        ActionDateStart="2026-10-24T00:00:00Z",
        ActionDateEnd="2026-10-31T23:59:59Z",
        PageSize=2000,
    )
    assert week.status_code == 400
    assert week.json() == _fixture("actions_too_many_records")["response"]["body"]
    hour = _get(
        ads_server,
        ads_env,
        "Actions",
        CampaignId=cid,
        ActionDateStart="2026-10-27T01:00:00Z",
        ActionDateEnd="2026-10-27T01:59:59Z",
        PageSize=2000,
    )
    assert hour.status_code == 200 and int(hour.json()["@total"]) <= 50


def test_strictness_and_rate_limit_headers(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """Basic auth, the 45-day span, XML without Accept, and 429 with X-RateLimit-Reset in seconds."""
    sid = ads_env["SOURCES__IMPACT__ACCOUNT_SID"]
    url = f"{ads_server.url}/impact/Advertisers/{sid}/Actions"
    cid = _program_ids(ads_server, ads_env)[0]
    ok: dict[str, Any] = {
        "CampaignId": cid,
        "ActionDateStart": "2026-10-25T00:00:00Z",
        "ActionDateEnd": "2026-10-26T00:00:00Z",
    }
    assert requests.get(url, params=ok, headers=JSON, timeout=10).status_code == 401
    assert requests.get(url, params=ok, auth=(sid, "wrong"), headers=JSON, timeout=10).status_code == 401
    long = {**ok, "ActionDateStart": "2026-09-01T00:00:00Z"}
    r = requests.get(url, params=long, auth=_auth(ads_env), headers=JSON, timeout=10)
    assert r.status_code == 400 and "45 days" in r.json()["Message"]
    xml = requests.get(url, params=ok, auth=_auth(ads_env), timeout=10)
    assert xml.headers["Content-Type"].startswith("application/xml")
    ok_resp = requests.get(url, params=ok, auth=_auth(ads_env), headers=JSON, timeout=10)
    assert 0 < int(ok_resp.headers["X-RateLimit-Reset"]) <= 3600  # seconds until the hourly reset
    ads_server.set_faults("impact", rate_limit=1.0, retry_after_seconds=1834)
    r = requests.get(url, params=ok, auth=_auth(ads_env), headers=JSON, timeout=10)
    assert r.status_code == 429 and "Retry-After" not in r.headers
    assert r.headers["X-RateLimit-Remaining"] == "0" and r.headers["X-RateLimit-Reset"] == "1834"


# --- shapes: the simulator answers as the recorded fixtures show ------------------------------------


def shape(value: Any) -> Any:
    """The JSON shape of a value: keys and scalar types, recursively (a list by its first item)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def _first_rows(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: (v[:1] if k == key else v) for k, v in body.items()}


def test_programs_have_the_recorded_shape(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """/Campaigns: integer Id, State (no Status, no Currency), @-paging strings."""
    r = _get(ads_server, ads_env, "Campaigns")
    rec = _fixture("campaigns_list")["response"]
    assert r.status_code == rec["status"]
    assert shape(_first_rows(r.json(), "Campaigns")) == shape(_first_rows(rec["body"], "Campaigns"))
    assert {p["State"] for p in r.json()["Campaigns"]} <= {"ACTIVE", "DEACTIVATED"}


@pytest.mark.parametrize("name", ["actions_first_page", "actions_last_page"])
def test_action_pages_have_the_recorded_shape(
    ads_server: SimServer, ads_env: dict[str, str], name: str
) -> None:
    """/Actions pages: the same keys and JSON types as recorded (numbers for money and ids, Id a string)."""
    ads_server.set_page_size(3)
    cid = _program_ids(ads_server, ads_env)[0]
    page = "1" if name == "actions_first_page" else None
    params = {
        "CampaignId": cid,
        "ActionDateStart": "2026-10-27T00:00:00Z",
        "ActionDateEnd": "2026-10-27T05:59:59Z",
        "PageSize": 2000,
    }
    first = _get(ads_server, ads_env, "Actions", **params).json()
    body = first if page else _get(ads_server, ads_env, "Actions", **params, Page=first["@numpages"]).json()
    rec = _fixture(name)["response"]
    assert int(first["@numpages"]) >= 2
    assert shape(_first_rows(body, "Actions")) == shape(_first_rows(rec["body"], "Actions"))
    assert (body["@nextpageuri"] == "") == (rec["body"]["@nextpageuri"] == "")


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("actions_missing_campaign_id", {"PageSize": 2000}),
        ("actions_pagesize_out_of_range", {"CampaignId": "*", "PageSize": 100}),
        (
            "actions_too_many_records",
            {"CampaignId": "*", "PageSize": 2000, "ActionDateStart": "2026-10-24T00:00:00Z"},
        ),
    ],
)
def test_errors_have_the_recorded_status_and_body(
    ads_server: SimServer, ads_env: dict[str, str], name: str, params: dict[str, Any]
) -> None:
    """Each refusal with the recorded status and body."""
    ads_server.set_page_size(2)
    query = {"ActionDateStart": "2026-10-25T00:00:00Z", "ActionDateEnd": "2026-10-31T23:59:59Z", **params}
    if query.get("CampaignId") == "*":
        query["CampaignId"] = _program_ids(ads_server, ads_env)[0]
    r = _get(ads_server, ads_env, "Actions", **query)
    rec = _fixture(name)["response"]
    assert (r.status_code, r.json()) == (rec["status"], rec["body"])


def test_rate_limit_has_the_recorded_shape(ads_server: SimServer, ads_env: dict[str, str]) -> None:
    """429: the recorded headers (X-RateLimit-*) and body shape."""
    ads_server.set_faults("impact", rate_limit=1.0)
    r = _get(
        ads_server,
        ads_env,
        "Actions",
        CampaignId=1,
        ActionDateStart="2026-10-25T00:00:00Z",
        ActionDateEnd="2026-10-25T23:59:59Z",
    )
    rec = _fixture("rate_limited_429")["response"]
    assert r.status_code == rec["status"] and shape(r.json()) == shape(rec["body"])
    assert {h for h in rec["headers"] if h.startswith("X-")} <= set(r.headers)
    assert r.headers["X-RateLimit-Reset"].isdigit()
