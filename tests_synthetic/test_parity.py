"""Parity — playbook §2.3 (compare origin and edge) and §3.2 step 1, TLogInclusionProofFail.

The edge and the origin (X-Bypass: 1, or --tlog-origin-url) serve the same log:

- root and checkpoint: identical bytes pass. A differing one passes only when the edge's
  tree is older, provably a prefix of the origin's (a consistency proof), and the edge's
  copy is within its max-age (`Age`): what any CDN does after a release. Anything else
  fails, as a stale edge or as a split view.
- entries: every sampled entry is byte-identical on both views, and so is each sampled
  inclusion proof at the edge's tree size (immutable, cached for a year).
- as others read: the root, the checkpoint and a sample of entries, read again through
  the edge as common clients read them — each client's whole request (curl, Python
  requests, Go's net/http, a browser: `client.profiles`), not only its User-Agent — are
  the bytes tlogcheck was served (`verify.read_as_every_client`). A log that shows its
  monitor one thing and its users another is what transparency exists to catch; the
  failure names the client.
- a copy past its max-age but within the `stale-while-revalidate` the origin itself
  sent passes: the edge follows the origin's instructions; the run summary says so.

During a canary the two views may reach pods of two releases (`X-TLog-Release`): the
edge cached one release's root, the bypass reached the other's pods. Then the smaller
tree is not a lag but the other release's current tree: it passes when it is a proven
prefix of the larger one (a consistency proof served by a pod of the larger tree's
release, verified against both roots) and, if a cache held it, within its max-age.
Two releases describing the same tree pass (their root bodies name their release). An
entry one release does not have yet (at or past its tree size) answers 404 there.

The comparison needs only the two views, never a sign of an edge: a cache that says no
cache-status word (only `Age` and `Via`, or nothing at all) is compared like any other,
and on a Service URL the two views are the same pods, which agree.
"""

from __future__ import annotations

import pytest

from tlogcheck.client import Response, TLogClient
from tlogcheck.client.profiles import CLIENT_PROFILES
from tlogcheck.client.purpose import READ, asking
from tlogcheck.errors import FormatError
from tlogcheck.plugin.report import summary_line
from tlogcheck.plugin.verdicts import fail, render
from tlogcheck.spec import PATH_CHECKPOINT, PATH_ROOT, entry_path
from tlogcheck.verify import (
    ServedRoot,
    Tree,
    answered_by,
    compare_proofs,
    mixed,
    read_as_every_client,
    served_tree,
)
from tlogcheck.verify.parity import judge_views
from tlogcheck.verify.served import answered

pytestmark = pytest.mark.parity

AS_OTHERS = 8  # sampled entries read again as each other client


def _judge(
    client: TLogClient,
    what: str,
    edge: Response,
    origin: Response,
    edge_tree: Tree,
    origin_tree: Tree,
    config: pytest.Config,
) -> None:
    # The rule is verify.parity's (triage's §2.3 step judges with it too).
    verdict = judge_views(client, what, edge, origin, edge_tree, origin_tree)
    for note in verdict.notes:
        summary_line(config, f"parity: {note}")
    render(verdict)


def test_edge_and_origin_serve_the_same_root(
    tlog_client: TLogClient,
    served_root: ServedRoot,
    origin_root: ServedRoot,
    request: pytest.FixtureRequest,
) -> None:
    _judge(
        tlog_client,
        "root",
        served_root.response,
        origin_root.response,
        served_root.tree,
        origin_root.tree,
        request.config,
    )


def test_edge_and_origin_serve_the_same_checkpoint(
    tlog_client: TLogClient, request: pytest.FixtureRequest
) -> None:
    with asking(READ, "the checkpoint on both views"):
        edge, origin = tlog_client.map(
            lambda view: tlog_client.get(PATH_CHECKPOINT, view=view), ["edge", "origin"]
        )
    if edge.body == origin.body:
        return
    trees = []
    for response in (edge, origin):
        try:
            trees.append(served_tree(response))
        except FormatError as exc:
            fail(
                "parity",
                expected="identical checkpoints on edge and origin",
                served=f"{response.view}: {exc}\n          edge:   {edge.describe()}\n"
                f"          origin: {origin.describe()}",
            )
    _judge(tlog_client, "checkpoint", edge, origin, trees[0], trees[1], request.config)


def _not_in_its_tree(response: Response, index: int, sizes: dict[str, int]) -> bool:
    """A 404 from a release whose tree (as the run saw it) ends before `index`."""
    size = sizes.get(response.release or "")
    return response.status == 404 and size is not None and index >= size


def test_edge_and_origin_serve_the_same_entries(
    tlog_client: TLogClient,
    served_root: ServedRoot,
    origin_root: ServedRoot,
    sample_indices: list[int],
) -> None:
    # The tree each release showed this run: the edge's root and the origin's.
    sizes = {
        r.response.release: r.root.tree_size
        for r in (served_root, origin_root)
        if r.response.release is not None
    }

    def both(index: int) -> tuple[int, str | None]:
        path = entry_path(index)
        try:
            edge = tlog_client.get(path)
            origin = tlog_client.get(path, view="origin")
            if edge.status != origin.status and mixed(edge.release, origin.release):
                if _not_in_its_tree(edge, index, sizes) or _not_in_its_tree(origin, index, sizes):
                    return index, None  # that release does not have the entry yet
                # A pod of the other release may not have it: ask that view again for
                # a pod of the release that served it.
                if edge.status == 200:
                    origin = answered_by(
                        tlog_client, path, view="origin", release=edge.release, first=origin
                    )
                elif origin.status == 200:
                    edge = answered_by(tlog_client, path, release=origin.release, first=edge)
        except FormatError as exc:  # an answer over the size cap or past the deadline
            return index, str(exc)
        answered(edge, origin)  # a 5xx is what was answered, not a parity verdict
        # A 404 on both is parity too: whether the entry should exist is inclusion's question.
        if edge.status == origin.status and edge.body == origin.body:
            return index, None
        return index, f"edge {edge.describe()} / origin {origin.describe()}"

    with asking(READ, "sampled entries on both views"):
        found = tlog_client.map(both, sample_indices)
    differing = [(i, p) for i, p in found if p is not None]
    if differing:
        fail(
            "parity",
            expected=f"each of {len(sample_indices)} sampled entries: the same status and "
            "bytes on edge and origin",
            served=f"{len(differing)} differ:\n"
            + "\n".join(f"          entry {i}: {p}" for i, p in differing[:10]),
        )


def test_edge_and_origin_serve_the_same_proofs(
    tlog_client: TLogClient,
    served_root: ServedRoot,
    origin_root: ServedRoot,
    sample_indices: list[int],
) -> None:
    # Proofs are immutable and cached for a year: pods whose proofs went bad hide behind
    # a warm cache, and an edge that serves its own proofs hides from the pods.
    indices = sample_indices[:AS_OTHERS * 2]
    differ = compare_proofs(tlog_client, indices, served_root.tree, origin_root.tree)
    if differ:
        fail(
            "parity",
            expected=f"each of {len(indices)} inclusion proofs at the edge's tree size "
            f"{served_root.tree.tree_size} the same bytes on the edge and on the origin",
            served=f"{len(differ)} differ:\n          " + "\n          ".join(differ[:5]),
        )


def test_the_log_reads_the_same_to_every_client(
    tlog_client: TLogClient, served_root: ServedRoot, sample_indices: list[int]
) -> None:
    paths = [PATH_ROOT, PATH_CHECKPOINT, *(entry_path(i) for i in sample_indices[:AS_OTHERS])]
    problems = read_as_every_client(tlog_client, paths, release=served_root.response.release)
    if problems:
        fail(
            "parity",
            expected=f"the same bytes for {len(paths)} reads whichever client asks, each "
            f"with its whole request ({', '.join(p.name for p in CLIENT_PROFILES)} and "
            "tlogcheck)",
            served=f"{len(problems)} differ:\n          " + "\n          ".join(problems[:8]),
        )
