"""Truth files agree with the landing files and the entities they claim to describe."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from simulator.entities import build_entities


def _valid(events_lines: list, etype: str) -> list[dict]:
    return [
        o
        for *_, o in events_lines
        if isinstance(o, dict)
        and o.get("event_type") == etype
        and isinstance(o.get("event_ts"), str)
        and "event_id" in o
    ]


def _entities(world: Path):
    meta = json.loads((world / "world.json").read_text())
    return build_entities(meta["seed"], meta["scale"])


def _truth(world: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(world / "truth" / f"{name}.parquet")


def test_every_truth_signup_has_its_user_signup_event(events_world: Path, events_lines: list) -> None:
    signups = _truth(events_world, "signups")
    events = {o["event_id"]: o for o in _valid(events_lines, "user_signup")}
    assert signups["user_id"].is_unique().all()
    for event_id, first_user in signups.select("signup_event_id", "first_user_id").iter_rows():
        assert events[event_id]["user_id"] == first_user
    merged_away = {o["from_user_id"] for o in _valid(events_lines, "user_merged")}
    all_users = {o["user_id"] for o in events.values()}
    # one truth sign-up per canonical user: every identity, minus those merged into another
    assert set(signups["user_id"]) == all_users - merged_away
    assert signups["is_test"].sum() > 0


def test_merge_chains_resolve_to_the_last_user(events_world: Path, events_lines: list) -> None:
    edges = {o["from_user_id"]: o["to_user_id"] for o in _valid(events_lines, "user_merged")}
    chains = [a for a, b in edges.items() if b in edges]
    assert chains, "expected at least one A -> B -> C chain"
    ident = dict(_truth(events_world, "user_identities").iter_rows())
    for a in chains:
        assert ident[a] == edges[edges[a]]


def test_attribution_truth_uses_real_campaigns_and_visible_touches(
    events_world: Path, events_lines: list
) -> None:
    ents = _entities(events_world)
    campaigns = set(ents.campaigns.select("platform", "campaign_id").iter_rows())
    attr = _truth(events_world, "attribution_last_touch")
    signups = _truth(events_world, "signups")
    assert set(attr["user_id"]) == set(signups["user_id"])
    hit = attr.filter(pl.col("campaign_id").is_not_null())
    assert set(hit.select("platform", "campaign_id").iter_rows()) <= campaigns
    assert (
        attr.filter(pl.col("reason") != "attributed")["campaign_id"].null_count() == attr.height - hit.height
    )
    assert set(attr["reason"]) == {"attributed", "organic", "skan_only", "no_touch_in_window"}
    touches = {o["event_id"]: o for t in ("landing", "mmp_touch") for o in _valid(events_lines, t)}
    signup_ts = dict(signups.select("user_id", "signup_ts").iter_rows())
    for user, platform, campaign, ttype, tts, event_id in hit.select(
        "user_id", "platform", "campaign_id", "touch_type", "touch_ts", "touch_event_id"
    ).iter_rows():
        ev = touches[event_id]
        assert (ev.get("campaign_id") or ev.get("utm_campaign")) == campaign
        window = timedelta(days=7) if ttype == "click" else timedelta(days=1)
        assert timedelta(0) < signup_ts[user] - tts <= window


def test_attribution_truth_is_last_touch_with_click_over_view_and_no_spam(events_world: Path) -> None:
    paths = _truth(events_world, "touch_paths")
    attr = _truth(events_world, "attribution_last_touch").filter(pl.col("reason") == "attributed")
    signups = _truth(events_world, "signups").select("user_id", "signup_ts")
    assert paths.filter(pl.col("is_spam") & pl.col("is_last_touch")).height == 0
    assert paths.filter(pl.col("is_spam")).height > 0 and paths.filter(~pl.col("visible")).height > 0
    eligible = (
        paths.join(signups, on="user_id")
        .with_columns(age=pl.col("signup_ts") - pl.col("touch_ts"))
        .filter(pl.col("visible") & ~pl.col("is_spam") & (pl.col("age") > timedelta(0)))
        .filter(
            pl.col("age")
            <= pl.when(pl.col("touch_type") == "click").then(timedelta(days=7)).otherwise(timedelta(days=1))
        )
    )
    best = (
        eligible.sort(
            ["user_id", "touch_type", "touch_ts", "event_id"], descending=[False, False, True, False]
        )
        .unique("user_id", keep="first")
        .select("user_id", "campaign_id", "touch_type")
    )
    joined = attr.join(best, on="user_id", how="full", coalesce=True)
    assert joined.height == attr.height == best.height
    assert (joined["campaign_id"] == joined["campaign_id_right"]).all()
    views = attr.filter(pl.col("touch_type") == "view")
    assert views.height > 0
    # a view wins only when the user had no eligible click
    clicked = set(eligible.filter(pl.col("touch_type") == "click")["user_id"])
    assert not (set(views["user_id"]) & clicked)


def test_skan_truth_matches_the_postbacks(events_world: Path, events_lines: list) -> None:
    skan = _truth(events_world, "skan_daily")
    ents = _entities(events_world)
    by_si = {(p, c[-4:]): c for p, c in ents.campaigns.select("platform", "campaign_id").iter_rows()}
    postbacks = _valid(events_lines, "skan_postback")
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    seen = set()
    for o in postbacks:
        assert o["conversion_value"] is None or 0 <= o["conversion_value"] <= 63
        assert o["postback_sequence"] in (0, 1, 2)
        if o["postback_sequence"] != 0 or not o["did_win"] or o["postback_id"] in seen:
            continue
        seen.add(o["postback_id"])  # client retries of the same postback count once
        c = counts[o["platform"], by_si[o["platform"], o["source_identifier"]]]
        c[0] += 1
        if o["conversion_value"] is None:
            c[2] += 1
        else:
            c[1] += o["conversion_value"] & 1
    truth = skan.group_by("platform", "campaign_id").agg(pl.col("installs", "signups").sum())
    assert truth.height == len(counts) > 3
    nulls = 0
    for platform, campaign, installs, signups in truth.iter_rows():
        n, bit0, n_null = counts[platform, campaign]
        assert installs == n
        assert bit0 <= signups <= bit0 + n_null
        nulls += n_null
    assert 0 < nulls < sum(c[0] for c in counts.values())
    assert skan["install_date"].min() >= datetime(2026, 10, 21).date()


def test_pii_truth_holds_every_signup_identity(events_world: Path, events_lines: list) -> None:
    pii = {u: (e, p) for u, e, p in _truth(events_world, "pii").iter_rows()}
    for o in _valid(events_lines, "user_signup"):
        assert pii[o["user_id"]] == (o["email"], o["phone"])


@pytest.mark.parametrize("name", ["signups", "attribution_last_touch", "skan_daily", "pii", "touch_paths"])
def test_truth_files_have_contract_columns(events_world: Path, name: str) -> None:
    required = {
        "signups": {"user_id", "signup_ts", "device_platform", "is_test", "country"},
        "attribution_last_touch": {"user_id", "platform", "campaign_id"},
        "skan_daily": {"install_date", "platform", "campaign_id", "installs", "signups"},
        "pii": {"user_id", "email", "phone"},
        "touch_paths": {"user_id", "touch_ts", "touch_type", "platform", "campaign_id", "is_spam", "visible"},
    }[name]
    assert required <= set(_truth(events_world, name).columns)
