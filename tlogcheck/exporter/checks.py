"""The checks of a probe of an API v1 log: thin adapters over the suite's rules.

Each check reads what its rule needs through the probe's client and calls the rule in
`tlogcheck.verify` (or, until it moves there, in `exporter.pending`, marked
RULE-PENDING); it only turns the rule's answer into a `Verdict` and the facts the
metrics show. What each check covers, against the suite's check of the same name:

- `health`: `/healthz` 200 within the timeout with `status: ok`, edge and origin;
- `root`: the root 200 and well-formed on both views;
- `checkpoint`: the edge's checkpoint a C2SP signed note that verifies with the
  module's keys (the tree it signs is what the probe remembers and shows);
- `inclusion`: the newest entries and a seeded sample, each entry hashed and its proof
  verified against the served root (`verify.verify_inclusions`);
- `parity`: edge and origin serve one root and one checkpoint, or an older proven
  prefix within its max-age (`verify.judge_lag`); skipped on a target without an edge;
- `cache`: Cache-Control per the spec's table on both views, and the steady-state miss
  ratio of immutable reads through the edge (`verify.cache.steady_miss_ratio`);
- `consistency`: root and checkpoint describe one tree (exactly on the origin), and the
  signed tree extends the one remembered from earlier probes (`verify.check_recorded`).

A 5xx that outlived the client's retries is the target failing its users (the errors
measure counts it), never a proof failure: those checks are inconclusive then.
"""

from __future__ import annotations

from collections.abc import Callable

from tlogcheck import spec
from tlogcheck.client import Response
from tlogcheck.errors import FormatError, NoteError, ProofError
from tlogcheck.exporter.context import Context, Verdict
from tlogcheck.exporter.pending import (
    health_problem,
    immutable_paths,
    miss_ratio_verdict,
    parity_problem,
    root_checkpoint_problem,
    server_error,
)
from tlogcheck.exporter.state import Remembered
from tlogcheck.note import verify_checkpoint
from tlogcheck.spec import PATH_CHECKPOINT, PATH_HEALTH, PATH_ROOT
from tlogcheck.verify import (
    Tree,
    answered_by,
    check_recorded,
    read_checkpoint,
    read_root,
    served_tree,
    verify_inclusions,
)
from tlogcheck.verify.cache import MissRatio, steady_miss_ratio
from tlogcheck.verify.sampling import uniform_indices

__all__ = [
    "CACHE_PATHS",
    "CHECKS_V1",
    "NEWEST",
    "UNJUDGED_5XX",
    "VIEWS",
    "Unjudged",
    "newest_and_sample",
    "over_time",
    "read_tree",
    "judge_misses",
    "unjudged",
]

NEWEST = 4  # the newest entries, verified in every probe: where a new release adds
CACHE_PATHS = 8  # sampled indices whose entry and proof the miss ratio reads
VIEWS = ("edge", "origin")
UNJUDGED_5XX = "answered 5xx after the retries: the target failing its users, not a proof"


def newest_and_sample(tree_size: int, sample: int, seed: int) -> list[int]:
    newest = {i for i in range(tree_size - NEWEST, tree_size) if i >= 0}
    return sorted(newest | set(uniform_indices(tree_size, sample, seed, exclude=newest)))


def read_tree(ctx: Context, path: str, view: str) -> tuple[Response, Tree]:
    """The root or checkpoint of a view, read once a probe; FormatError if unusable."""
    key = f"{path}:{view}"
    if key not in ctx.trees:
        response = ctx.client.get(path, view=view, shared=True)
        if response.status >= 500:
            raise Unjudged(f"{view} {path}: {UNJUDGED_5XX}: {response.describe()}")
        ctx.trees[key] = (response, served_tree(response))
    return ctx.trees[key]


class Unjudged(Exception):
    """A 5xx stood where a check needed an answer: inconclusive, not failed."""


def unjudged(check: Callable[[Context], Verdict], name: str) -> Callable[[Context], Verdict]:
    def run(ctx: Context) -> Verdict:
        try:
            return check(ctx)
        except Unjudged as exc:
            return Verdict(name, "inconclusive", str(exc))

    return run


def health(ctx: Context) -> Verdict:
    problems = []
    for view in VIEWS:
        response = ctx.client.get(PATH_HEALTH, view=view)
        ctx.facts.healthz[view] = response.status
        problem = health_problem(response, ctx.client.timeout)
        if problem is not None:
            problems.append(f"{view}: {problem}")
    return Verdict("health", "failed" if problems else "passed", "; ".join(problems))


def root(ctx: Context) -> Verdict:
    problems, busy = [], []
    for view in VIEWS:
        response = ctx.client.get(PATH_ROOT, view=view, shared=True)
        if server_error([response]) is not None:
            busy.append(f"{view}: {UNJUDGED_5XX}")
            continue
        try:
            served = read_root(response)
        except FormatError as exc:
            problems.append(f"{view}: {exc}; {response.describe()}")
            continue
        ctx.facts.tree_size[view] = served.tree_size
        ctx.trees[f"{PATH_ROOT}:{view}"] = (response, Tree(served.tree_size, served.root_hash,
                                                           response.release))  # fmt: skip
    if problems:
        return Verdict("root", "failed", "; ".join(problems))
    if busy:
        return Verdict("root", "inconclusive", "; ".join(busy))
    return Verdict("root", "passed")


def checkpoint(ctx: Context, path: str = PATH_CHECKPOINT) -> Verdict:
    response = ctx.client.get(path, view="edge", shared=True)
    if server_error([response]) is not None:
        return Verdict("checkpoint", "inconclusive", f"edge: {UNJUDGED_5XX}")
    read_checkpoint(response)  # FormatError: not a signed note
    try:
        cp = verify_checkpoint(response.body, ctx.module.verifiers)
    except NoteError as exc:
        return Verdict("checkpoint", "failed", f"{exc}; {response.describe()}")
    tree = Tree(cp.tree_size, cp.root_hash, response.release)
    ctx.facts.signed = Remembered.served(cp.origin, tree, response, ctx.scrub)
    return Verdict("checkpoint", "passed", f"{cp.origin}: {tree.describe()} signed")


def inclusion(ctx: Context) -> Verdict:
    response, tree = read_tree(ctx, PATH_ROOT, "edge")
    indices = newest_and_sample(tree.tree_size, ctx.module.sample, ctx.seed)
    ctx.say(f"inclusion: seed {ctx.seed}, indices {indices} of {tree.describe()}")
    results = verify_inclusions(ctx.client, indices, tree)
    busy = [r for r in results if not r.ok and server_error(r.responses) is not None]
    failed = [r for r in results if not r.ok and server_error(r.responses) is None]
    ctx.facts.entries_verified = sum(r.ok for r in results)
    ctx.facts.entries_failed = len(failed)
    if failed:
        shown = "; ".join(f"index {r.index}: {r.problem}" for r in failed[:3])
        return Verdict("inclusion", "failed", f"{len(failed)} of {len(results)}: {shown}")
    if busy:
        return Verdict("inclusion", "inconclusive", f"{len(busy)} reads: {UNJUDGED_5XX}")
    return Verdict("inclusion", "passed", f"{len(results)} entries in {tree.describe()}")


def parity(ctx: Context) -> Verdict:
    if ctx.edge().has_edge is False:
        return Verdict("parity", "skipped", ctx.edge().evidence)
    problems = []
    for path in (PATH_ROOT, PATH_CHECKPOINT):
        edge, edge_tree = read_tree(ctx, path, "edge")
        origin, origin_tree = read_tree(ctx, path, "origin")
        problem = parity_problem(ctx.client, edge, origin, edge_tree, origin_tree)
        if problem is not None:
            problems.append(f"{path}: {problem}")
    return Verdict("parity", "failed" if problems else "passed", "; ".join(problems))


def cache(ctx: Context) -> Verdict:
    _, tree = read_tree(ctx, PATH_ROOT, "edge")
    n = tree.tree_size
    i = n - 1
    paths = [PATH_HEALTH, PATH_ROOT, PATH_CHECKPOINT, spec.entry_path(i),
             spec.proof_path(i, n), spec.proof_path(i), spec.consistency_path(1, n)]  # fmt: skip
    asks = [(p, v) for p in paths for v in VIEWS]
    problems = []
    for r in ctx.client.map(lambda pv: ctx.client.get(pv[0], view=pv[1], shared=True), asks):
        if r.status == 200:
            problem = spec.cache_control_problem(r.path, r.cache_control)
            if problem is not None:
                problems.append(f"{r.view} {r.path}: {problem}")
    if problems:
        return Verdict("cache", "failed", "; ".join(problems))
    if ctx.edge().has_edge is False:
        return Verdict("cache", "passed", f"Cache-Control per the table; {ctx.edge().evidence}")
    indices = newest_and_sample(n, CACHE_PATHS, ctx.seed)[:CACHE_PATHS]
    reads = immutable_paths(n, indices, CACHE_PATHS)
    ctx.client.map(lambda p: answered_by(ctx.client, p, release=tree.release), reads)
    found = steady_miss_ratio(ctx.client, reads)
    if not found.reported:
        return Verdict("cache", "passed", "no cache status reported: the hit rate is not measured")
    return judge_misses(ctx, found)


def judge_misses(ctx: Context, found: MissRatio) -> Verdict:
    status, detail, ratio = miss_ratio_verdict(found)
    ctx.facts.miss_ratio = ratio
    return Verdict("cache", status, detail)


def consistency(ctx: Context) -> Verdict:
    problems = []
    for view in VIEWS:
        root_response, root_tree = read_tree(ctx, PATH_ROOT, view)
        cp_response, cp_tree = read_tree(ctx, PATH_CHECKPOINT, view)
        problem = root_checkpoint_problem(
            ctx.client, root=root_response, root_tree=root_tree,
            checkpoint=cp_response, checkpoint_tree=cp_tree,
        )  # fmt: skip
        if problem is not None:
            problems.append(f"{view}: {problem}")
    if problems:
        return Verdict("consistency", "failed", "; ".join(problems))
    return over_time(ctx, lambda recorded, served: check_recorded(ctx.client, recorded, served))


def over_time(ctx: Context, prove: Callable[[Tree, Tree], str]) -> Verdict:
    """The signed tree extends the one remembered for this target (or is proven a prefix
    of it, when an edge lags); `prove` raises ProofError / FormatError when not."""
    signed = ctx.facts.signed
    if signed is None:
        return Verdict("consistency", "inconclusive", "no verified checkpoint in this probe")
    track = ctx.state.get(ctx.module.name, ctx.target)
    if track is None:
        return Verdict("consistency", "passed", f"first tree remembered: {signed.tree.describe()}")
    recorded = track.latest.tree
    try:
        evidence = prove(recorded, signed.tree)
    except (ProofError, FormatError) as exc:
        detail = (
            f"the served {signed.tree.describe()} is not one log with the one remembered "
            f"({recorded.describe()}, verified {track.latest.verified_at}): {exc}"
        )
        ctx.facts.conflict = (track, detail)
        return Verdict("consistency", "failed", detail)
    return Verdict("consistency", "passed", evidence)


CHECKS_V1: dict[str, Callable[[Context], Verdict]] = {
    "health": health,
    "root": unjudged(root, "root"),
    "checkpoint": checkpoint,
    "inclusion": unjudged(inclusion, "inclusion"),
    "parity": unjudged(parity, "parity"),
    "cache": unjudged(cache, "cache"),
    "consistency": unjudged(consistency, "consistency"),
}
