"""The rules of a C2SP tiled log (`--tlog-api tiles`) where they differ from API v1's.

A tiled log serves no proofs and need not serve `/healthz`; its checkpoint is what a
client reads first, and consistency between two trees is computed from the newer one's
tiles (`tlogcheck.tiles.TiledTree`). The suite's tiles checks (`tests_synthetic/
test_tiles.py`) and the exporter's (`exporter/tiles_checks.py`) judge by these:

- `judge_checkpoint_answers`: the checkpoint answers 200 within the timeout — a tiled
  log's health (TLogAvailabilityDown);
- `judge_healthz_where_served`: `/healthz` answers 200 where it is served (a 404 says it
  is not: skipped);
- `judge_extends`: the served tree and every recorded one are one log, proved from the
  tiles (TLogInclusionProofFail);
- `judge_one_log`: the edge's and the origin's checkpoints are one log as they may be —
  an older edge within what the origin's Cache-Control allows, an older copy of the same
  signed tree with fewer cosignatures likewise, an older origin only during a canary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from tlogcheck.errors import FormatError, ProofError
from tlogcheck.spec import PATH_HEALTH
from tlogcheck.verify.lag import judge_same_tree, staleness
from tlogcheck.verify.served import Verdict, finding
from tlogcheck.verify.views import Tree, mixed

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient
    from tlogcheck.tiles import TiledTree

__all__ = [
    "ONE_LOG",
    "extends_problem",
    "judge_checkpoint_answers",
    "judge_extends",
    "judge_healthz_where_served",
    "judge_one_log",
    "one_log",
    "one_log_problem",
]


def one_log(origin_view: str = "X-Bypass: 1") -> str:
    """What the parity of a tiled log expects, naming how the origin view is reached."""
    return f"edge and origin ({origin_view}) serve one log: one checkpoint and the same tiles"


ONE_LOG = one_log()


def judge_checkpoint_answers(response: Response, timeout: float) -> Verdict:
    """A view's checkpoint answers 200 within `timeout`: the tiled log is up there."""
    expected = f"GET {response.path} on the {response.view} view: 200 within {timeout:g}s"
    if response.status != 200:
        served = response.describe()
    elif response.elapsed > timeout:
        served = f"{response.elapsed:.2f}s: {response.describe()}"
    else:
        return Verdict.passed(
            f"{response.view}: checkpoint 200 in {response.elapsed:.2f}s",
            evidence=[response.describe()],
        )
    return Verdict.failed(finding("health", expected=expected, served=served, response=response))


def judge_healthz_where_served(response: Response) -> Verdict:
    """`/healthz` answers 200 on a view that serves it; a 404 is a log that serves none."""
    if response.status == 404:
        return Verdict.skipped(
            f"{PATH_HEALTH} is not served on the {response.view} view (a tiled log need not)"
        )
    if response.status != 200:
        return Verdict.failed(
            finding(
                "health",
                expected=f"GET {PATH_HEALTH} on the {response.view} view, where it is served: 200",
                served=response.describe(),
                response=response,
            )
        )
    return Verdict.passed(f"{response.view}: {PATH_HEALTH} 200", evidence=[response.describe()])


def extends_problem(tree: TiledTree, recorded: Tree, origin: Callable[[], TiledTree]) -> str | None:
    """None when the served tiled tree and `recorded` are one log, else the problem.

    The served tree extends `recorded`, proved from its tiles; a recorded tree larger
    than the served one (a lagging edge) must be proved by the origin's tiles — both
    trees prefixes of the origin's — and one the origin is smaller than too is a log that
    went back."""
    try:
        if recorded.tree_size <= tree.size:
            tree.verify_extends(recorded.tree_size, recorded.root_hash)
            return None
        newer = origin()
        if newer.size < recorded.tree_size:
            return (
                f"{recorded.describe()} is ahead of the edge ({tree.size}) and the origin "
                f"({newer.size}): the log went back (a rollback)"
            )
        newer.verify_extends(recorded.tree_size, recorded.root_hash)
        newer.verify_extends(tree.size, tree.root)
    except (ProofError, FormatError) as exc:
        return f"{recorded.describe()}: {exc}"
    return None


def judge_extends(
    tree: TiledTree,
    recorded: Sequence[Tree],
    origin: Callable[[], TiledTree],
    served: Tree,
    what: str,
) -> Verdict:
    """The served tree (`served`, read as `tree`) and every recorded one are one log.

    `what` names the records in the finding ("every --tlog-known-root ...")."""
    if not recorded:
        return Verdict.skipped("no recorded tree to prove from")
    problems = [p for r in recorded if (p := extends_problem(tree, r, origin)) is not None]
    if problems:
        return Verdict.failed(
            finding(
                "consistency",
                expected=f"the checkpoint's {served.describe()} extends {what}",
                served="\n          ".join(problems),
                how="proved",
            )
        )
    return Verdict.passed(
        f"{len(recorded)} recorded tree(s) and the served {served.describe()} are one log "
        "(from the tiles)"
    )


def one_log_problem(
    edge: Tree,
    origin: Tree,
    edge_tree: TiledTree,
    origin_tree: Callable[[], TiledTree],
    edge_response: Response,
    source: str | None,
) -> str | None:
    """Two different checkpoints of the two views: None when they are one log as they may
    be, else the problem. The older must be proved a prefix of the newer by the newer's
    tiles; an older edge must be within what the origin's Cache-Control (`source`) allows
    (a lagging cache); an older origin only when two releases answered (a canary: the
    origin Service mixes the old release's pods)."""
    if edge.tree_size == origin.tree_size:
        return f"split view: {edge.describe()} on the edge, {origin.describe()} on the origin"
    if edge.tree_size < origin.tree_size:
        newer = origin_tree()
        problem = extends_problem(newer, edge, lambda: newer)
        if problem is not None:
            return f"split view: the edge's tree is not a prefix of the origin's: {problem}"
        problem, _ = staleness(edge, edge_response, source)
        return None if problem is None else f"the edge lags the origin: {problem}"
    problem = extends_problem(edge_tree, origin, lambda: edge_tree)
    if problem is not None:
        return f"split view: the origin's tree is not a prefix of the edge's: {problem}"
    if mixed(edge.release, origin.release):
        return None  # a canary: the newer release's tree, proven to extend the older's
    return (
        f"the origin serves an older tree than the edge ({origin.describe()} < "
        f"{edge.describe()}), one release answering: pods behind, or a rollback"
    )


def judge_one_log(
    client: TLogClient,
    edge_response: Response,
    origin_response: Response,
    edge: Tree,
    origin: Tree,
    edge_tree: TiledTree,
    origin_tree: Callable[[], TiledTree],
    *,
    origin_view: str = "X-Bypass: 1",
) -> Verdict:
    """The checkpoints the edge and the origin served (as `edge`, `origin`) are one log:
    the same tree — in other bytes only as an older copy with fewer cosignatures a cache
    may still serve (`judge_same_tree`) —, or an older one proved a prefix of the newer as
    a lagging edge or a canary may serve (`one_log_problem`). Whether the tiles are the
    same bytes is the caller's to compare when the trees are the same."""
    views = (
        f"\n          edge:   {edge_response.describe()}"
        f"\n          origin: {origin_response.describe()}"
    )
    if edge == origin:
        if edge_response.body == origin_response.body or mixed(edge.release, origin.release):
            return Verdict.passed(f"one tree on edge and origin: {edge.describe()}")
        problem = judge_same_tree(client, edge_response, origin_response)
        if problem is None:
            return Verdict.passed(
                f"one tree on edge and origin: {edge.describe()}, the edge's an older copy "
                "with fewer cosignatures"
            )
        how: Literal["proved", "observed"] = "observed"
    else:
        problem = one_log_problem(
            edge, origin, edge_tree, origin_tree, edge_response, origin_response.cache_control
        )
        if problem is None:
            return Verdict.passed(
                f"the edge's {edge.describe()} and the origin's {origin.describe()}: the older "
                "a proven prefix of the newer, as a lagging edge or a canary may serve"
            )
        how = "proved" if problem.startswith("split view") else "observed"
    return Verdict.failed(
        finding("parity", expected=one_log(origin_view), served=problem + views, how=how)
    )
