"""The simulated Google Ads API: auth, GAQL strictness, paging, rate limits, restatements, truth."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import requests

from simulator.ads import api_google
from simulator.ads.common import local_midnight_utc

REPORT = (
    "SELECT campaign.id, ad_group.id, ad_group_ad.ad.id, segments.date, segments.hour, "
    "metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions "
    "FROM ad_group_ad WHERE segments.date BETWEEN '{d}' AND '{d}'"
)


class Google:
    """A minimal client: token, headers, and paging to the end."""

    def __init__(self, srv, env: dict[str, str]) -> None:
        self.srv, self.env = srv, env
        r = requests.post(
            f"{srv.url}/google_ads/token",
            data={
                "grant_type": "refresh_token",
                "client_id": env["SOURCES__GOOGLE_ADS__CLIENT_ID"],
                "client_secret": env["SOURCES__GOOGLE_ADS__CLIENT_SECRET"],
                "refresh_token": env["SOURCES__GOOGLE_ADS__REFRESH_TOKEN"],
            },
            timeout=10,
        )
        assert r.status_code == 200 and r.json()["expires_in"] == 3599
        self.headers = {
            "Authorization": "Bearer " + r.json()["access_token"],
            "developer-token": env["SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN"],
            "login-customer-id": env["SOURCES__GOOGLE_ADS__LOGIN_CUSTOMER_ID"],
        }

    def post(self, customer: str, body: dict, headers: dict | None = None, stream: bool = False):
        method = "searchStream" if stream else "search"
        url = f"{self.srv.url}/google_ads/{api_google.VERSION}/customers/{customer}/googleAds:{method}"
        return requests.post(url, json=body, headers=self.headers if headers is None else headers, timeout=30)

    def search_all(self, customer: str, query: str) -> tuple[list[dict], int]:
        rows, token, pages = [], None, 0
        while True:
            body = {"query": query} | ({"pageToken": token} if token else {})
            r = self.post(customer, body)
            assert r.status_code == 200, r.text
            pages += 1
            rows += r.json().get("results", [])
            token = r.json().get("nextPageToken")
            if not token:
                return rows, pages


def _accounts(ads_state) -> list[dict]:
    return ads_state.entities["google_ads"].accounts.to_dicts()


def _to_utc_hour(tz: str, d: str, hour: int) -> datetime:
    # A repeated wall-clock hour (fall-back) is one row reported at its first occurrence.
    local = datetime.combine(date.fromisoformat(d), datetime.min.time()).replace(
        hour=hour, tzinfo=ZoneInfo(tz)
    )
    return local.astimezone(UTC)


def _final_as_of(ads_state) -> str:
    return datetime.fromtimestamp(ads_state.end_utc + 8 * 86400, UTC).isoformat()


def test_pages_to_the_end_and_matches_truth_on_a_dst_day(ads_server, ads_env, ads_state, ads_truth) -> None:
    g = Google(ads_server, ads_env)
    ads_server.set_as_of(_final_as_of(ads_state))
    ads_server.set_page_size(97)
    us = next(a for a in _accounts(ads_state) if a["time_zone"] == "America/New_York")
    rows, pages = g.search_all(us["account_id"], REPORT.format(d="2026-11-01"))
    assert pages == -(-len(rows) // 97) and pages > 3
    # int64 as strings; the zero metrics of a returned row are sent, hour 0 too; no all-zero row
    metrics = ("impressions", "clicks", "costMicros", "conversions")
    assert all(set(r["metrics"]) == set(metrics) and "hour" in r["segments"] for r in rows)
    assert all(isinstance(r["metrics"]["impressions"], str) for r in rows)
    assert any(r["metrics"]["clicks"] == "0" for r in rows) and any(r["segments"]["hour"] == 0 for r in rows)
    assert not any(all(float(r["metrics"][m]) == 0 for m in metrics) for r in rows)
    hours = {r["segments"]["hour"] for r in rows}
    assert hours == set(range(24))
    api = pl.DataFrame(
        {
            "ad_id": [r["adGroupAd"]["ad"]["id"] for r in rows],
            "utc": [
                _to_utc_hour(us["time_zone"], r["segments"]["date"], r["segments"].get("hour", 0))
                for r in rows
            ],
            "spend_micros": [int(r["metrics"].get("costMicros", "0")) for r in rows],
        }
    )
    # The US day of 1 Nov 2026 lasts 25 hours (04:00 UTC .. 05:00 UTC next day).
    lo, hi = (
        local_midnight_utc(date(2026, 11, 1), us["time_zone"]),
        local_midnight_utc(date(2026, 11, 2), us["time_zone"]),
    )
    assert hi - lo == 25 * 3600
    truth = (
        ads_truth.filter(pl.col("account_id") == us["account_id"])
        .with_columns(
            (
                pl.col("spend_date").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=pl.col("spend_hour"))
            ).alias("utc")
        )
        .filter(
            pl.col("utc").is_between(
                datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC), closed="left"
            )
        )
    )
    assert api["spend_micros"].sum() == truth["spend_micros"].sum() > 0
    joined = api.join(
        truth.select("ad_id", "utc", pl.col("spend_micros").alias("t")), on=["ad_id", "utc"], how="full"
    )
    assert joined.height == truth.height == api.height
    assert (joined["spend_micros"] == joined["t"]).all()


def test_search_stream_batches_and_entities_over_time(ads_server, ads_env, ads_state) -> None:
    g = Google(ads_server, ads_env)
    ads_server.set_page_size(50)
    acc = _accounts(ads_state)[1]
    r = g.post(acc["account_id"], {"query": REPORT.format(d="2026-10-26")}, stream=True)
    assert r.status_code == 200
    batches = r.json()
    assert isinstance(batches, list) and len(batches) > 2
    assert all(
        len(b["results"]) <= 50 and b["fieldMask"].startswith("campaign.id,adGroup.id") for b in batches
    )
    changes = ads_state.changes.filter(pl.col("account_id") == acc["account_id"])
    rename = changes.filter(pl.col("field") == "name").row(0, named=True)
    query = f"SELECT campaign.id, campaign.name, campaign.status FROM campaign WHERE campaign.id = {rename['entity_id']}"
    ads_server.set_as_of(datetime.fromtimestamp(rename["effective_ts"] - 3600, UTC))
    before = g.post(acc["account_id"], {"query": query}).json()["results"][0]["campaign"]["name"]
    ads_server.set_as_of(datetime.fromtimestamp(rename["effective_ts"], UTC))
    after = g.post(acc["account_id"], {"query": query}).json()["results"][0]["campaign"]["name"]
    assert after == rename["value"] != before
    move = changes.filter(pl.col("field") == "campaign_id").row(0, named=True)
    q2 = f"SELECT ad_group.id, ad_group.campaign FROM ad_group WHERE ad_group.id = {move['entity_id']}"
    ads_server.set_as_of(datetime.fromtimestamp(move["effective_ts"], UTC))
    moved = g.post(acc["account_id"], {"query": q2}).json()["results"][0]["adGroup"]["campaign"]
    assert moved.endswith("/campaigns/" + move["value"])
    pause = changes.filter(pl.col("value") == "PAUSED").row(0, named=True)
    ads_server.set_as_of(datetime.fromtimestamp(pause["effective_ts"] + 1, UTC))
    q3 = f"SELECT campaign.status FROM campaign WHERE campaign.id = '{pause['entity_id']}'"
    assert g.post(acc["account_id"], {"query": q3}).json()["results"][0]["campaign"]["status"] == "PAUSED"


def test_strict_refusals_and_rate_limit_shape(ads_server, ads_env, ads_state) -> None:
    g = Google(ads_server, ads_env)
    cid = _accounts(ads_state)[0]["account_id"]
    q = REPORT.format(d="2026-10-26")
    assert g.post(cid, {"query": q}, headers={}).status_code == 401
    bad_dev = g.headers | {"developer-token": "nope"}
    assert g.post(cid, {"query": q}, headers=bad_dev).json()["error"]["status"] == "UNAUTHENTICATED"
    assert g.post("1234567890", {"query": q}).status_code == 403
    r = g.post(cid, {"query": "SELECT campaign.id, metrics.cost FROM campaign"})
    assert r.status_code == 400
    err = r.json()["error"]["details"][0]["errors"][0]
    assert err == {
        "errorCode": {"queryError": "UNRECOGNIZED_FIELD"},
        "message": "Unrecognized field in the query: 'metrics.cost'.",
    }
    page_size = g.post(cid, {"query": q, "pageSize": 100}).json()["error"]["details"][0]["errors"][0]
    assert page_size["errorCode"] == {"requestError": "PAGE_SIZE_NOT_SUPPORTED"}
    stale = g.post(cid, {"query": q, "returnTotalResultsCount": True})  # v16's field, gone since
    assert stale.status_code == 400 and "Unknown name" in stale.json()["error"]["message"]
    assert g.post(cid, {"query": q, "pageToken": "x"}, stream=True).status_code == 400, (
        "streams are not paged"
    )
    assert g.post(cid, {"query": "SELECT segments.date, metrics.clicks FROM ad_group_ad"}).status_code == 400
    bad_token = g.post(cid, {"query": q, "pageToken": "garbage"})
    assert bad_token.status_code == 400
    ads_server.set_faults("google_ads", rate_limit=1.0, retry_after_seconds=7)
    answers = [g.post(cid, {"query": q}) for _ in range(2)]
    assert all(r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED" for r in answers)
    errors = [r.json()["error"]["details"][0]["errors"][0] for r in answers]
    by_code = {e["errorCode"]["quotaError"]: e for e in errors}
    assert set(by_code) == {"RESOURCE_EXHAUSTED", "RESOURCE_TEMPORARILY_EXHAUSTED"}, "both documented forms"
    assert by_code["RESOURCE_EXHAUSTED"]["details"]["quotaErrorDetails"]["retryDelay"] == "7s"
    assert "details" not in by_code["RESOURCE_TEMPORARILY_EXHAUSTED"], "no retryDelay documented"
    ads_server.set_faults("google_ads", daily_quota=1.0)
    daily = g.post(cid, {"query": q}).json()["error"]["details"][0]["errors"][0]["details"][
        "quotaErrorDetails"
    ]
    assert daily["retryDelay"] == "17941s" and daily["rateName"] == "Number of operations for basic access"
    ads_server.set_faults("google_ads", server_error=1.0)
    assert g.post(cid, {"query": q}).status_code == 503
    ads_server.set_faults("google_ads", drop_connection=1.0)
    with pytest.raises(requests.ConnectionError):
        g.post(cid, {"query": q})
    ads_server.set_faults("google_ads", expire_tokens=True)
    r = g.post(cid, {"query": q})
    assert r.status_code == 401
    assert r.json()["error"]["status"] == "UNAUTHENTICATED" and "details" not in r.json()["error"]
    stats = ads_server.stats()["google_ads"]
    assert stats["rate_limited"] >= 1 and stats["dropped"] >= 1 and stats["daily_quota"] == 1


def _day_totals(g: Google, cid: str, d: str) -> tuple[int, float, set[tuple[str, int]], int]:
    rows, _ = g.search_all(cid, REPORT.format(d=d))
    cost = sum(int(r["metrics"].get("costMicros", 0)) for r in rows)
    conv = sum(r["metrics"].get("conversions", 0.0) for r in rows)
    keys = {(r["adGroupAd"]["ad"]["id"], r["segments"].get("hour", 0)) for r in rows}
    return cost, conv, keys, len(rows)


def test_restatement_partial_day_changes_vanishing_rows_and_slices(ads_server, ads_env, ads_state) -> None:
    g = Google(ads_server, ads_env)
    accounts = _accounts(ads_state)
    cells = ads_state.cells["google_ads"]
    # A slice that holds invalid-traffic rows (kind 1): they show first and vanish later.
    inv = (cells["kind"] == 1) & (cells["account_idx"] == 0)
    day = date(1970, 1, 1) + timedelta(days=int(cells["local_day"][inv][0]))
    acc = accounts[0]
    end = local_midnight_utc(day + timedelta(days=1), acc["time_zone"])

    ads_server.set_as_of(datetime.fromtimestamp(end - 13 * 3600 - 1800, UTC))  # 10:30 local (EDT)
    _, _, keys, _ = _day_totals(g, acc["account_id"], day.isoformat())
    assert {h for _, h in keys} == set(range(10)), "the current day shows only the hours that have passed"

    versions = []
    for as_of in (end + 3600, end + 3 * 86400, end + 7 * 86400, end + 20 * 86400):
        ads_server.set_as_of(datetime.fromtimestamp(as_of, UTC))
        versions.append(_day_totals(g, acc["account_id"], day.isoformat()))
    (c1, v1, k1, _), (c3, v3, k3, _), (c7, v7, k7, _), (c20, v20, k20, _) = versions
    assert c1 != c7 and c3 != c7, "cost corrections inside the window"
    assert v1 < v3 < v7, "conversions grow towards the final value"
    assert k1 - k7, "rows present in an early version are gone from the final one"
    assert (c7, v7, k7) == (c20, v20, k20), "nothing changes once the window has passed"

    # The voided slice: the last account's middle day has rows at first and none once voided.
    gb = accounts[-1]
    voided = date(1970, 1, 1) + timedelta(days=int(cells["local_day"][cells["kind"] == 2][0]))
    vend = local_midnight_utc(voided + timedelta(days=1), gb["time_zone"])
    ads_server.set_as_of(datetime.fromtimestamp(vend + 3600, UTC))
    assert _day_totals(g, gb["account_id"], voided.isoformat())[3] > 0
    ads_server.set_as_of(datetime.fromtimestamp(vend + 2 * 86400 + 3600, UTC))
    r = g.post(gb["account_id"], {"query": REPORT.format(d=voided.isoformat())})
    assert r.status_code == 200 and "results" not in r.json()


def test_wire_rows_match_the_generic_nested_insert() -> None:
    """The generated row builder gives the generic loop's rows and key order, fields interleaved or not.

    Zeros are sent (a selected field has presence); null and empty values are left out.
    """

    def reference(df: pl.DataFrame, fields: list[str], resource: str) -> list[dict]:
        out_fields = api_google.wire_fields(fields, resource)
        rows = []
        for values in zip(*[df[f].to_list() for f in out_fields], strict=True):
            row: dict = {}
            for f, v in zip(out_fields, values, strict=True):
                if v is None or v == "":
                    continue
                kind = api_google.FIELDS[f][1]
                v = (
                    str(int(v))
                    if kind == "int64"
                    else int(v)
                    if kind == "int32"
                    else float(v)
                    if kind == "double"
                    else v
                )
                node = row
                path = [api_google._camel(p) for p in f.split(".")]
                for p in path[:-1]:
                    node = node.setdefault(p, {})
                node[path[-1]] = v
            rows.append(row)
        return rows

    df = pl.DataFrame(
        {
            "ad_group_ad.resource_name": ["customers/1/adGroupAds/2~3", "customers/1/adGroupAds/2~4", ""],
            "ad_group_ad.ad.resource_name": ["customers/1/ads/3", "customers/1/ads/4", None],
            "campaign.resource_name": ["customers/1/campaigns/7", "customers/1/campaigns/7", None],
            "campaign.id": ["7", "7", "8"],
            "ad_group_ad.ad.id": ["3", "4", None],
            "segments.hour": [0, 5, 23],
            "metrics.clicks": [0, 2, 0],
            "segments.date": ["2026-10-24", None, "2026-10-25"],
            "metrics.conversions": [0.0, 1.5, 2.0],
            "metrics.cost_micros": [0, 10, 0],
        }
    )
    for fields in (
        [
            "campaign.id",
            "ad_group_ad.ad.id",
            "segments.date",
            "segments.hour",
            "metrics.clicks",
            "metrics.cost_micros",
            "metrics.conversions",
        ],
        [
            "metrics.clicks",
            "segments.hour",
            "campaign.id",
            "metrics.conversions",
            "segments.date",
            "ad_group_ad.ad.id",
        ],
    ):
        got = api_google._to_wire(df, fields, "ad_group_ad", "1")
        assert json.dumps(got) == json.dumps(reference(df, fields, "ad_group_ad"))


# -- versions, paging totals, and the recorded shapes (tests/fixtures/platforms/google_ads) ------

FIXTURES = Path(__file__).parents[1] / "fixtures" / "platforms" / "google_ads"


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _post_version(g: Google, version: str, cid: str, query: str) -> requests.Response:
    url = f"{g.srv.url}/google_ads/{version}/customers/{cid}/googleAds:search"
    return requests.post(url, json={"query": query}, headers=g.headers, timeout=30)


def test_sunset_versions_are_refused_as_google_refuses_them(ads_server, ads_env, ads_state) -> None:
    """v18 (sunset Aug 2025) is an HTML 404; v22 just after its sunset (7 Oct 2026) a 400 UNSUPPORTED_VERSION."""
    g = Google(ads_server, ads_env)
    cid, q = _accounts(ads_state)[0]["account_id"], REPORT.format(d="2026-10-26")
    old = _post_version(g, "v18", cid, q)
    assert old.status_code == 404 and old.headers["Content-Type"].startswith("text/html")
    assert f"/v18/customers/{cid}/googleAds:search" in old.text
    ads_server.set_as_of("2026-10-06T23:00:00Z")
    assert _post_version(g, "v22", cid, REPORT.format(d="2026-10-05")).status_code == 200
    ads_server.set_as_of("2026-10-07T00:00:00Z")
    r = _post_version(g, "v22", cid, REPORT.format(d="2026-10-05"))
    assert r.status_code == 400
    err = r.json()["error"]["details"][0]["errors"][0]
    assert err["errorCode"] == {"requestError": "UNSUPPORTED_VERSION"} and "v22" in err["message"]
    ads_server.set_as_of("2026-12-01T00:00:00Z")
    assert _post_version(g, "v22", cid, q).status_code == 404, "later the front end's 404"
    assert _post_version(g, "v23", cid, q).status_code == 200, "a version before its sunset is served"
    assert _post_version(g, "v99", cid, q).status_code == 404


def test_total_results_count_only_when_asked(ads_server, ads_env, ads_state) -> None:
    """``totalResultsCount`` (int64 string) comes only with searchSettings.returnTotalResultsCount, on every page."""
    g = Google(ads_server, ads_env)
    ads_server.set_page_size(40)
    cid, q = _accounts(ads_state)[0]["account_id"], REPORT.format(d="2026-10-26")
    rows, _ = g.search_all(cid, q)
    plain = g.post(cid, {"query": q}).json()
    assert "totalResultsCount" not in plain and "requestId" not in plain
    asked = g.post(cid, {"query": q, "searchSettings": {"returnTotalResultsCount": True}}).json()
    assert asked["totalResultsCount"] == str(len(rows)) and len(asked["results"]) == 40
    second = g.post(
        cid,
        {
            "query": q,
            "pageToken": asked["nextPageToken"],
            "search_settings": {"return_total_results_count": True},
        },
    ).json()
    assert second["totalResultsCount"] == str(len(rows))


def _shape(value: object) -> object:
    """Keys and JSON types, recursively (numbers as one type; a list by its elements' one shape)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        shapes = [_shape(v) for v in value]
        assert all(s == shapes[0] for s in shapes), "elements of one list share a shape"
        return shapes[:1]
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _codes(body: object) -> list[dict]:
    if not isinstance(body, dict) or "error" not in body:
        return []
    return [e["errorCode"] for d in body["error"].get("details", []) for e in d.get("errors", [])]


def _same_as_fixture(name: str, r: requests.Response) -> None:
    fx = _fixture(name)["response"]
    assert r.status_code == fx["status"], (name, r.text[:300])
    assert r.headers["Content-Type"].split(";")[0] == fx["headers"]["content-type"].split(";")[0]
    body = r.text if isinstance(fx["body"], str) else r.json()
    assert _shape(body) == _shape(fx["body"]), name
    assert _codes(body) == _codes(fx["body"]), name


def _fixture_query(name: str, day: str = "2026-10-26") -> str:
    query = _fixture(name)["request"]["body"]["query"]
    return query.replace("'2026-11-19'", f"'{day}'").replace("'2026-11-20'", f"'{day}'")


def test_answers_have_the_recorded_shapes(ads_server, ads_env, ads_state) -> None:
    """Each fixture's case asked of the simulator answers with the fixture's status, keys, types and codes."""
    g = Google(ads_server, ads_env)
    cid = _accounts(ads_state)[0]["account_id"]
    ads_server.set_page_size(3)
    query = _fixture_query("search_first_page")
    first = g.post(cid, {"query": query})
    _same_as_fixture("search_first_page", first)
    ads_server.set_page_size(100_000)  # the rest in one page: the last one
    last = g.post(cid, {"query": query, "pageToken": first.json()["nextPageToken"]})
    assert "nextPageToken" not in last.json()
    _same_as_fixture("search_last_page", last)
    _same_as_fixture("customer_info", g.post(cid, {"query": _fixture_query("customer_info")}))
    _same_as_fixture("invalid_gaql_query", g.post(cid, {"query": _fixture_query("invalid_gaql_query")}))
    ads_server.set_faults("google_ads", daily_quota=1.0)
    _same_as_fixture("quota_daily_operations_exhausted", g.post(cid, {"query": query}))
    ads_server.set_faults("google_ads", rate_limit=1.0, retry_after_seconds=30)
    answers = {
        _codes(r.json())[0]["quotaError"]: r for r in (g.post(cid, {"query": query}) for _ in range(2))
    }
    _same_as_fixture("quota_rate_short_delay", answers["RESOURCE_EXHAUSTED"])
    _same_as_fixture("resource_temporarily_exhausted", answers["RESOURCE_TEMPORARILY_EXHAUSTED"])
    ads_server.clear_faults()
    _same_as_fixture("sunset_v18_not_found", _post_version(g, "v18", cid, query))
    ads_server.set_as_of("2026-10-20T00:00:00Z")
    _same_as_fixture("sunset_unsupported_version", _post_version(g, "v22", cid, query))
    ads_server.set_faults("google_ads", expire_tokens=True)
    _same_as_fixture("unauthenticated", g.post(cid, {"query": query}))
