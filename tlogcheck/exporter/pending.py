"""Rules the exporter needs that do not live in `tlogcheck.verify` yet.

Each is the suite's rule as `tests_synthetic` (or `incident.triage`) writes it today,
reduced to a function of responses and trees that returns a problem (None: none). They
are marked `RULE-PENDING`: when the shared function lands in `verify/`, the exporter
calls that one and the function here goes. Nothing else in `tlogcheck/exporter/`
decides a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tlogcheck import spec
from tlogcheck.client import Response, TLogClient
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.spec import PATH_CHECKPOINT, entry_path, proof_path
from tlogcheck.tiles import TiledTree
from tlogcheck.verify import (
    Tree,
    from_release,
    judge_lag,
    judge_same_tree,
    mixed,
    served_tree,
    staleness,
)
from tlogcheck.verify.cache import MAX_MISS_RATIO, MissRatio

__all__ = [
    "ErrorsAndLatency",
    "MAX_ERROR_RATE",
    "MAX_P95_SECONDS",
    "errors_and_latency",
    "health_problem",
    "immutable_paths",
    "miss_ratio_verdict",
    "parity_problem",
    "root_checkpoint_problem",
    "server_error",
    "tiles_extends_problem",
    "tiles_health_problem",
    "tiles_one_log_problem",
]

# RULE-PENDING: moves to verify/errors with issue 23 (today incident/triage.py's).
MAX_ERROR_RATE = 0.01  # Ingress5xxHigh (playbook §3.4)
MAX_P95_SECONDS = 0.300  # LatencyP95High (playbook §3.4)


# RULE-PENDING: moves to verify/health with issue 23 (tests_synthetic/test_health.py).
def health_problem(response: Response, timeout: float) -> str | None:
    """`/healthz` answers 200 within the timeout with `{"status": "ok", ...}`."""
    if response.status != 200:
        return f"expected 200, served {response.describe()}"
    if response.elapsed > timeout:
        return f"answered after {response.elapsed:.2f}s, over {timeout:g}s: {response.describe()}"
    try:
        health = spec.parse_health(response.body)
    except FormatError as exc:
        return f'expected a body {{"status":"ok",...}}: {exc}'
    if health.status != "ok":
        return f'expected "status": "ok", served {health.status!r}; {response.describe()}'
    return None


# RULE-PENDING: moves to verify/health with issue 23 (tests_synthetic/test_tiles.py's health).
def tiles_health_problem(checkpoint: Response, healthz: Response, timeout: float) -> str | None:
    """A tiled log is up when its checkpoint answers 200 within the timeout, and
    `/healthz` answers 200 where it is served (a tiled log need not serve one: 404)."""
    if checkpoint.status != 200 or checkpoint.elapsed > timeout:
        return (
            f"{checkpoint.path}: 200 within {timeout:g}s expected, served {checkpoint.describe()}"
        )
    if healthz.status not in (200, 404):
        return f"{healthz.path} where served: 200 expected, served {healthz.describe()}"
    return None


# RULE-PENDING: moves to verify/errors with issue 23 (the 5xx-vs-integrity classification
# the suite's bounded-client rules and triage apply).
def server_error(responses: Iterable[Response]) -> Response | None:
    """The first answer that is a 5xx: the target failing its users (Ingress5xxHigh, or
    TLogAvailabilityDown), which says nothing of the log's integrity."""
    return next((r for r in responses if r.status >= 500), None)


# RULE-PENDING: moves to verify/consistency with issue 23
# (tests_synthetic/test_consistency.py: root and checkpoint describe the same tree).
def root_checkpoint_problem(
    client: TLogClient,
    *,
    root: Response,
    root_tree: Tree,
    checkpoint: Response,
    checkpoint_tree: Tree,
) -> str | None:
    """Root and checkpoint of one view describe one tree. On the origin exactly (a
    checkpoint that trails the root is a signer that stalled; asked again of the root's
    release during a canary); through the edge an older copy of either may be a proven
    prefix of the other within its Cache-Control (`verify.judge_lag`)."""
    if root_tree == checkpoint_tree:
        return None
    if root.view == "origin":
        again = checkpoint
        if mixed(checkpoint.release, root.release):
            again = from_release(client, PATH_CHECKPOINT, view="origin", release=root.release)
            try:
                checkpoint_tree = served_tree(again)
            except FormatError as exc:
                return f"the origin's checkpoint is unreadable: {exc}"
            if checkpoint_tree == root_tree or mixed(again.release, root.release):
                return None
        behind = root_tree.tree_size - checkpoint_tree.tree_size
        why = (
            f"the signed tree is {behind} entries behind the served one: the signer stalled"
            if behind > 0
            else "the origin's own root and checkpoint disagree"
        )
        return f"root {root_tree.describe()}, checkpoint {checkpoint_tree.describe()}: {why}"
    if root_tree.tree_size < checkpoint_tree.tree_size:
        older, newer, older_r, newer_r = root_tree, checkpoint_tree, root, checkpoint
    else:
        older, newer, older_r, newer_r = checkpoint_tree, root_tree, checkpoint, root
    problem = judge_lag(
        client, older=older, newer=newer, older_response=older_r, newer_response=newer_r
    )
    if problem is None:
        return None
    return f"root {root_tree.describe()}, checkpoint {checkpoint_tree.describe()}: {problem}"


# RULE-PENDING: moves to verify/cache with issue 23 (the miss ratio over every immutable
# path class; today tests_synthetic/test_cache.py picks entries and proofs).
def immutable_paths(tree_size: int, indices: Sequence[int], limit: int) -> list[str]:
    """Immutable API v1 paths to read through the edge: entries and their proofs."""
    chosen = list(indices)[:limit]
    return [p for i in chosen for p in (entry_path(i), proof_path(i, tree_size))]


# RULE-PENDING: moves to verify/cache with issue 23 (the line, with 5xx answers classified).
def miss_ratio_verdict(found: MissRatio) -> tuple[str, str, float]:
    """(status, detail, ratio) of a steady-state miss ratio against the playbook's line.
    Misses that were 5xx answers are the target failing its users, not its cache rules:
    they count neither towards a failure nor in the ratio, and when they cross the line
    the verdict is inconclusive; a cache word nobody knows is inconclusive too."""
    measured = f"{len(found.misses)} of {len(found.measured)} reads missed ({found.ratio:.0%})"
    plain = [r for r in found.misses if server_error([r]) is None]
    ratio = len(plain) / len(found.measured) if found.measured else 0.0
    if ratio > MAX_MISS_RATIO:
        shown = "; ".join(r.describe() for r in plain[:2])
        return "failed", f"{measured}, over {MAX_MISS_RATIO:.0%}: {shown}", ratio
    if found.ratio > MAX_MISS_RATIO:
        return "inconclusive", f"{measured}, 5xx among them: not the cache rules", ratio
    if found.unknown:
        words = ", ".join(found.unknown_words()[:3])
        return "inconclusive", f"cache statuses not known: {words}", ratio
    return "passed", measured, ratio


@dataclass(frozen=True)
class ErrorsAndLatency:
    reads: int
    errors: tuple[Response, ...]
    p95: float

    @property
    def ratio(self) -> float:
        return len(self.errors) / self.reads if self.reads else 0.0


# RULE-PENDING: moves to verify/errors with issue 23 (incident/triage.py's errors/p95
# probe): reads through the edge with a client that does not retry, since a 5xx the
# checks' client retries is what a user saw.
def errors_and_latency(raw: TLogClient, paths: Sequence[str]) -> ErrorsAndLatency:
    responses = raw.map(raw.get, list(paths))
    ms = sorted(r.elapsed for r in responses)
    p95 = ms[max(0, math.ceil(0.95 * len(ms)) - 1)] if ms else 0.0
    return ErrorsAndLatency(len(responses), tuple(r for r in responses if r.status >= 500), p95)


# RULE-PENDING: moves to verify/tiles with issue 23 (tests_synthetic/test_tiles.py `_extends`).
def tiles_extends_problem(
    tree: TiledTree, recorded: Tree, origin: Callable[[], TiledTree]
) -> str | None:
    """The served tiled tree and `recorded` are one log: the served one extends it, or
    (a lagging edge) the origin's tiles prove both. None when so, else the problem."""
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


# RULE-PENDING: moves to verify/tiles with issue 23 (tests_synthetic/test_tiles.py `_one_log`).
def tiles_one_log_problem(
    edge: Tree,
    origin: Tree,
    edge_tree: TiledTree,
    origin_tree: Callable[[], TiledTree],
    edge_response: Response,
    source: str | None,
) -> str | None:
    """The edge's and the origin's checkpoints of a tiled log: one log as they may be; an
    older edge copy within what the origin's Cache-Control (`source`) allows."""
    if edge.tree_size == origin.tree_size:
        return f"split view: {edge.describe()} on the edge, {origin.describe()} on the origin"
    if edge.tree_size < origin.tree_size:
        newer = origin_tree()
        problem = tiles_extends_problem(newer, edge, lambda: newer)
        if problem is not None:
            return f"split view: the edge's tree is not a prefix of the origin's: {problem}"
        problem, _ = staleness(edge, edge_response, source)
        return None if problem is None else f"the edge lags the origin: {problem}"
    problem = tiles_extends_problem(edge_tree, origin, lambda: edge_tree)
    if problem is not None:
        return f"split view: the origin's tree is not a prefix of the edge's: {problem}"
    if mixed(edge.release, origin.release):
        return None
    return (
        f"the origin serves an older tree than the edge ({origin.describe()} < "
        f"{edge.describe()}), one release answering: pods behind, or a rollback"
    )


# RULE-PENDING: moves to verify/ (today tests_synthetic/test_parity.py `_judge`; not in
# issue 23's list, the same treatment).
def parity_problem(
    client: TLogClient, edge: Response, origin: Response, edge_tree: Tree, origin_tree: Tree
) -> str | None:
    """The edge's copy of a root or checkpoint and the origin's: identical, one tree of
    two releases, an older copy of the same signed tree with fewer cosignatures, or an
    older edge tree that is a proven prefix, within what the origin's Cache-Control
    allows."""
    if edge.body == origin.body:
        return None
    if edge_tree == origin_tree:
        if mixed(edge.release, origin.release):
            return None
        # An older copy of the same signed tree with fewer cosignatures may lag.
        return judge_same_tree(client, edge, origin)
    return judge_lag(
        client, older=edge_tree, newer=origin_tree, older_response=edge, newer_response=origin
    )
