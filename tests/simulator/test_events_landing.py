"""Landing files: layout, the fields of each event type, and each kind of dirt at its configured rate."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from simulator.entities import UTM_SOURCES
from simulator.events import DirtRates

COMMON = {"event_id", "event_type", "event_ts", "received_at", "schema_version"}
FIELDS = {
    "landing": {
        "anonymous_id",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "gclid",
        "fbclid",
        "ttclid",
        "user_agent",
    },
    "app_install": {"device_id", "device_platform"},
    "user_signup": {"user_id", "device_platform", "country", "email", "phone", "is_test_account"},
    "first_ride": {"user_id", "revenue", "currency"},
    "first_order": {"user_id", "revenue", "currency"},
    "purchase": {"user_id", "revenue", "currency"},
    "user_merged": {"from_user_id", "to_user_id"},
    "mmp_touch": {"device_id", "platform", "campaign_id", "ad_group_id", "ad_id", "touch_type", "touch_ts"},
    "skan_postback": {
        "postback_id",
        "ad_network_id",
        "platform",
        "source_identifier",
        "conversion_value",
        "coarse_conversion_value",
        "postback_sequence",
        "did_win",
    },
}
V2 = {"app_version", "consent"}
KEY_RE = re.compile(r"^events/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/part-\d{8}T\d{6}Z\.jsonl\.gz$")
DIRT = DirtRates()


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _is_valid(obj: object) -> bool:
    if not isinstance(obj, dict) or obj.get("event_type") not in FIELDS or not COMMON <= obj.keys():
        return False
    return isinstance(obj["event_ts"], str) and isinstance(obj["event_id"], str)


@pytest.fixture(scope="module")
def valid(events_lines: list) -> list[tuple[str, int, datetime, dict]]:
    return [(k, i, a, o) for k, i, a, _, o in events_lines if _is_valid(o)]


def test_keys_and_part_files_follow_the_sink_layout(events_lines: list) -> None:
    by_file: dict[str, list[datetime]] = defaultdict(list)
    for key, _, arrival, _, obj in events_lines:
        assert KEY_RE.match(key), key
        if _is_valid(obj):
            rx = _ts(obj["received_at"])
            assert arrival - timedelta(minutes=5) <= rx < arrival, (key, rx, arrival)  # flushed every 5 min
            partition_ts = obj["received_at"] if obj["event_type"] == "skan_postback" else obj["event_ts"]
            assert f"dt={partition_ts[:10]}/hour={partition_ts[11:13]}/" in key  # partitioned by event time
            by_file[key].append(rx)
    assert all(max(v) - min(v) < timedelta(minutes=5) for v in by_file.values())


def test_every_event_has_exactly_its_contract_fields(valid: list) -> None:
    versions: Counter[tuple[str, int]] = Counter()
    for _, _, _, obj in valid:
        etype, ver = obj["event_type"], obj["schema_version"]
        expected = COMMON | FIELDS[etype]
        if etype == "user_signup":
            expected |= {"anonymous_id"} if obj["device_platform"] == "web" else {"device_id"}
        if ver == 2:
            expected |= V2
        assert set(obj) == expected, (etype, set(obj) ^ expected)
        versions[etype, ver] += 1
    assert {t for t, v in versions if v == 2} == {
        "landing",
        "app_install",
        "user_signup",
        "first_ride",
        "first_order",
        "purchase",
    }
    assert all(versions[t, 1] > 0 for t in FIELDS)


def test_schema_v2_ramps_up_and_carries_new_fields(valid: list) -> None:
    share: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, _, _, obj in valid:
        if obj["event_type"] == "landing":
            day = obj["event_ts"][:10]
            share[day][obj["schema_version"] == 2] += 1
            if obj["schema_version"] == 2:
                assert isinstance(obj["consent"], dict) and set(obj["consent"]) == {"analytics", "marketing"}
    days = sorted(share)
    first, last = share[days[0]], share[days[11]]
    assert first[1] / sum(first) < 0.1 < 0.35 < last[1] / sum(last) < 0.65


def test_client_retries_duplicate_event_ids_at_the_configured_rate(valid: list) -> None:
    seen: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, _, _, obj in valid:
        seen[obj["event_id"]].append((key, obj["received_at"]))
    dups = {e: v for e, v in seen.items() if len(v) > 1}
    rate = len(dups) / len(seen)
    assert 0.5 * DIRT.duplicate < rate < 1.6 * DIRT.duplicate
    assert all(len({rx for _, rx in v}) == len(v) for v in dups.values())  # different received_at
    assert any(len({k for k, _ in v}) > 1 for v in dups.values())  # some copies in another file


def test_late_events_arrive_in_new_files_inside_old_hour_folders(valid: list) -> None:
    late = out_of_order = 0
    n = 0
    for _, _, arrival, obj in valid:
        if obj["event_type"] == "skan_postback":
            continue
        n += 1
        lag = _ts(obj["received_at"]) - _ts(obj["event_ts"])
        late += lag > timedelta(hours=2)
        out_of_order += timedelta(minutes=1) < lag <= timedelta(minutes=30)
    assert 0.5 * DIRT.late < late / n < 1.6 * DIRT.late
    assert 0.5 * DIRT.out_of_order < out_of_order / n < 1.6 * DIRT.out_of_order


def test_out_of_order_lines_inside_files(events_lines: list) -> None:
    unsorted_files = set()
    last: dict[str, str] = {}
    for key, _, _, _, obj in events_lines:
        if _is_valid(obj) and obj["event_type"] != "skan_postback":
            if key in last and obj["event_ts"] < last[key]:
                unsorted_files.add(key)
            last[key] = obj["event_ts"]
    assert len(unsorted_files) > 10


def test_malformed_lines_of_every_kind(events_lines: list) -> None:
    kinds: Counter[str] = Counter()
    for _, _, _, raw, obj in events_lines:
        if obj is None:
            kinds["truncated"] += 1
        elif "event_id" not in obj:
            kinds["missing_field"] += 1
        elif obj.get("event_type") not in FIELDS:
            kinds["unknown_type"] += 1
        elif not isinstance(obj["event_ts"], str):
            kinds["wrong_type"] += 1
    assert set(kinds) == {"truncated", "missing_field", "unknown_type", "wrong_type"}
    rate = sum(kinds.values()) / len(events_lines)
    assert 0.5 * DIRT.malformed < rate < 1.6 * DIRT.malformed


def test_utms_click_ids_and_their_gaps(valid: list) -> None:
    by_os: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    no_source_with_click = 0
    clicks: dict[str, set[str]] = defaultdict(set)
    sources = {s for v in UTM_SOURCES.values() for s in v}
    for _, _, _, obj in valid:
        if obj["event_type"] != "landing":
            continue
        os_ = (
            "ios"
            if "iPhone" in obj["user_agent"]
            else "android"
            if "Android" in obj["user_agent"]
            else "desktop"
        )
        click = obj["gclid"] or obj["fbclid"] or obj["ttclid"]
        by_os[os_][click is not None] += 1
        if obj["utm_source"] is not None:
            assert obj["utm_source"] in sources and obj["utm_campaign"].isdigit()
        elif click:
            no_source_with_click += 1
            assert obj["utm_campaign"] is not None
        if click:
            clicks[click].add(obj["event_id"])
    ios, android = by_os["ios"], by_os["android"]
    # iOS link tracking protection strips click ids and UTMs from a share of iOS clicks
    assert ios[1] / sum(ios) < 0.85 * android[1] / sum(android)
    assert no_source_with_click > 0
    doubles = sum(len(v) > 1 for v in clicks.values())
    assert 0.5 * DIRT.double_click < doubles / len(clicks) < 1.6 * DIRT.double_click


def test_click_spam_patterns_are_present(valid: list) -> None:
    installs = {
        o["device_id"]: _ts(o["event_ts"]) for _, _, _, o in valid if o["event_type"] == "app_install"
    }
    clicks: dict[str, list[datetime]] = defaultdict(list)
    for _, _, _, o in valid:
        if o["event_type"] == "mmp_touch" and o["touch_type"] == "click":
            clicks[o["device_id"]].append(_ts(o["touch_ts"]))
    just_before = sum(
        any(timedelta(0) <= installs[d] - t < timedelta(seconds=10) for t in ts)
        for d, ts in clicks.items()
        if d in installs
    )
    bursts = 0
    for ts in clicks.values():
        ts = sorted(set(ts))
        bursts += any(ts[i + 5] - ts[i] < timedelta(seconds=60) for i in range(len(ts) - 5))
    assert just_before > 10 and bursts > 10


def test_signup_pii_shapes(valid: list) -> None:
    signups = [o for _, _, _, o in valid if o["event_type"] == "user_signup"]
    local = [o for o in signups if not o["phone"].startswith("+")]
    assert 0.1 < len(local) / len(signups) < 0.3
    assert {o["country"] for o in local} == {"US", "GB", "DE", "FR"}
    assert all("@" in o["email"] for o in signups)
    assert any(o["is_test_account"] for o in signups)
    currencies = {(o["event_type"], o["currency"]) for _, _, _, o in valid if "currency" in o}
    assert {c for _, c in currencies} == {"USD", "EUR", "GBP"}


def test_manifest_matches_files(events_world: Path) -> None:
    manifest = pl.read_parquet(events_world / "landing_manifest.parquet")
    files = {str(p.relative_to(events_world / "landing")) for p in (events_world / "landing").rglob("*.gz")}
    assert set(manifest["key"]) == files
    assert manifest["key"].is_unique().all()
    sizes = {k: (events_world / "landing" / k).stat().st_size for k in manifest["key"].head(50)}
    assert all(manifest.filter(pl.col("key") == k)["size_bytes"].item() == s for k, s in sizes.items())
