"""Identity map: ``user_merged`` edges resolved transitively to a canonical user id.

Resolution rule (documented in docs/events.md):
- Each ``from_user_id`` has one current edge: its latest merge (by ``merged_at``, then
  ``event_id``). A later merge of the same user replaces the earlier target.
- The canonical id of a user is found by following current edges until a user with no
  outgoing edge. Edges from later files are resolved together with every edge already in
  the warehouse, so ``A -> B`` loaded yesterday and ``B -> C`` loaded today give
  ``A -> C`` (the row of ``A`` is rewritten).
- A cycle (``A -> B`` then later ``B -> A``) is broken at its oldest edge: the newest merge
  wins, so the user the newest merges point into is canonical.

Vectorised pointer jumping in Polars; the rare cycle is broken in plain Python.
"""

from __future__ import annotations

import polars as pl

EDGE_SCHEMA = pl.Schema(
    {
        "from_user_id": pl.String(),
        "to_user_id": pl.String(),
        "merged_at": pl.Datetime("us", "UTC"),
        "event_id": pl.String(),
    }
)
MAX_JUMPS = 64


def current_edges(edges: pl.DataFrame) -> pl.DataFrame:
    """One edge per ``from_user_id``: the latest merge; self-merges dropped."""
    return (
        edges.filter(pl.col("from_user_id") != pl.col("to_user_id"))
        .sort(["from_user_id", "merged_at", "event_id"])
        .unique("from_user_id", keep="last", maintain_order=True)
    )


def _jump(edges: pl.DataFrame) -> pl.DataFrame:
    """``from_user_id -> canonical`` by pointer doubling; rows still on a cycle keep a parent."""
    parent = edges.select(pl.col("from_user_id").alias("node"), pl.col("to_user_id").alias("p"))
    cur = parent.rename({"p": "canon"})
    for _ in range(MAX_JUMPS):
        nxt = cur.join(parent, left_on="canon", right_on="node", how="left").with_columns(
            canon=pl.coalesce("p", "canon")
        )
        changed = (nxt["canon"] != cur["canon"]).any()
        cur = nxt.select("node", "canon")
        if not changed:
            break
    return cur


def resolve(edges: pl.DataFrame) -> pl.DataFrame:
    """``from_user_id, to_user_id, canonical_user_id, merged_at, event_id`` for every current edge."""
    cur = current_edges(edges.select(list(EDGE_SCHEMA)))
    while True:
        canon = _jump(cur)
        # a canonical id that itself has an outgoing edge means a cycle
        on_cycle = canon.filter(pl.col("canon").is_in(cur["from_user_id"].implode()))
        if on_cycle.height == 0:
            break
        cur = _break_one_cycle(cur, on_cycle["canon"][0])
    return cur.join(canon.rename({"node": "from_user_id", "canon": "canonical_user_id"}), on="from_user_id")


def _break_one_cycle(cur: pl.DataFrame, start: str) -> pl.DataFrame:
    """Drop the oldest edge of the cycle through ``start`` (rare: plain Python is fine)."""
    nxt = dict(zip(cur["from_user_id"].to_list(), cur["to_user_id"].to_list(), strict=True))
    seen: list[str] = []
    node = start
    while node not in seen:
        seen.append(node)
        node = nxt[node]
    cycle = seen[seen.index(node) :]
    members = cur.filter(pl.col("from_user_id").is_in(cycle)).sort(["merged_at", "event_id"])
    oldest = members["from_user_id"][0]
    return cur.filter(pl.col("from_user_id") != oldest)


def changed_rows(existing: pl.DataFrame, resolved: pl.DataFrame) -> pl.DataFrame:
    """Rows of ``resolved`` that are new or differ from ``existing`` (what must be (re)written),
    plus tombstones for edges that disappeared (a cycle broken): ``to_user_id`` = canonical = self."""
    cols = ["from_user_id", "to_user_id", "canonical_user_id"]
    if existing.height == 0:
        return resolved
    diff = resolved.join(existing.select(cols), on=cols, how="anti")
    gone = existing.join(resolved.select("from_user_id"), on="from_user_id", how="anti")
    if gone.height:
        gone = gone.with_columns(
            to_user_id=pl.col("from_user_id"), canonical_user_id=pl.col("from_user_id")
        ).select(resolved.columns)
        diff = pl.concat([diff, gone.cast(resolved.schema)])
    return diff
