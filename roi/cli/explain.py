"""``roi explain``: a published mart number as a tree down to fact, raw and landing rows.

People get a rich tree (the largest children of each node, the rest folded into one
``others`` node so the sums stay true); machines get ``--json`` with every node's value and
children. The tree itself is built and checked in :mod:`flows.explain`.
"""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from flows.explain import EXPLAIN_PLATFORMS, Cell, Node, check_sums, explain_closed, limit_tree
from flows.explain import explain as build_tree
from flows.published import published
from roi.cli.common import console, parse_date, warehouse_turn
from roi.core.errors import UserInputError

DEFAULT_LIMIT = 10


class Metric(enum.StrEnum):
    """The mart numbers ``roi explain`` takes apart."""

    spend = "spend"
    signups = "signups"
    revenue = "revenue"
    cac = "cac"
    roas = "roas"


def explain(
    date: Annotated[str, typer.Option("--date", help="The UTC report date, YYYY-MM-DD.")],
    platform: Annotated[str, typer.Option("--platform", help="google_ads, meta_ads, ..., or unattributed.")],
    campaign: Annotated[
        str | None,
        typer.Option("--campaign", help="One campaign id (default: every campaign of the platform)."),
    ] = None,
    metric: Annotated[Metric, typer.Option("--metric", help="The number to explain.")] = Metric.spend,
    closed: Annotated[
        bool, typer.Option("--closed", help="Also the closed number of the day and every adjustment since.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole tree as JSON.")] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            max=1_000_000,
            help=f"Children shown per node, the rest folded into 'others' (tree default {DEFAULT_LIMIT}, "
            "JSON default all; 0 = all).",
        ),
    ] = None,
) -> None:
    """Explain a published ROI mart number: every level sums to the level above."""
    day = parse_date(date, "--date")
    if platform.strip() not in EXPLAIN_PLATFORMS:
        raise UserInputError(f"unknown platform {platform!r}: use one of {', '.join(EXPLAIN_PLATFORMS)}")
    cell = Cell(day, platform.strip(), campaign, published())
    with warehouse_turn("explain") as warehouse:
        cur = warehouse.connection().cursor()
        try:
            tree = build_tree(cur, cell, metric.value)
            closed_tree = explain_closed(cur, cell, metric.value, tree) if closed else None
        finally:
            cur.close()
    not_closed = f"{day} is not closed: no close of that day in analytics.mart_marketing_roi_closed"
    n = (0 if as_json else DEFAULT_LIMIT) if limit is None else limit
    tree, closed_tree = limit_tree(tree, n), closed_tree and limit_tree(closed_tree, n)
    for shown in (tree, closed_tree):
        if shown is not None:
            check_sums(shown)  # folding into 'others' keeps every sum (checked again, as shown)
    if as_json:
        out: dict[str, Any] = {"metric": metric.value, "tree": tree.to_json()}
        if closed:
            out["closed"] = closed_tree.to_json() if closed_tree else None
            if closed_tree is None:
                out["closed_note"] = not_closed
        typer.echo(json.dumps(out, indent=1))
        return
    out_console = console if console.is_terminal else Console(width=160)
    out_console.print(_rich(tree))
    if closed:
        out_console.print(_rich(closed_tree) if closed_tree else not_closed, highlight=False)


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "–"
    digits = 6 if unit.startswith("USD per") else 2 if unit != "sign-ups" else 4
    text = f"{float(value):,.{digits}f}"
    return text.rstrip("0").rstrip(".") if unit == "sign-ups" else text


# What the tree shows of each node and detail (the JSON has everything).
TEXT_ATTRS = {
    "mart_total": ("attribution_version", "spend_definition", "signup_definition"),
    "ratio": ("attribution_version", "spend_definition", "signup_definition", "closed_value"),
    "fact_ad_spend": ("fx_rate", "fx_rate_date", "load_id"),
    "raw_row": ("load_id", "pulled_at", "slice_status"),
    "attribution": ("run_id",),
    "credited_revenue": ("credit", "first_revenue_usd"),
    "closed": ("close_ids",),
    "closed_row": ("close_id", "closed_at"),
    "adjustment": ("close_id",),
}
TEXT_DETAILS = {
    "signup": ("event_id", "signup_ts", "device_platform", "landing_file"),
    "touch": ("touch_id", "touch_type", "touch_ts", "platform", "campaign_id", "event_id", "landing_file"),
    "why": ("rule",),
    "revenue_event": ("event_id", "event_type", "event_ts", "revenue", "currency", "landing_file"),
}


def _brief(kind: str, attrs: dict[str, Any]) -> str:
    keys = TEXT_ATTRS.get(kind, ("attribution_version",) if "attribution_version" in attrs else ())
    return ", ".join(f"{k}={attrs[k]}" for k in keys if attrs.get(k) is not None)


def _label(node: Node) -> str:
    value = f"[bold]{_fmt(node.value, node.unit)} {node.unit}[/bold]"
    local = (
        f" = {_fmt(node.children_total, node.children_unit or '')} {node.children_unit}"
        if node.children_total is not None and node.children_unit != node.unit
        else ""
    )
    brief = _brief(node.kind, node.attrs)
    return f"{value}{local}  {escape(node.label)}" + (f"  [dim]{escape(brief)}[/dim]" if brief else "")


def _rich(node: Node, tree: Tree | None = None) -> Tree:
    """The node as a rich Tree: value and label per node, its details as dim lines below it."""
    branch = Tree(_label(node)) if tree is None else tree.add(_label(node))
    for name, keys in TEXT_DETAILS.items():
        detail = node.details.get(name, {})
        text = ", ".join(f"{k}={detail[k]}" for k in keys if detail.get(k) is not None)
        if text:
            branch.add(f"[dim]{name}: {escape(text)}[/dim]")
    for child in node.children:
        _rich(child, branch)
    return branch
