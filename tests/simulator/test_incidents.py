"""Labelled incidents: each kind changes what it should (data, truth, served APIs) and nothing else.

Three tiny worlds share the same seed and days: ``base`` (no incidents), ``quiet`` (one landing
outage, and an incident of every other kind after the world's end: the code paths run, nothing
but the delayed files may change) and ``hit`` (an incident of each other kind at known times, on
separate days where their effects could mix). Event-side incidents change the random draws of
their day, whose people touched ads on earlier days too, so the landing outage gets a world
where nothing else happens.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
from typer.testing import CliRunner

from simulator.ads import entity_changes
from simulator.ads.fx import is_business_day
from simulator.ads.http import Request
from simulator.ads.revoked import revoked
from simulator.ads.state import AdsWorld
from simulator.cli import app
from simulator.entities import build_entities
from simulator.incidents import CLEAN_DAYS, EXPECTED_RULES, KINDS, Incident, schedule
from simulator.server import SimServer
from simulator.world import generate_world, read_sim_env

START = date(2026, 10, 20)  # Tue; day 1 (Wed 21 Oct) is a business day
DAYS = 3
SEED = 5
SCALE = 0.001


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(
        days=day, hours=hour, minutes=minute
    )


def _gen(out: Path, incidents: bool | list[Incident]) -> Path:
    generate_world(out, START, DAYS, seed=SEED, scale=SCALE, show_progress=False, incidents=incidents)
    return out


def _busiest_campaign(base: Path, platform: str, lo: datetime, hi: datetime) -> tuple[str, str]:
    """(account_id, campaign_id) of the campaign of ``platform`` spending most in [lo, hi) in ``base``."""
    spend = pl.read_parquet(base / "truth" / "spend_final.parquet")
    row = (
        _in_window(spend.filter(pl.col("platform") == platform), lo, hi)
        .group_by("account_id", "campaign_id")
        .agg(pl.col("spend_micros").sum())
        .sort("spend_micros", "campaign_id", descending=[True, False])
        .row(0)
    )
    return row[0], row[1]


def _in_window(spend: pl.DataFrame, lo: datetime, hi: datetime) -> pl.DataFrame:
    ts = pl.col("spend_date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=pl.col("spend_hour"))
    return spend.filter((ts >= lo) & (ts < hi))


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("incidents")
    base = _gen(root / "base", False)
    runaway = (_at(0, 10), _at(0, 12))
    stall = (_at(0, 14), _at(0, 16))
    g_acc, g_camp = _busiest_campaign(base, "google_ads", *runaway)
    m_acc, m_camp = _busiest_campaign(base, "meta_ads", *stall)
    incs = [
        Incident("r1", "runaway_campaign", *runaway, "google_ads", g_acc, g_camp, 5.0),
        Incident("s1", "campaign_stall", *stall, "meta_ads", m_acc, m_camp, 0.1),
        Incident("t1", "tracking_break", _at(2, 17), _at(2, 20), "google_ads"),
        Incident("f1", "missing_fx", _at(1, 0), _at(2, 0)),
        Incident("o1", "api_outage", _at(1, 10), _at(1, 11), "google_ads"),
        Incident("o2", "api_outage", _at(1, 12), _at(1, 13), "tiktok_ads"),
        Incident("k1", "revoked_token", _at(2, 1), _at(2, 2), "google_ads"),
        Incident("k2", "revoked_token", _at(2, 2), _at(2, 3), "meta_ads"),
        Incident("k3", "revoked_token", _at(2, 3), _at(2, 4), "tiktok_ads"),
        Incident("k4", "revoked_token", _at(2, 4), _at(2, 5), "apple_search_ads"),
        Incident("a1", "app_bug", _at(0, 17), _at(0, 20), factor=0.5),
    ]
    late = [
        Incident(i.incident_id, i.kind, i.start + timedelta(days=30), i.end + timedelta(days=30), *_rest(i))
        for i in incs
    ]
    outage = Incident("l1", "landing_outage", _at(0, 10, 5), _at(0, 12, 20))
    quiet = _gen(root / "quiet", [*late, outage])
    hit = _gen(root / "hit", incs)
    return {"base": base, "quiet": quiet, "hit": hit, "incs": {i.incident_id: i for i in [*incs, outage]}}


def _rest(i: Incident) -> tuple[Any, ...]:
    return (i.platform, i.account_id, i.campaign_id, i.factor)


def _hashes(world: Path) -> dict[str, tuple[str, int | None]]:
    """sha256 of every file (and the mtime of landing files: their arrival time)."""
    out = {}
    for p in sorted(world.rglob("*")):
        if p.is_file():
            rel = str(p.relative_to(world))
            mtime = int(p.stat().st_mtime) if rel.startswith("landing/") else None
            out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), mtime)
    return out


def _lines(world: Path, event_type: str | None = None) -> list[dict[str, Any]]:
    """Parsed landing lines (malformed ones left out), optionally of one event type."""
    manifest = pl.read_parquet(world / "landing_manifest.parquet")
    out = []
    for key in manifest["key"]:
        for raw in gzip.decompress((world / "landing" / key).read_bytes()).decode().splitlines():
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if (
                "event_id" in obj
                and isinstance(obj.get("event_ts"), str)
                and (event_type is None or obj["event_type"] == event_type)
            ):
                out.append(obj)
    return out


def _ms(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


# ---- a world without incidents ---------------------------------------------------------------


def test_world_without_incidents_has_no_trace_of_them(worlds: dict[str, Any]) -> None:
    base = worlds["base"]
    assert not (base / "truth" / "incidents.parquet").exists()
    assert "incidents" not in json.loads((base / "world.json").read_text())


def test_incident_code_paths_change_no_byte_when_no_incident_falls_in_the_world(
    worlds: dict[str, Any],
) -> None:
    """Incidents on, all after the end but a landing outage: every other file is byte-identical."""
    base, quiet = _hashes(worlds["base"]), _hashes(worlds["quiet"])
    l1 = worlds["incs"]["l1"]
    due = pl.read_parquet(worlds["base"] / "landing_manifest.parquet").filter(
        pl.col("arrival_ts").is_between(l1.start, l1.end)
    )
    delayed = pl.read_parquet(worlds["quiet"] / "landing_manifest.parquet").filter(
        pl.col("arrival_ts") == l1.end
    )
    moved = {f"landing/{k}" for k in (*due["key"], *delayed["key"])}
    assert set(quiet) - set(base) - moved == {"truth/incidents.parquet"}
    assert set(base) - set(quiet) <= moved
    differ = {k for k in set(base) & set(quiet) if base[k] != quiet[k]}
    assert differ - moved == {"world.json", "landing_manifest.parquet"}


def test_world_json_and_truth_label_the_incidents(worlds: dict[str, Any]) -> None:
    meta = json.loads((worlds["hit"] / "world.json").read_text())
    assert meta["incidents"]["mode"] == "explicit" and meta["incidents"]["count"] == 11
    truth = pl.read_parquet(worlds["hit"] / "truth" / "incidents.parquet")
    assert truth.columns == [
        "incident_id",
        "kind",
        "platform",
        "account_id",
        "campaign_id",
        "start_ts",
        "end_ts",
        "factor",
        "expected_rules",
    ]
    assert truth["start_ts"].is_sorted()
    row = truth.filter(pl.col("incident_id") == "r1").row(0, named=True)
    assert row["start_ts"] == _at(0, 10) and row["end_ts"] == _at(0, 12) and row["factor"] == 5.0
    assert row["expected_rules"] == ["spend_spike", "overspend", "cac_spike"]
    assert truth.filter(pl.col("kind") == "app_bug")["expected_rules"].to_list() == [["signups_drop"]]
    assert truth.filter(pl.col("kind") == "missing_fx")["expected_rules"].to_list() == [[]]


# ---- ad side -------------------------------------------------------------------------------


def test_runaway_and_stalled_campaigns_scale_their_hours_and_nothing_else(worlds: dict[str, Any]) -> None:
    keys = ["platform", "account_id", "campaign_id", "ad_group_id", "ad_id", "spend_date", "spend_hour"]
    base = pl.read_parquet(worlds["base"] / "truth" / "spend_final.parquet")
    hit = pl.read_parquet(worlds["hit"] / "truth" / "spend_final.parquet")
    assert base.height == hit.height
    both = base.join(hit, on=[*keys, "currency"], how="full", suffix="_hit", nulls_equal=True)
    assert both["spend_micros"].null_count() == 0 and both["spend_micros_hit"].null_count() == 0
    changed = both.filter(
        pl.any_horizontal(pl.col(m) != pl.col(f"{m}_hit") for m in ("spend_micros", "impressions", "clicks"))
    )
    r1, s1 = worlds["incs"]["r1"], worlds["incs"]["s1"]
    runaway = _in_window(both.filter(pl.col("campaign_id") == r1.campaign_id), r1.start, r1.end)
    stall = _in_window(both.filter(pl.col("campaign_id") == s1.campaign_id), s1.start, s1.end)
    assert runaway.height > 0 and stall.height > 0
    assert changed.height == runaway.height + stall.height - (
        runaway.filter(pl.col("spend_micros") == 0).height
    )
    for m in ("spend_micros", "impressions", "clicks"):
        assert (runaway[f"{m}_hit"] == runaway[m] * 5).all(), m
    assert (runaway["conversions_hit"] == runaway["conversions"]).all()  # CAC rises
    assert runaway["spend_micros_hit"].sum() == 5 * runaway["spend_micros"].sum()
    for m in ("impressions", "clicks", "conversions"):
        assert (stall[f"{m}_hit"] == (stall[m] / 10).ceil().cast(pl.Int64)).all(), m
    assert int(stall["spend_micros_hit"].sum()) < 0.15 * int(stall["spend_micros"].sum())


def test_server_serves_the_runaway_spend(worlds: dict[str, Any]) -> None:
    """The API's final report of the runaway's account carries the extra spend, as the truth does."""
    r1 = worlds["incs"]["r1"]
    totals = {}
    for name in ("base", "hit"):
        ads = AdsWorld(worlds[name])
        idx = ads.account_index("google_ads", r1.account_id)
        assert idx is not None
        rep = ads.report("google_ads", idx, START, START + timedelta(days=DAYS - 1), ads.end_utc + 30 * 86400)
        truth = pl.read_parquet(worlds[name] / "truth" / "spend_final.parquet")
        assert (
            rep["spend_micros"].sum()
            == truth.filter(pl.col("account_id") == r1.account_id)["spend_micros"].sum()
        )
        totals[name] = int(rep["spend_micros"].sum())
    base = pl.read_parquet(worlds["base"] / "truth" / "spend_final.parquet")
    window = _in_window(base.filter(pl.col("campaign_id") == r1.campaign_id), r1.start, r1.end)
    extra = int(window["spend_micros"].sum())
    assert extra > 0 and totals["hit"] - totals["base"] == 4 * extra


def test_missing_fx_day_answers_as_a_holiday(worlds: dict[str, Any]) -> None:
    day = START + timedelta(days=1)
    rates = pl.read_parquet(worlds["hit"] / "state" / "ads" / "fx_rates.parquet")["rate_date"].to_list()
    base_rates = pl.read_parquet(worlds["base"] / "state" / "ads" / "fx_rates.parquet")["rate_date"].to_list()
    assert day in base_rates and day not in rates
    assert sorted(set(base_rates) - set(rates)) == [day]
    with SimServer(worlds["hit"], port=0, as_of=_at(10, 0)) as srv:
        r = requests.get(f"{srv.url}/fx_rates/v1/{day}", params={"base": "USD"}, timeout=10).json()
        assert r["date"] == str(day - timedelta(days=1))
        r2 = requests.get(f"{srv.url}/fx_rates/v1/{day + timedelta(days=1)}", timeout=10).json()
        assert r2["date"] == str(day + timedelta(days=1))


# ---- served APIs ---------------------------------------------------------------------------


def _google_token(srv: SimServer, env: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{srv.url}/google_ads/token",
        data={
            "grant_type": "refresh_token",
            "client_id": env["SOURCES__GOOGLE_ADS__CLIENT_ID"],
            "client_secret": env["SOURCES__GOOGLE_ADS__CLIENT_SECRET"],
            "refresh_token": env["SOURCES__GOOGLE_ADS__REFRESH_TOKEN"],
        },
        timeout=10,
    )


def _tiktok(srv: SimServer, env: dict[str, str]) -> dict[str, Any]:
    adv = env["SOURCES__TIKTOK_ADS__ADVERTISER_IDS"].split(",")[0]
    r = requests.get(
        f"{srv.url}/tiktok_ads/open_api/v1.3/advertiser/info/",
        params={"advertiser_ids": json.dumps([adv])},
        headers={"Access-Token": env["SOURCES__TIKTOK_ADS__ACCESS_TOKEN"]},
        timeout=10,
    )
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def _meta(srv: SimServer, env: dict[str, str]) -> requests.Response:
    acc = env["SOURCES__META_ADS__ACCOUNT_IDS"].split(",")[0]
    return requests.get(
        f"{srv.url}/meta_ads/v26.0/act_{acc}/campaigns",
        params={"access_token": env["SOURCES__META_ADS__ACCESS_TOKEN"], "fields": "id,name"},
        timeout=10,
    )


def _apple_token(srv: SimServer, env: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{srv.url}/apple_search_ads/auth/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": env["SOURCES__APPLE_SEARCH_ADS__CLIENT_ID"],
            "client_secret": env["SOURCES__APPLE_SEARCH_ADS__CLIENT_SECRET"],
            "scope": "searchadsorg",
        },
        timeout=10,
    )


def test_api_outage_answers_the_platforms_server_error_inside_its_window_only(worlds: dict[str, Any]) -> None:
    env = read_sim_env(worlds["hit"] / "sim.env")
    with SimServer(worlds["hit"], port=0) as srv:
        srv.set_as_of(_at(1, 10, 30))
        r = _google_token(srv, env)  # every request, the token endpoint's too
        assert r.status_code == 503 and r.json()["error"]["status"] == "UNAVAILABLE"
        assert _tiktok(srv, env)["code"] == 0  # another platform answers
        srv.set_as_of(_at(1, 11))  # end is exclusive
        assert _google_token(srv, env).status_code == 200
        srv.set_as_of(_at(1, 12, 59))
        assert _tiktok(srv, env)["code"] == 50000
        srv.set_as_of(_at(1, 9, 59))
        assert _google_token(srv, env).status_code == 200
        assert srv.stats()["google_ads"]["incident_outage"] == 1


def test_revoked_token_answers_each_platforms_auth_error_inside_its_window_only(
    worlds: dict[str, Any],
) -> None:
    env = read_sim_env(worlds["hit"] / "sim.env")
    with SimServer(worlds["hit"], port=0) as srv:
        srv.set_as_of(_at(2, 1, 30))
        r = _google_token(srv, env)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        srv.set_as_of(_at(2, 2, 30))
        assert _google_token(srv, env).status_code == 200
        r = _meta(srv, env)
        assert r.status_code == 400
        assert r.json()["error"]["code"] == 190 and r.json()["error"]["error_subcode"] == 460
        srv.set_as_of(_at(2, 3, 30))
        assert _meta(srv, env).status_code == 200
        assert _tiktok(srv, env)["code"] == 40105
        srv.set_as_of(_at(2, 4, 30))
        assert _tiktok(srv, env)["code"] == 0
        r = _apple_token(srv, env)
        assert r.status_code == 400 and r.json() == {"error": "invalid_client"}
        srv.set_as_of(_at(2, 5))
        assert _apple_token(srv, env).status_code == 200


def test_revoked_data_requests_use_the_platforms_unauthenticated_shapes() -> None:
    """Data requests (not the token endpoint) of Google and Apple are refused as with a dead access token."""
    data = Request("GET", "/v21/customers/1/googleAds:search", {}, {}, b"", "")
    resp = revoked("google_ads", None, data)  # type: ignore[arg-type]
    assert resp.status == 401 and resp.body["error"]["status"] == "UNAUTHENTICATED"
    apple = Request("GET", "/api/v5/campaigns", {}, {}, b"", "")
    resp = revoked("apple_search_ads", None, apple)  # type: ignore[arg-type]
    assert resp.status == 401


# ---- event side ----------------------------------------------------------------------------


def test_landing_outage_delays_files_to_its_end_and_loses_nothing(worlds: dict[str, Any]) -> None:
    l1 = worlds["incs"]["l1"]
    base = pl.read_parquet(worlds["base"] / "landing_manifest.parquet")
    hit = pl.read_parquet(worlds["quiet"] / "landing_manifest.parquet")
    assert hit.filter((pl.col("arrival_ts") >= l1.start) & (pl.col("arrival_ts") < l1.end)).height == 0
    due = base.filter((pl.col("arrival_ts") >= l1.start) & (pl.col("arrival_ts") <= l1.end))
    late = hit.filter(pl.col("arrival_ts") == l1.end)
    assert due.height > late.height > 0  # 5-minute files of an hour folder arrive as one
    assert late["n_lines"].sum() == due["n_lines"].sum()
    for key in late["key"]:
        assert os.stat(worlds["quiet"] / "landing" / key).st_mtime == l1.end.timestamp()
    lines: dict[str, Counter[str]] = {}
    for name, frame in (("base", due), ("quiet", late)):
        lines[name] = Counter(
            raw
            for key in frame["key"]
            for raw in gzip.decompress((worlds[name] / "landing" / key).read_bytes()).decode().splitlines()
        )
    assert lines["base"] == lines["quiet"]
    # files due before and after the outage are untouched
    for frame in (base, hit):
        assert frame["key"].is_unique().all()
    others = [
        f.filter(~pl.col("key").is_in(due["key"].implode()) & (pl.col("arrival_ts") != l1.end))
        for f in (base, hit)
    ]
    assert others[0].equals(others[1])


def test_tracking_break_strips_one_platforms_ids_and_leaves_its_signups_unattributed(
    worlds: dict[str, Any],
) -> None:
    t1: Incident = worlds["incs"]["t1"]

    def inside(obj: dict[str, Any], field: str = "event_ts") -> bool:
        return t1.start <= _ms(str(obj[field])) < t1.end

    base, hit = _lines(worlds["base"], "landing"), _lines(worlds["hit"], "landing")
    assert sum(1 for o in base if inside(o) and o.get("gclid")) > 5
    assert not any(
        inside(o) and (o.get("gclid") or o.get("utm_source") in ("google", "adwords", "google_ads"))
        for o in hit
    )
    # other platforms keep their click ids in the window
    fbclids = [{o["fbclid"] for o in rows if inside(o) and o.get("fbclid")} for rows in (base, hit)]
    assert fbclids[0] and fbclids[0] == fbclids[1]
    touches = {name: _lines(worlds[name], "mmp_touch") for name in ("base", "hit")}

    def pairs(rows: list[dict[str, Any]], google_inside: bool) -> set[tuple[str, str | None]]:
        return {  # from day 1 on: the app bug redrew day 0
            (o["event_id"], o["device_id"])
            for o in rows
            if (o["platform"] == "google_ads" and inside(o, "touch_ts")) == google_inside
            and _ms(o["touch_ts"]) >= _at(1, 0)
        }

    assert pairs(touches["base"], False) == pairs(touches["hit"], False)
    lost = pairs(touches["hit"], True)
    assert lost and {d for _, d in lost} == {None}
    assert {e for e, _ in lost} == {e for e, _ in pairs(touches["base"], True)}  # called back, without the id
    attr = {
        name: pl.read_parquet(worlds[name] / "truth" / "attribution_last_touch.parquet")
        for name in ("base", "hit")
    }
    google_inside = (pl.col("platform") == "google_ads") & pl.col("touch_ts").is_between(
        t1.start, t1.end, closed="left"
    )
    assert attr["base"].filter(google_inside).height > 0
    assert attr["hit"].filter(google_inside).height == 0
    later = pl.col("user_id").is_in(  # the app bug redrew day 0
        pl.read_parquet(worlds["base"] / "truth" / "signups.parquet")
        .filter(pl.col("signup_date") > START)["user_id"]
        .implode()
    )
    kept = attr["base"].filter(later & ~google_inside)
    assert kept.join(attr["hit"], on=kept.columns, how="anti", nulls_equal=True).height == 0


def test_app_bug_halves_the_signups_of_its_window_only(worlds: dict[str, Any]) -> None:
    a1 = worlds["incs"]["a1"]
    signups = {name: pl.read_parquet(worlds[name] / "truth" / "signups.parquet") for name in ("base", "hit")}
    inside = pl.col("signup_ts").is_between(a1.start, a1.end, closed="left")
    n_base, n_hit = (signups[n].filter(inside).height for n in ("base", "hit"))
    assert n_base > 40 and 0.35 * n_base < n_hit < 0.65 * n_base
    later = pl.col("signup_date") > START
    assert signups["base"].filter(later).equals(signups["hit"].filter(later))
    lines = {name: _lines(worlds[name], "user_signup") for name in ("base", "hit")}
    counts = {n: sum(1 for o in lines[n] if a1.start <= _ms(o["event_ts"]) < a1.end) for n in lines}
    assert 0.35 * counts["base"] < counts["hit"] < 0.65 * counts["base"]
    # outside the window the day's sign-ups are drawn again for fewer people: about as many
    outside = {n: signups[n].filter(~inside & (pl.col("signup_date") == START)).height for n in signups}
    assert abs(outside["hit"] - outside["base"]) < 0.1 * outside["base"]


# ---- the schedule and the CLI flag ------------------------------------------------------------


@pytest.fixture(scope="module")
def month() -> list[Incident]:
    start = date(2026, 10, 1)
    ents = build_entities(7, 0.001)
    return schedule(7, start, 40, ents, entity_changes(ents, 7, start, 40))


def test_schedule_has_three_of_each_kind_after_a_clean_week_without_overlap(month: list[Incident]) -> None:
    counts = Counter(i.kind for i in month)
    assert set(counts) == set(KINDS) and min(counts.values()) >= 3
    assert min(i.start for i in month) >= datetime(2026, 10, 1 + CLEAN_DAYS, tzinfo=UTC)
    ordered = sorted(month, key=lambda i: i.start)
    assert all(a.end <= b.start for a, b in zip(ordered, ordered[1:], strict=False))
    assert len({i.incident_id for i in month}) == len(month)
    for i in month:
        if i.kind == "missing_fx":
            assert is_business_day(i.start.date()) and i.end - i.start == timedelta(days=1)
        else:
            assert timedelta(hours=1) <= i.end - i.start <= timedelta(hours=4), i
    hours = {i.start.hour for i in month if i.kind != "missing_fx"}
    assert hours & set(range(0, 6)) and hours & set(range(9, 18))  # night and day
    assert all(EXPECTED_RULES[i.kind] or i.kind == "missing_fx" for i in month)


def test_schedule_is_a_function_of_the_seed(month: list[Incident]) -> None:
    start = date(2026, 10, 1)
    ents = build_entities(7, 0.001)
    assert schedule(7, start, 40, ents, entity_changes(ents, 7, start, 40)) == month
    assert schedule(8, start, 40, ents, entity_changes(ents, 8, start, 40)) != month
    assert schedule(7, start, CLEAN_DAYS, ents, entity_changes(ents, 7, start, CLEAN_DAYS)) == []


def test_cli_flag_records_the_incidents_setting(tmp_path: Path) -> None:
    args = [
        "generate",
        "--out",
        str(tmp_path / "w"),
        "--start",
        "2026-10-20",
        "--days",
        "1",
        "--scale",
        "0.0005",
    ]
    res = CliRunner().invoke(app, [*args, "--incidents"])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "w" / "world.json").read_text())
    assert meta["incidents"] == {"mode": "scheduled", "count": 0, "kinds": []}  # the first week is clean
    assert pl.read_parquet(tmp_path / "w" / "truth" / "incidents.parquet").height == 0
