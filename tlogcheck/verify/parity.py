"""Parity — playbook §2.3 (compare origin and edge) and §3.2 step 1, TLogInclusionProofFail.

`judge_views`: the root (or checkpoint) the edge served and the one the origin
(X-Bypass: 1, or --tlog-origin-url) served are identical bytes; or the edge's is an
older tree that is a proven prefix of the origin's within what the origin's
Cache-Control allows (a lagging edge, `verify.lag.judge_lag`), or an older copy of the
same signed tree with fewer witness cosignatures (`verify.lag.judge_same_tree`); or,
during a canary, two releases describing one tree. An edge ahead of the origin with one
release answering is origin pods behind, or a rollback.
Anything else is a stale edge or a split view. The suite's parity checks (API v1 and,
through `verify.tiles_rules`, a tiled log's), triage's §2.3 step and the exporter call it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlogcheck.errors import FormatError, ProofError
from tlogcheck.verify.lag import Prover, judge_lag, judge_same_tree, served_proof
from tlogcheck.verify.served import Verdict, finding
from tlogcheck.verify.views import Tree, mixed

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = ["judge_views"]


def judge_views(
    client: TLogClient,
    what: str,
    edge: Response,
    origin: Response,
    edge_tree: Tree,
    origin_tree: Tree,
    *,
    prove: Prover | None = None,
) -> Verdict:
    """Edge and origin served `what` ("root", "checkpoint") alike, or as a lagging edge may.

    `prove` proves an older tree a prefix of a newer one (default: a consistency proof the
    log serves). What passed only thanks to the origin's stale-while-revalidate is in the
    notes."""
    if edge.body == origin.body:
        return Verdict.passed(f"{what}: identical on edge and origin ({edge_tree.describe()})")
    notes: list[str] = []
    problem: str | None
    if edge_tree == origin_tree:
        if mixed(edge.release, origin.release):
            return Verdict.passed(
                f"{what}: releases {edge.release} and {origin.release} describe the same "
                f"{edge_tree.describe()}"
            )
        # An older copy of the same signed tree, before witnesses cosigned it further,
        # is a lag; any other difference is the edge not passing the body through.
        problem = judge_same_tree(client, edge, origin)
        if problem is None:
            return Verdict.passed(
                f"{what}: the edge's copy of the origin's {edge_tree.describe()} carries "
                "fewer witness cosignatures, within what the origin's Cache-Control allows "
                "(an older copy of the same signed tree)"
            )
    elif edge_tree.tree_size > origin_tree.tree_size and not mixed(
        edge.release, origin.release
    ):
        problem = _origin_behind(prove or served_proof(client), origin_tree, edge_tree)
    else:
        problem = judge_lag(
            client,
            older=edge_tree,
            newer=origin_tree,
            older_response=edge,
            newer_response=origin,
            notes=notes,
            prove=prove,
        )
        if problem is None:
            return Verdict.passed(
                f"{what}: the edge's {edge_tree.describe()} is a proven prefix of the "
                f"origin's {origin_tree.describe()} within its max-age (a lagging edge)",
                notes=notes,
            )
    return Verdict.failed(
        finding(
            "parity",
            expected=f"the edge's {what} identical to the origin's, or an older copy (an "
            "older consistent tree, or fewer cosignatures) within what the origin's "
            "Cache-Control allows",
            served=f"{problem}\n          edge:   {edge.describe()}\n          "
            f"origin: {origin.describe()}",
            # Two trees that are not one log is shown by the proofs; a stale copy by its Age.
            how="proved" if problem.startswith("split view") else "observed",
        ),
        notes=notes,
    )


def _origin_behind(prove: Prover, origin: Tree, edge: Tree) -> str:
    """The origin serves an older tree than the edge, one release answering: never one
    log as a lag is. A split view when the edge's tree is proved not to extend it."""
    try:
        prove(origin, edge, "edge")
    except ProofError as exc:
        return (
            f"split view: the origin's {origin.describe()} is not a prefix of the edge's "
            f"{edge.describe()}: {exc}"
        )
    except FormatError as exc:
        # No usable proof is no proof of a fork: what was served is said as observed.
        return (
            f"the origin serves an older tree than the edge ({origin.describe()} < "
            f"{edge.describe()}), one release answering, and no consistency proof between "
            f"them was served: {exc}"
        )
    return (
        f"the origin serves an older tree than the edge ({origin.describe()} < "
        f"{edge.describe()}), one release answering: pods behind, or a rollback"
    )
