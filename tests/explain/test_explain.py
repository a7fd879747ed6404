"""``roi explain`` on a world built by the real pipeline: every level sums, nothing personal leaks,
the closed number plus adjustments is the current one, bad input is one line and exit 2."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from flows.explain import Cell, ExplainInconsistent
from flows.explain import explain as build_tree
from flows.published import published
from roi.cli import main
from tests.explain.conftest import World

# The slower tier (make slower, run by .ci/run): a world of its own, kept out of make test's budget.
pytestmark = pytest.mark.slower

METRICS = ("spend", "signups", "revenue", "cac", "roas")
TOL = Decimal("0.000001")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``roi explain ARGS`` in-process: exit code, stdout, stderr."""
    capsys.readouterr()
    code = main(["explain", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def explain_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, *args, "--json")
    assert code == 0, err
    parsed: dict[str, Any] = json.loads(out, parse_float=Decimal)
    return parsed


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node["children"]:
        yield from walk(child)


def num(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def assert_sums(node: dict[str, Any], exact: bool) -> None:
    """Every sum node equals the sum of its children (exactly for spend: decimals to the micro-unit);
    every ratio node equals numerator / denominator."""
    for n in walk(node):
        if n["combine"] == "ratio":
            top, bottom = (num(c["value"]) for c in n["children"])
            if bottom == 0:
                assert n["value"] is None, n["label"]
            else:
                assert abs(num(n["value"]) - top / bottom) <= TOL, n["label"]
        elif n["children"]:
            expected = num(n.get("children_total", n["value"]))
            got = sum((num(c["value"]) for c in n["children"]), Decimal(0))
            if exact:
                assert got == expected, (n["label"], got, expected)
            else:
                assert abs(got - expected) <= TOL * max(1, len(n["children"])), (n["label"], got, expected)


def mart_cells(world: World) -> list[tuple[date, str, str]]:
    return [
        (d, p, c)
        for d, p, c in world.rows(
            "select report_date, platform, campaign_id from analytics.mart_marketing_roi_daily "
            "where spend_usd > 0 or signups + modeled_signups > 0 order by all"
        )
    ]


def mart_value(world: World, day: date, platform: str, campaign: str | None, metric: str) -> Decimal:
    column = {"spend": "spend_usd", "revenue": "revenue_usd", "signups": "signups + modeled_signups"}[metric]
    extra = " and campaign_id = ?" if campaign is not None else ""
    (value,) = world.rows(
        f"select sum({column}) from analytics.mart_marketing_roi_daily where report_date = ? and platform = ?{extra}",
        [day, platform, *([campaign] if campaign is not None else [])],
    )[0]
    return num(value)


def test_random_mart_cells_sum_at_every_level(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Seeded random cells (one campaign or the whole platform), every metric: the JSON tree sums
    at every level, its root is the mart's number, and it reaches the raw and landing rows."""
    rng = random.Random(15)
    cells = rng.sample(mart_cells(world), 8)
    for day, platform, campaign in cells:
        for whole_platform in (False, True):
            camp = None if whole_platform else campaign
            args = [
                "--date",
                day.isoformat(),
                "--platform",
                platform,
                *(["--campaign", camp] if camp else []),
            ]
            for metric in METRICS:
                tree = explain_json(capsys, *args, "--metric", metric)["tree"]
                assert_sums(tree, exact=metric == "spend")
                if metric in ("spend", "signups", "revenue"):
                    assert abs(num(tree["value"]) - mart_value(world, day, platform, camp, metric)) <= TOL
                    assert_reaches_the_sources(tree, metric)
                else:
                    assert [c["unit"] for c in tree["children"]] == (
                        ["USD", "sign-ups"] if metric == "cac" else ["USD", "USD"]
                    )
                assert not any(n["kind"] in ("unbuilt", "others") for n in walk(tree))


def assert_reaches_the_sources(tree: dict[str, Any], metric: str) -> None:
    """Leaves name where the number came from: raw rows with load ids and pull times (spend), the
    attribution run and the landing files of the sign-up and revenue events (sign-ups, revenue)."""
    leaves = [n for n in walk(tree) if not n["children"] and n["value"] not in (None, 0)]
    for leaf in leaves:
        if metric == "spend":
            assert leaf["kind"] == "raw_row" and leaf["attrs"]["load_id"] and leaf["attrs"]["pulled_at"]
        else:
            d = leaf["details"]
            assert d["attribution"]["run_id"] and d["attribution"]["version"].startswith("last_touch_v1-")
            assert d["signup"]["landing_file"].startswith("events/dt=") and d["signup"]["event_id"]
            assert d["why"]["rule"]
            if d["attribution"]["method"] == "deterministic":
                assert d["touch"]["landing_file"] and d["touch"]["touch_type"] in ("click", "view")
            if metric == "revenue":
                assert d["revenue_event"]["landing_file"].startswith("events/dt=")
    if metric == "spend" and num(tree["value"]) > 0:
        facts = [n for n in walk(tree) if n["kind"] == "fact_ad_spend"]
        assert facts and all(f["attrs"]["fx_rate"] and f["attrs"]["fx_rate_date"] for f in facts)


def test_a_winning_touch_says_why(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """A deterministic sign-up names its touch, the window it fell in and the counts behind the rule."""
    (day, platform, campaign) = world.rows(
        "select s.signup_date, a.platform, a.campaign_id from analytics.fact_attribution a "
        "join analytics.fact_signups s using (signup_id) where a.method = 'deterministic' order by all limit 1"
    )[0]
    tree = explain_json(
        capsys,
        "--date",
        day.isoformat(),
        "--platform",
        platform,
        "--campaign",
        campaign,
        "--metric",
        "signups",
    )["tree"]
    why = next(
        n["details"]["why"]
        for n in walk(tree)
        if n.get("details", {}).get("attribution", {}).get("method") == "deterministic"
    )
    assert re.match(
        r"last_touch: (click|view) .* before the sign-up, within the (7d click|1d view) window", why["rule"]
    )
    assert why["eligible_clicks"] + why["eligible_views"] >= 1


def leaks(text: str, emails: list[str], phones: list[str]) -> set[str]:
    """The plaintext e-mails (whole or their local part) and phones (as written or E.164) in ``text``.

    Token sets rather than a substring scan per identifier: thousands of identifiers against
    megabytes of output stay fast."""
    low = text.lower()
    tokens = set(re.findall(r"[\w.+@-]+", low))
    tokens |= {part for t in tokens for part in t.split("@")}
    tokens |= {re.sub(r"\s", "", m) for m in re.findall(r"\+\d[\d ]{6,}\d", low)}
    found = {e for e in emails if e.lower() in tokens or e.lower().split("@")[0] in tokens}
    return found | {p for p in phones if "+" + re.sub(r"\D", "", p) in tokens}


def test_no_plaintext_email_or_phone(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Sign-up and revenue trees (JSON and text) hold ids and hashes only, never the truth's plaintext."""
    pii = pl.read_parquet(world.root / "world" / "truth" / "pii.parquet")
    emails, phones = pii["email"].drop_nulls().to_list(), pii["phone"].drop_nulls().to_list()
    outputs = []
    for platform in ("google_ads", "meta_ads", "unattributed"):
        for metric in ("signups", "revenue"):
            args = ["--date", "2026-10-25", "--platform", platform, "--metric", metric]
            outputs.append(run_cli(capsys, *args, "--json")[1])
            if platform == "google_ads":  # the text tree shows the same details
                outputs.append(run_cli(capsys, *args, "--limit", "0")[1])
    text = "\n".join(outputs)
    assert len(text) > 100_000  # the trees are there (every sign-up of the day, with details)
    assert not leaks(text, emails, phones)
    # the detector finds a planted e-mail, local part and phone (so the assertion above can fail)
    planted = f'{text} "{emails[0].upper()}" {emails[1].split("@")[0]} ({phones[2]})'
    assert leaks(planted, emails, phones) == {emails[0], emails[1], phones[2]}


# The close tables as the close writes them (CONTRACTS.md columns; the close creates them on first use).
CLOSED_COLUMNS = """
    close_id varchar not null, close_version integer not null, closed_at timestamp not null,
    report_date date not null, platform varchar not null, campaign_id varchar not null, campaign_name varchar,
    attribution_config varchar, attribution_version varchar not null, attribution_config_hash varchar,
    spend_definition_version varchar not null, signup_definition_version varchar not null,
    spend_usd decimal(38, 6), spend_local decimal(38, 6), currency varchar, impressions bigint, clicks bigint,
    platform_conversions decimal(18, 4), signups double, modeled_signups double, first_conversions double,
    revenue_usd decimal(38, 6), cac_usd decimal(38, 6), roas double, roi double"""
ADJUSTMENT_COLUMNS = """
    close_id varchar not null, report_date date not null, adjusted_on date not null, platform varchar not null,
    campaign_id varchar not null, cause varchar not null, delta_spend_usd decimal(38, 6) not null,
    delta_spend_local decimal(38, 6) not null, currency varchar, delta_signups double not null,
    delta_modeled_signups double not null, delta_revenue_usd decimal(38, 6) not null, recorded_at timestamp"""


@pytest.fixture
def closed_tables(world: World) -> Iterator[World]:
    """Synthetic close tables for the test (this world never runs a close), dropped afterwards."""
    con = world.warehouse.connection()
    con.execute(f"create or replace table analytics.mart_marketing_roi_closed ({CLOSED_COLUMNS})")
    con.execute(f"create or replace table analytics.mart_marketing_roi_adjustments ({ADJUSTMENT_COLUMNS})")
    yield world
    con.execute("drop table analytics.mart_marketing_roi_closed")
    con.execute("drop table analytics.mart_marketing_roi_adjustments")


def _close(world: World, day: date, platform: str, close_id: str, version: int, spend_shift: str) -> None:
    """A closed copy of the day's mart rows of the platform, its spend shifted by ``spend_shift``."""
    pub = published()
    world.warehouse.connection().execute(
        "insert into analytics.mart_marketing_roi_closed by name select report_date, platform, campaign_id, "
        "campaign_name, attribution_version, spend_definition_version, signup_definition_version, "
        "spend_usd - ? as spend_usd, impressions, clicks, platform_conversions, signups - 1 as signups, "
        "modeled_signups, first_conversions, revenue_usd, cac_usd, roas, roi, ? as close_id, ? as close_version, "
        "timestamp '2026-10-27 05:00' as closed_at, ? as attribution_config, ? as attribution_config_hash "
        "from analytics.mart_marketing_roi_daily where report_date = ? and platform = ?",
        [
            Decimal(spend_shift),
            close_id,
            version,
            pub.attribution_config,
            pub.attribution_config_hash,
            day,
            platform,
        ],
    )


def _adjust(
    world: World, close_id: str, day: date, campaign: str, cause: str, spend: str, signups: float
) -> None:
    world.warehouse.connection().execute(
        "insert into analytics.mart_marketing_roi_adjustments by name select ? as close_id, ? as report_date, "
        "date '2026-10-28' as adjusted_on, 'google_ads' as platform, ? as campaign_id, ? as cause, "
        "? as delta_spend_usd, 0 as delta_spend_local, 'USD' as currency, ? as delta_signups, "
        "0 as delta_modeled_signups, 0 as delta_revenue_usd, timestamp '2026-10-28 05:00' as recorded_at",
        [close_id, day, campaign, cause, Decimal(spend), signups],
    )


def test_closed_plus_adjustments_is_the_current_number(
    closed_tables: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """--closed: the latest close version's number plus each adjustment since sums to the current
    number; adjustments of an older close version do not count; what no adjustment explains yet
    shows as one 'unadjusted' node."""
    world = closed_tables
    day = date(2026, 10, 25)
    campaign = world.rows(
        "select campaign_id from analytics.mart_marketing_roi_daily where report_date = ? and platform = 'google_ads' "
        "and spend_usd > 0 and signups > 1 order by campaign_id limit 1",
        [day],
    )[0][0]
    _close(world, day, "google_ads", "close-v1", 1, "5.5")
    _close(world, day, "google_ads", "close-v2", 2, "2.25")
    _adjust(world, "close-v1", day, campaign, "ad_restatement", "5.5", 0)  # of version 1: ignored
    _adjust(world, "close-v2", day, campaign, "ad_restatement", "2.000001", 0)
    _adjust(world, "close-v2", day, campaign, "late_events", "0.249999", 1)
    args = ["--date", day.isoformat(), "--platform", "google_ads", "--campaign", campaign, "--closed"]
    out = explain_json(capsys, *args)
    closed = out["closed"]
    assert_sums(closed, exact=True)
    assert closed["value"] == out["tree"]["value"]
    kinds = [c["kind"] for c in closed["children"]]
    assert kinds == ["closed", "adjustment", "adjustment"]
    assert closed["children"][0]["attrs"]["close_version"] == 2
    assert num(closed["children"][0]["value"]) == num(out["tree"]["value"]) - Decimal("2.25")
    # sign-ups: closed one short, one late-events adjustment of +1 (the restatement moves none: not shown)
    signups = explain_json(capsys, *args, "--metric", "signups")["closed"]
    assert_sums(signups, exact=False)
    assert [(c["attrs"]["cause"], num(c["value"])) for c in signups["children"][1:]] == [
        ("late_events", Decimal(1))
    ]
    # cac: a ratio of the two reconciliations
    cac = explain_json(capsys, *args, "--metric", "cac")["closed"]
    assert cac["combine"] == "ratio" and [c["unit"] for c in cac["children"]] == ["USD", "sign-ups"]
    assert_sums(cac, exact=False)
    # a change no adjustment has written yet
    world.warehouse.connection().execute(
        "delete from analytics.mart_marketing_roi_adjustments where cause = 'late_events'"
    )
    gap = explain_json(capsys, *args)["closed"]
    assert_sums(gap, exact=True)
    assert gap["children"][-1]["kind"] == "unadjusted" and num(gap["children"][-1]["value"]) == Decimal(
        "0.249999"
    )
    # the whole platform: the closed rows of every campaign under the closed node
    platform = explain_json(capsys, *args[:4], "--closed")
    assert_sums(platform["closed"], exact=True)
    assert platform["closed"]["value"] == platform["tree"]["value"]
    assert len(platform["closed"]["children"][0]["children"]) == len(platform["tree"]["children"])
    # the text tree shows the same
    code, text, _ = run_cli(capsys, *args)
    assert code == 0 and "close version 2" in text and "ad_restatement" in text


def test_closed_on_a_day_not_closed_says_so_in_one_line(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--date", "2026-10-25", "--platform", "google_ads", "--closed"]
    code, out, err = run_cli(capsys, *args, "--limit", "1")
    assert code == 0 and not err
    assert (
        out.strip().splitlines()[-1]
        == "2026-10-25 is not closed: no close of that day in analytics.mart_marketing_roi_closed"
    )
    assert explain_json(capsys, *args)["closed"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--platform", "bing_ads"], "unknown platform 'bing_ads'"),
        (["--metric", "ctr"], "Invalid value for '--metric'"),
        (
            ["--campaign", "no-such-campaign"],
            "no mart row for 2026-10-25 google_ads campaign no-such-campaign",
        ),
        (["--date", "2026-12-01"], "no mart row for 2026-12-01 google_ads"),
        (["--date", "2026-13-01"], "--date '2026-13-01' is not a date"),
        (["--limit", "-1"], "Invalid value for '--limit'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    world: World, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    base = {"--date": "2026-10-25", "--platform": "google_ads"}
    for option, value in zip(args[::2], args[1::2], strict=True):
        base[option] = value
    code, out, err = run_cli(capsys, *[x for kv in base.items() for x in kv])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in out + err


def test_limit_folds_the_rest_into_others_and_keeps_the_sums(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--date", "2026-10-25", "--platform", "google_ads", "--metric", "cac", "--limit", "2"]
    tree = explain_json(capsys, *args)["tree"]
    others = [n for n in walk(tree) if n["kind"] == "others"]
    assert others and all(n["attrs"]["rows"] > 1 for n in others)
    assert all(len(n["children"]) <= 3 for n in walk(tree))
    assert_sums(tree, exact=False)
    code, text, _ = run_cli(capsys, *args)
    assert code == 0 and re.search(r"others \(\d+ rows\)", text)


def test_a_tree_that_does_not_add_up_is_refused(world: World) -> None:
    """The builder checks every level: a mart number or a fact row changed under it (inside a
    transaction that is rolled back) fails loudly instead of showing a tree that does not add up."""
    cell = Cell(date(2026, 10, 25), "tiktok_ads", None, published())
    one_fact = (
        "where spend_key = (select min(spend_key) from analytics.fact_ad_spend "
        "where spend_date = ? and platform = 'tiktok_ads')"
    )
    for change, params, message in (
        (
            "update analytics.mart_marketing_roi_daily set spend_usd = spend_usd + 1 "
            "where report_date = ? and platform = 'tiktok_ads'",
            [cell.day],
            "children sum to",
        ),
        (f"update analytics.fact_ad_spend set spend_usd = spend_usd + 1 {one_fact}", [cell.day], "fact says"),
    ):
        cur = world.warehouse.connection().cursor()
        try:
            cur.execute("begin transaction")
            cur.execute(change, params)
            with pytest.raises(ExplainInconsistent, match=message):
                build_tree(cur, cell, "spend")
        finally:
            cur.execute("rollback")
            cur.close()


def test_a_raw_pull_not_yet_built_shows_as_unbuilt(world: World) -> None:
    """Raw current rows that changed after the last build (a newer pull) show as one 'unbuilt' node
    under the fact row, so the levels still add up and the gap is visible."""
    cur = world.warehouse.connection().cursor()
    cell = Cell(date(2026, 10, 25), "meta_ads", None, published())
    try:
        cur.execute("begin transaction")
        cur.execute(
            "update raw_ads.meta_ads__ad_performance set spend = spend + 1 where _row_key = "
            "(select min(_row_key) from raw_ads.meta_ads__ad_performance where report_date = ? and report_hour = 12 "
            "and spend > 0)",
            [cell.day],
        )
        tree = build_tree(cur, cell, "spend")
    finally:
        cur.execute("rollback")
        cur.close()
    unbuilt = [n for n in _nodes(tree) if n.kind == "unbuilt"]
    assert len(unbuilt) == 1 and unbuilt[0].value == Decimal(-1)


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in node.children:
        yield from _nodes(child)


def test_only_the_published_versions_are_explained(world: World) -> None:
    """Mart and attribution rows of another attribution version (a manual `--config linear_v1` run,
    or any version string sorting after the published one) change no tree."""
    cell = Cell(date(2026, 10, 25), "google_ads", None, published())
    cur = world.warehouse.connection().cursor()
    try:
        before = {m: build_tree(cur, cell, m).to_json() for m in ("spend", "signups", "revenue")}
        cur.execute("begin transaction")
        cur.execute(
            "insert into analytics.mart_marketing_roi_daily select * replace ('zzz_v9-00000000-9.9.9' as "
            "attribution_version, spend_usd * 2 as spend_usd, signups + 5 as signups, md5(mart_key) as mart_key) "
            "from analytics.mart_marketing_roi_daily where report_date = ?",
            [cell.day],
        )
        cur.execute(
            "insert into analytics.fact_attribution select * replace ('zzz_v9-00000000-9.9.9' as "
            "attribution_version) from analytics.fact_attribution where signup_date = ?",
            [cell.day],
        )
        after = {m: build_tree(cur, cell, m).to_json() for m in ("spend", "signups", "revenue")}
    finally:
        cur.execute("rollback")
        cur.close()
    assert after == before


def test_skan_revenue_is_explained_where_the_mart_books_it(world: World) -> None:
    """Issue 15 item 9 moves SKAN-modeled sign-ups' revenue from their (hash-picked) campaign to the
    day's unattributed row. The tree follows the mart it explains, whichever way it was built: the
    built mart is explained, then (in a rolled-back transaction) the same mart with that revenue
    booked the other way; the campaign tree holds the SKAN sign-ups only where the mart books them
    on the campaign, the unattributed tree only where it books them there."""
    day, platform, campaign = world.rows(
        "select s.signup_date, a.platform, a.campaign_id from analytics.fact_attribution a "
        "join analytics.fact_signups s using (signup_id) where a.method = 'skan_modeled' "
        "and s.first_revenue_usd > 0 order by all limit 1"
    )[0]
    pub = published()
    cells = {
        "campaign": Cell(day, platform, campaign, pub),
        "platform": Cell(day, platform, None, pub),
        "unattributed": Cell(day, "unattributed", None, pub),
    }

    def skan_nodes(tree: Any) -> list[Any]:
        return [n for n in _nodes(tree) if n.kind == "credited_revenue" and "(skan_modeled)" in n.label]

    cur = world.warehouse.connection().cursor()
    try:
        built = {k: build_tree(cur, c, "revenue") for k, c in cells.items()}
        # +1: move the revenue from the campaigns to unattributed; -1: back (a mart built the new way)
        sign = 1 if built["campaign"].attrs["skan_revenue_booked_on"] == "campaign" else -1
        cur.execute("begin transaction")
        cur.execute(
            "create temp table skan as select a.platform, a.campaign_id, "
            "sum(a.credit * coalesce(s.first_revenue_usd, 0)) as revenue from analytics.fact_attribution a "
            "join analytics.fact_signups s using (signup_id) where a.method = 'skan_modeled' "
            "and s.signup_date = ? group by all",
            [day],
        )
        cur.execute(
            "update analytics.mart_marketing_roi_daily as m set revenue_usd = m.revenue_usd - ? * k.revenue "
            "from skan as k where m.report_date = ? and m.platform = k.platform and m.campaign_id = k.campaign_id",
            [sign, day],
        )
        cur.execute(
            "update analytics.mart_marketing_roi_daily set revenue_usd = revenue_usd + ? * (select sum(revenue) "
            "from skan) where report_date = ? and platform = 'unattributed'",
            [sign, day],
        )
        moved = {k: build_tree(cur, c, "revenue") for k, c in cells.items()}  # each checks its sums
        build_tree(cur, cells["campaign"], "roas")
    finally:
        cur.execute("rollback")
        cur.close()
    on_campaign, on_unattributed = (built, moved) if sign == 1 else (moved, built)
    assert {t.attrs["skan_revenue_booked_on"] for t in on_campaign.values()} == {"campaign"}
    assert {t.attrs["skan_revenue_booked_on"] for t in on_unattributed.values()} == {"unattributed"}
    assert skan_nodes(on_campaign["campaign"]) and not skan_nodes(on_campaign["unattributed"])
    assert not skan_nodes(on_unattributed["campaign"]) and not skan_nodes(on_unattributed["platform"])
    booked_here = skan_nodes(on_unattributed["unattributed"])
    assert booked_here and all("its revenue is booked here" in n.label for n in booked_here)
    assert float(on_unattributed["campaign"].value or 0) < float(on_campaign["campaign"].value or 0)
