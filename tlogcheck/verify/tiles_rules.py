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
  API v1's parity rule (`verify.parity.judge_views`) with the proofs computed from tiles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tlogcheck.errors import FormatError, ProofError
from tlogcheck.spec import PATH_HEALTH
from tlogcheck.verify.lag import Prover
from tlogcheck.verify.parity import judge_views
from tlogcheck.verify.served import Verdict, finding
from tlogcheck.verify.views import Tree

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient
    from tlogcheck.tiles import TiledTree

__all__ = [
    "extends_problem",
    "judge_checkpoint_answers",
    "judge_extends",
    "judge_healthz_where_served",
    "judge_one_log",
    "one_log",
    "tiles_prover",
]


def one_log(origin_view: str = "X-Bypass: 1") -> str:
    """What the parity of a tiled log expects, naming how the origin view is reached."""
    return f"edge and origin ({origin_view}) serve one log: one checkpoint and the same tiles"



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


def tiles_prover(edge_tree: TiledTree, origin_tree: Callable[[], TiledTree]) -> Prover:
    """The tiled log's `Prover`: the newer tree's own tiles, on the view that served it
    (the origin's read only when needed), prove the older a prefix."""

    def prove(older: Tree, newer: Tree, view: str) -> str:
        tiled = edge_tree if view == "edge" else origin_tree()
        if (tiled.size, tiled.root) != (newer.tree_size, newer.root_hash):
            raise FormatError(f"the {view}'s tiles are not of {newer.describe()}")
        tiled.verify_extends(older.tree_size, older.root_hash)
        return f"{older.describe()} is a prefix of {newer.describe()} (from the {view}'s tiles)"

    return prove


def judge_one_log(
    client: TLogClient,
    edge_response: Response,
    origin_response: Response,
    edge: Tree,
    origin: Tree,
    edge_tree: TiledTree,
    origin_tree: Callable[[], TiledTree],
) -> Verdict:
    """The checkpoints the edge and the origin served (as `edge`, `origin`) are one log as
    they may be: API v1's parity rule (`verify.parity.judge_views`), the older tree proved
    a prefix of the newer from the newer's tiles (`tiles_prover`). Whether the tiles are
    the same bytes is the caller's to compare when the trees are the same."""
    return judge_views(
        client, "checkpoint", edge_response, origin_response, edge, origin,
        prove=tiles_prover(edge_tree, origin_tree),
    )  # fmt: skip
