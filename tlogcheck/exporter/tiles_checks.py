"""The checks of a probe of a C2SP tiled log (`api: tiles`), as the suite holds one.

The target is the log's prefix (`<prefix>/checkpoint`, `<prefix>/tile/...`); tiles are
read and checked by `verify.tiles.TileReader` and `tlogcheck.tiles.TiledTree`, the
suite's own reader:

- `health`: the checkpoint answers 200 within the timeout on both views; `/healthz`
  where it is served (a tiled log need not serve one);
- `root`: the root rebuilt from the right-edge tiles is the checkpoint's;
- `checkpoint`: a signed note that verifies with the module's keys;
- `inclusion`: the newest entries and a seeded sample, from their bundles, hash up to
  the checkpoint;
- `parity`: edge and origin serve one checkpoint, or an older edge tree the origin's
  tiles prove a prefix of, within its max-age;
- `cache`: the checkpoint and tiles carry the Cache-Control of a tiled log, and full
  tiles read through the edge reach a steady-state miss ratio within the line;
- `consistency`: the checkpoint's tree extends the one remembered, proved from tiles.
"""

from __future__ import annotations

from collections.abc import Callable

from tlogcheck import tiles
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.exporter.checks import (
    UNJUDGED_5XX,
    VIEWS,
    judge_misses,
    newest_and_sample,
    over_time,
    read_tree,
    unjudged,
)
from tlogcheck.exporter.checks import checkpoint as v1_checkpoint
from tlogcheck.exporter.context import Context, Verdict
from tlogcheck.exporter.pending import (
    server_error,
    tiles_extends_problem,
    tiles_health_problem,
    tiles_one_log_problem,
)
from tlogcheck.spec import PATH_HEALTH
from tlogcheck.tiles import TiledTree
from tlogcheck.verify import Tree, answered_by, judge_same_tree, mixed
from tlogcheck.verify.cache import steady_miss_ratio
from tlogcheck.verify.tiles import PATH_CHECKPOINT, TileReader

__all__ = ["CHECKS_TILES"]

FULL_TILES = 8  # full level-0 tiles (and their bundles) the miss ratio reads


def _tree(ctx: Context, view: str) -> tuple[TiledTree, Tree]:
    """The tiled tree of a view's checkpoint, one reader a view and probe."""
    key = f"tiles:{view}"
    response, tree = read_tree(ctx, PATH_CHECKPOINT, view)
    readers = ctx.readers
    if key not in readers:
        readers[key] = TileReader(ctx.client, view=view, release=tree.release)
    return readers[key].tree(tree.tree_size, tree.root_hash), tree


def health(ctx: Context) -> Verdict:
    problems = []
    for view in VIEWS:
        checkpoint = ctx.client.get(PATH_CHECKPOINT, view=view, shared=True)
        healthz = ctx.client.get(PATH_HEALTH, view=view)
        if healthz.status != 404:
            ctx.facts.healthz[view] = healthz.status
        problem = tiles_health_problem(checkpoint, healthz, ctx.client.timeout)
        if problem is not None:
            problems.append(f"{view}: {problem}")
    return Verdict("health", "failed" if problems else "passed", "; ".join(problems))


def root(ctx: Context) -> Verdict:
    tiled, tree = _tree(ctx, "edge")
    ctx.facts.tree_size["edge"] = tree.tree_size
    tiled.check_root()
    return Verdict("root", "passed", f"rebuilt from the right-edge tiles: {tree.describe()}")


def inclusion(ctx: Context) -> Verdict:
    tiled, tree = _tree(ctx, "edge")
    indices = newest_and_sample(tree.tree_size, ctx.module.sample, ctx.seed)
    ctx.say(f"inclusion: seed {ctx.seed}, indices {indices} of {tree.describe()}")
    reader = ctx.readers["tiles:edge"]
    reader.prefetch(p for i in indices for p in tiles.paths_for_entry(i, tree.tree_size))
    failures = []
    for i in indices:
        try:
            tiled.verify_entry(i)
        except (ProofError, FormatError) as exc:
            failures.append(f"index {i}: {exc}")
    ctx.facts.entries_verified = len(indices) - len(failures)
    ctx.facts.entries_failed = len(failures)
    if failures:
        return Verdict("inclusion", "failed", f"{len(failures)} of {len(indices)}: "
                       + "; ".join(failures[:3]))  # fmt: skip
    return Verdict("inclusion", "passed", f"{len(indices)} entries in {tree.describe()}")


def parity(ctx: Context) -> Verdict:
    if ctx.edge().has_edge is False:
        return Verdict("parity", "skipped", ctx.edge().evidence)
    edge_response, edge = read_tree(ctx, PATH_CHECKPOINT, "edge")
    origin_response, origin = read_tree(ctx, PATH_CHECKPOINT, "origin")
    if edge_response.body == origin_response.body:
        return Verdict("parity", "passed", f"one checkpoint: {edge.describe()}")
    if edge == origin and not mixed(edge.release, origin.release):
        # The same tree: an older copy with fewer cosignatures may lag, nothing else differs.
        problem = judge_same_tree(ctx.client, edge_response, origin_response)
        return Verdict("parity", "failed" if problem else "passed", problem or "an older copy")
    edge_tiled, _ = _tree(ctx, "edge")
    problem = tiles_one_log_problem(
        edge, origin, edge_tiled, lambda: _tree(ctx, "origin")[0], edge_response,
        origin_response.cache_control,
    )  # fmt: skip
    return Verdict("parity", "failed" if problem else "passed", problem or "an older edge tree")


def _full_paths(size: int) -> list[str]:
    full = size // tiles.TILE_WIDTH
    step = max(1, full // FULL_TILES) if full else 1
    chosen = list(range(0, full, step))[: FULL_TILES // 2]
    return ["/" + p for n in chosen for p in (tiles.tile_path(0, n), tiles.entries_path(n))]


def cache(ctx: Context) -> Verdict:
    _, tree = read_tree(ctx, PATH_CHECKPOINT, "edge")
    paths = [PATH_CHECKPOINT] + ["/" + t.path for t in tiles.edge_tiles(tree.tree_size)]
    paths += _full_paths(tree.tree_size)
    asks = [(p, v) for p in paths for v in VIEWS]
    problems = []
    for r in ctx.client.map(lambda pv: ctx.client.get(pv[0], view=pv[1], shared=True), asks):
        if r.status == 200:
            problem = tiles.cache_problem(r.path, r.cache_control)
            if problem is not None:
                problems.append(f"{r.view} {r.path}: {problem}")
    if problems:
        return Verdict("cache", "failed", "; ".join(problems))
    full = _full_paths(tree.tree_size)
    if ctx.edge().has_edge is False or not full:
        return Verdict("cache", "passed", "Cache-Control per the tiles table; no hit rate read")
    ctx.client.map(lambda p: answered_by(ctx.client, p, release=tree.release), full)
    found = steady_miss_ratio(ctx.client, full)
    if not found.reported:
        return Verdict("cache", "passed", "no cache status reported: the hit rate is not measured")
    return judge_misses(ctx, found)


def consistency(ctx: Context) -> Verdict:
    tiled, _ = _tree(ctx, "edge")

    def prove(recorded: Tree, served: Tree) -> str:
        problem = tiles_extends_problem(tiled, recorded, lambda: _tree(ctx, "origin")[0])
        if problem is not None:
            raise ProofError(problem)
        return f"{served.describe()} extends {recorded.describe()} (from the tiles)"

    return over_time(ctx, prove)


def _checkpoint(ctx: Context) -> Verdict:
    response = ctx.client.get(PATH_CHECKPOINT, view="edge", shared=True)
    if server_error([response]) is not None:
        return Verdict("checkpoint", "inconclusive", f"edge: {UNJUDGED_5XX}")
    return v1_checkpoint(ctx, path=PATH_CHECKPOINT)


CHECKS_TILES: dict[str, Callable[[Context], Verdict]] = {
    "health": health,
    "root": unjudged(root, "root"),
    "checkpoint": _checkpoint,
    "inclusion": unjudged(inclusion, "inclusion"),
    "parity": unjudged(parity, "parity"),
    "cache": unjudged(cache, "cache"),
    "consistency": unjudged(consistency, "consistency"),
}
