"""Hand-written dirty landing files with known outcomes (every kind of dirt, a few lines each).

Each line is written with the outcome the ingestion must give it, so tests compare the
warehouse to this list rather than to hard-coded totals.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

PLAINTEXT_EMAILS = ["Alice.Smith@Example.com ", "bob_jones@example.org", "carl@example.de"]
PLAINTEXT_PHONES = ["+1 415 555 0101", "07700 900123", "0151 23456789", "06 12 34 56 78", "612 345 678"]


@dataclass(frozen=True)
class Line:
    """One landing line and what must happen to it."""

    text: str
    outcome: str  # loaded | duplicate | dead:<reason prefix> | erased | replaced(loaded, wins over earlier)


def ev(event_id: str, event_type: str, ts: str, rx: str, v: int = 1, **fields: object) -> str:
    """One event as a JSON line."""
    return json.dumps(
        {
            "event_id": event_id,
            "event_type": event_type,
            "event_ts": ts,
            "received_at": rx,
            "schema_version": v,
            **fields,
        }
    )


def files() -> dict[str, list[Line]]:
    """Landing key -> lines; two "arrival waves": wave 1 files and wave 2 (late) files."""
    d = "2026-01-05"
    return {
        f"events/dt={d}/hour=10/part-20260105T1005Z.jsonl.gz": [
            Line(
                ev(
                    "e1",
                    "landing",
                    f"{d}T10:00:01.000Z",
                    f"{d}T10:00:02.000Z",
                    anonymous_id="a1",
                    utm_source="google",
                    utm_campaign="111",
                    gclid="g1",
                    user_agent="Mozilla/5.0",
                ),
                "loaded",
            ),
            Line(
                ev(
                    "e2",
                    "user_signup",
                    f"{d}T10:01:00.000Z",
                    f"{d}T10:01:01.000Z",
                    user_id="u1",
                    anonymous_id="a1",
                    device_platform="web",
                    country="US",
                    email=PLAINTEXT_EMAILS[0],
                    phone=PLAINTEXT_PHONES[0],
                    is_test_account=False,
                ),
                "loaded",
            ),
            # client retry of e2 in the same file, later received_at: dropped
            Line(
                ev(
                    "e2",
                    "user_signup",
                    f"{d}T10:01:00.000Z",
                    f"{d}T10:01:09.000Z",
                    user_id="u1",
                    anonymous_id="a1",
                    device_platform="web",
                    country="US",
                    email=PLAINTEXT_EMAILS[0],
                    phone=PLAINTEXT_PHONES[0],
                    is_test_account=False,
                ),
                "duplicate",
            ),
            Line(
                ev(
                    "e3",
                    "user_signup",
                    f"{d}T10:02:00.000Z",
                    f"{d}T10:02:01.000Z",
                    user_id="u2",
                    device_id="d2",
                    device_platform="android",
                    country="GB",
                    email=PLAINTEXT_EMAILS[1],
                    phone=PLAINTEXT_PHONES[1],
                    is_test_account=False,
                ),
                "loaded",
            ),
            Line(
                '{"event_id":"e4","event_type":"user_signup","email":"'
                + PLAINTEXT_EMAILS[2].strip()
                + '","phone":"0151 2345',
                "dead:malformed_json",
            ),
            Line(
                ev(
                    "e5",
                    "first_ride",
                    1767607200123,
                    f"{d}T10:05:00.000Z",
                    user_id="u1",
                    revenue=12.5,
                    currency="USD",
                ),
                "dead:wrong_type:event_ts",
            ),
            Line(
                json.dumps(
                    {
                        "event_type": "landing",
                        "event_ts": f"{d}T10:03:00.000Z",
                        "received_at": f"{d}T10:03:00.100Z",
                        "schema_version": 1,
                        "anonymous_id": "a9",
                    }
                ),
                "dead:missing_field:event_id",
            ),
            Line(
                ev("e6", "app_heartbeat", f"{d}T10:03:00.000Z", f"{d}T10:03:01.000Z"),
                "dead:unknown_event_type",
            ),
            Line(
                ev(
                    "e7",
                    "first_ride",
                    f"{d}T10:04:00.000Z",
                    f"{d}T10:04:01.000Z",
                    user_id="u1",
                    revenue="lots",
                    currency="USD",
                ),
                "dead:wrong_type:revenue",
            ),
            Line("", "dead:empty_line"),
            Line("[1, 2]", "dead:not_an_object"),
            Line(
                ev(
                    "e8",
                    "user_signup",
                    f"{d}T10:06:00.000Z",
                    f"{d}T10:06:01.000Z",
                    user_id="u3",
                    device_id="d3",
                    device_platform="ios",
                    country="DE",
                    phone=12345,
                    email="x@y.de",
                ),
                "dead:wrong_type:phone",
            ),
        ],
        f"events/dt={d}/hour=10/part-20260105T1010Z.jsonl.gz": [
            # schema v2 with extra fields, side by side with v1
            Line(
                ev(
                    "e10",
                    "user_signup",
                    f"{d}T10:07:00.000Z",
                    f"{d}T10:07:01.000Z",
                    v=2,
                    user_id="u4",
                    device_id="d4",
                    device_platform="ios",
                    country="DE",
                    phone=PLAINTEXT_PHONES[2],
                    email="  DORA@Example.COM",
                    is_test_account=False,
                    app_version="5.13.0",
                    consent={"analytics": True, "marketing": False},
                ),
                "loaded",
            ),
            Line(
                ev(
                    "e11",
                    "user_signup",
                    f"{d}T10:08:00.000Z",
                    f"{d}T10:08:01.000Z",
                    v=2,
                    user_id="u5",
                    anonymous_id="a5",
                    device_platform="web",
                    country="FR",
                    phone=PLAINTEXT_PHONES[3],
                    email="eve@example.fr",
                    is_test_account=False,
                    app_version="5.14.0",
                ),
                "loaded",
            ),
            Line(
                ev(
                    "e12",
                    "user_signup",
                    f"{d}T10:08:30.000Z",
                    f"{d}T10:08:31.000Z",
                    user_id="u6",
                    anonymous_id="a6",
                    device_platform="web",
                    country="ES",
                    phone=PLAINTEXT_PHONES[4],
                    email="fran@example.es",
                    is_test_account=False,
                ),
                "loaded",
            ),
            Line(
                ev(
                    "e13",
                    "app_install",
                    f"{d}T10:09:00.000Z",
                    f"{d}T10:09:01.000Z",
                    device_id="d4",
                    device_platform="ios",
                ),
                "loaded",
            ),
            Line(
                ev(
                    "e14",
                    "mmp_touch",
                    f"{d}T10:09:10.000Z",
                    f"{d}T10:09:11.000Z",
                    device_id="d4",
                    platform="meta_ads",
                    campaign_id="222",
                    ad_group_id="333",
                    ad_id="444",
                    touch_type="click",
                    touch_ts=f"{d}T10:09:05.000Z",
                ),
                "loaded",
            ),
            Line(
                ev(
                    "e15",
                    "skan_postback",
                    f"{d}T10:09:20.000Z",
                    f"{d}T10:09:20.000Z",
                    postback_id="p1",
                    ad_network_id="net.meta",
                    platform="meta_ads",
                    source_identifier="2201",
                    conversion_value=None,
                    coarse_conversion_value="low",
                    postback_sequence=0,
                    did_win=True,
                ),
                "loaded",
            ),
            Line(
                ev(
                    "e16",
                    "user_merged",
                    f"{d}T10:09:30.000Z",
                    f"{d}T10:09:31.000Z",
                    from_user_id="u2",
                    to_user_id="u1",
                ),
                "loaded",
            ),
            Line(
                ev(
                    "e17",
                    "first_order",
                    f"{d}T10:09:40.000Z",
                    f"{d}T10:09:41.000Z",
                    user_id="u1",
                    revenue=20,
                    currency="EUR",
                ),
                "loaded",
            ),
            # copy of e1 from another file, received later: dropped
            Line(
                ev(
                    "e1",
                    "landing",
                    f"{d}T10:00:01.000Z",
                    f"{d}T10:00:05.000Z",
                    anonymous_id="a1",
                    utm_source="google",
                    utm_campaign="111",
                    gclid="g1",
                ),
                "duplicate",
            ),
            # the erased user's sign-up: never loaded
            Line(
                ev(
                    "e18",
                    "user_signup",
                    f"{d}T10:09:50.000Z",
                    f"{d}T10:09:51.000Z",
                    user_id="u_erased",
                    anonymous_id="a_erased",
                    device_platform="web",
                    country="US",
                    email="gone@example.com",
                    phone="+1 415 555 0199",
                    is_test_account=False,
                ),
                "erased",
            ),
            Line(
                ev(
                    "e19",
                    "first_ride",
                    f"{d}T10:09:55.000Z",
                    f"{d}T10:09:56.000Z",
                    user_id="u_erased",
                    revenue=5.0,
                    currency="USD",
                ),
                "erased",
            ),
        ],
    }


def late_files() -> dict[str, list[Line]]:
    """Files that arrive later, inside an *old* hour folder (wave 2)."""
    d = "2026-01-05"
    return {
        f"events/dt={d}/hour=10/part-20260107T0900Z.jsonl.gz": [
            Line(
                ev(
                    "e20",
                    "first_ride",
                    f"{d}T10:30:00.000Z",
                    f"{d}T10:30:00.500Z",
                    user_id="u4",
                    revenue=9.0,
                    currency="EUR",
                ),
                "loaded",
            ),
            # a copy of e3 received *earlier* than the loaded one: it wins and replaces it
            Line(
                ev(
                    "e3",
                    "user_signup",
                    f"{d}T10:02:00.000Z",
                    f"{d}T10:02:00.500Z",
                    user_id="u2",
                    device_id="d2",
                    device_platform="android",
                    country="GB",
                    email=PLAINTEXT_EMAILS[1],
                    phone=PLAINTEXT_PHONES[1],
                    is_test_account=False,
                ),
                "replaced",
            ),
            # a copy of e10 received later than the loaded one: dropped
            Line(
                ev(
                    "e10",
                    "user_signup",
                    f"{d}T10:07:00.000Z",
                    f"{d}T10:07:09.000Z",
                    v=2,
                    user_id="u4",
                    device_id="d4",
                    device_platform="ios",
                    country="DE",
                    phone=PLAINTEXT_PHONES[2],
                    email="dora@example.com",
                    is_test_account=False,
                    app_version="5.13.0",
                ),
                "duplicate",
            ),
            # merge chain u1 -> u7 arrives later: u2 -> u1 must now resolve to u7
            Line(
                ev(
                    "e21",
                    "user_merged",
                    f"{d}T10:40:00.000Z",
                    f"{d}T10:40:01.000Z",
                    from_user_id="u1",
                    to_user_id="u7",
                ),
                "loaded",
            ),
            Line(
                ev(
                    "e22",
                    "landing",
                    f"{d}T10:41:00.000Z",
                    f"{d}T10:41:01.000Z",
                    v=2,
                    anonymous_id="a22",
                    utm_source="tiktok",
                    ttclid="t22",
                    app_version=5140,
                    new_flag=True,
                ),
                "loaded",
            ),
        ]
    }


def write(root: Path, spec: dict[str, list[Line]], mtime: float) -> None:
    """Write the files of ``spec`` under ``root`` (gzip, mtime = arrival)."""
    for key, lines in spec.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(x.text for x in lines) + "\n").encode(), mtime=0))
        os.utime(path, (mtime, mtime))


def expected_counts(spec: dict[str, list[Line]]) -> dict[str, dict[str, int]]:
    """Per file: lines_read, loaded, duplicates_dropped, dead_letters, erased_dropped, replaced_earlier."""
    out = {}
    for key, lines in spec.items():
        o = [x.outcome for x in lines]
        out[key] = {
            "lines_read": len(o),
            "loaded": sum(x in ("loaded", "replaced") for x in o),
            "duplicates_dropped": sum(x == "duplicate" for x in o),
            "dead_letters": sum(x.startswith("dead:") for x in o),
            "erased_dropped": sum(x == "erased" for x in o),
            "replaced_earlier": sum(x == "replaced" for x in o),
        }
    return out
