"""Parity — playbook §2.3 (compare origin and edge) and §3.2 step 1, TLogInclusionProofFail.

The edge and the origin (X-Bypass: 1, or --tlog-origin-url) serve the same log:

- root and checkpoint: identical bytes pass. A differing one passes only when the edge's
  tree is older, provably a prefix of the origin's (a consistency proof), and the edge's
  copy is within its max-age (`Age`): what any CDN does after a release. Anything else
  fails, as a stale edge or as a split view.
- entries: every sampled entry is byte-identical on both views.
"""

from __future__ import annotations

import pytest

from tlogcheck.client import Response, TLogClient
from tlogcheck.errors import FormatError
from tlogcheck.facts import (
    PATH_CHECKPOINT,
    ServedRoot,
    Tree,
    entry_path,
    fail,
    judge_lag,
    read_checkpoint,
)

pytestmark = pytest.mark.parity


def _judge(
    client: TLogClient,
    what: str,
    edge: Response,
    origin: Response,
    edge_tree: Tree,
    origin_tree: Tree,
) -> None:
    if edge.body == origin.body:
        return
    if edge_tree == origin_tree:
        problem = "same tree, different bytes: the edge does not pass the origin's body through"
    else:
        problem = judge_lag(client, older=edge_tree, newer=origin_tree, older_response=edge)
        if problem is None:
            return
    fail(
        "parity",
        expected=f"the edge's {what} identical to the origin's, or an older consistent "
        "tree within its max-age",
        served=f"{problem}\n          edge:   {edge.describe()}\n          "
        f"origin: {origin.describe()}",
    )


def test_edge_and_origin_serve_the_same_root(
    tlog_client: TLogClient, served_root: ServedRoot, origin_root: ServedRoot
) -> None:
    _judge(
        tlog_client,
        "root",
        served_root.response,
        origin_root.response,
        served_root.tree,
        origin_root.tree,
    )


def test_edge_and_origin_serve_the_same_checkpoint(tlog_client: TLogClient) -> None:
    edge, origin = tlog_client.map(
        lambda view: tlog_client.get(PATH_CHECKPOINT, view=view), ["edge", "origin"]
    )
    if edge.body == origin.body:
        return
    trees = []
    for response in (edge, origin):
        try:
            _, cp = read_checkpoint(response)
        except FormatError as exc:
            fail(
                "parity",
                expected="identical checkpoints on edge and origin",
                served=f"{response.view}: {exc}\n          edge:   {edge.describe()}\n"
                f"          origin: {origin.describe()}",
            )
        trees.append(Tree(cp.tree_size, cp.root_hash))
    _judge(tlog_client, "checkpoint", edge, origin, trees[0], trees[1])


def test_edge_and_origin_serve_the_same_entries(
    tlog_client: TLogClient, sample_indices: list[int]
) -> None:
    def both(index: int) -> tuple[int, str | None]:
        try:
            edge = tlog_client.get(entry_path(index))
            origin = tlog_client.get(entry_path(index), view="origin")
        except FormatError as exc:  # an answer over the size cap or past the deadline
            return index, str(exc)
        # A 404 on both is parity too: whether the entry should exist is inclusion's question.
        if edge.status == origin.status and edge.body == origin.body:
            return index, None
        return index, f"edge {edge.describe()} / origin {origin.describe()}"

    differing = [(i, p) for i, p in tlog_client.map(both, sample_indices) if p is not None]
    if differing:
        fail(
            "parity",
            expected=f"each of {len(sample_indices)} sampled entries: the same status and "
            "bytes on edge and origin",
            served=f"{len(differing)} differ:\n"
            + "\n".join(f"          entry {i}: {p}" for i, p in differing[:10]),
        )
