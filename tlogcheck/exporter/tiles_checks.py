"""The checks of a probe of a C2SP tiled log (`api: tiles`), as the suite holds one.

The target is the log's prefix (`<prefix>/checkpoint`, `<prefix>/tile/...`); tiles are
read and checked by `verify.tiles.TileReader` and `tlogcheck.tiles.TiledTree`, the
suite's own reader, and judged by the rules the suite's tiles checks call
(`verify.tiles_rules`, `verify.cache`):

- `health`: the checkpoint answers 200 within the timeout on both views; `/healthz`
  where it is served (a tiled log need not serve one);
- `root`: the root rebuilt from the right-edge tiles is the checkpoint's;
- `checkpoint`: a signed note that verifies with the module's keys;
- `inclusion`: the newest entries and a seeded sample, from their bundles, hash up to
  the checkpoint;
- `parity`: edge and origin serve one checkpoint, or as a lagging edge or a canary may
  (`judge_one_log`: API v1's parity rule, the proofs from tiles), whether or not the
  edge leaves a sign of itself;
- `cache`: the checkpoint and tiles carry the Cache-Control of a tiled log, and full
  tiles read through the edge reach a steady-state miss ratio within the line;
- `consistency`: the checkpoint's tree extends the one remembered, proved from tiles
  (`judge_extends`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tlogcheck import tiles
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.exporter.checks import (
    VIEWS,
    cache_control,
    hit_rate,
    newest_and_sample,
    over_time,
    read_tree,
)
from tlogcheck.exporter.checks import checkpoint as v1_checkpoint
from tlogcheck.exporter.context import Context, combine, guarded
from tlogcheck.spec import PATH_HEALTH
from tlogcheck.tiles import TiledTree
from tlogcheck.verify import Tree
from tlogcheck.verify.served import Verdict, finding
from tlogcheck.verify.tiles import PATH_CHECKPOINT, TileReader
from tlogcheck.verify.tiles_rules import (
    judge_checkpoint_answers,
    judge_extends,
    judge_healthz_where_served,
    judge_one_log,
)

__all__ = ["CHECKS_TILES"]

FULL_TILES = 8  # full level-0 tiles (and their bundles) the miss ratio reads


def _tree(ctx: Context, view: str) -> tuple[TiledTree, Tree]:
    """The tiled tree of a view's checkpoint, one reader a view and probe."""
    key = f"tiles:{view}"
    _, tree = read_tree(ctx, PATH_CHECKPOINT, view)
    readers = ctx.readers
    if key not in readers:
        readers[key] = TileReader(ctx.client, view=view, release=tree.release)
    return readers[key].tree(tree.tree_size, tree.root_hash), tree


def health(ctx: Context) -> Verdict:
    def one(view: str) -> Verdict:
        checkpoint = ctx.client.get(PATH_CHECKPOINT, view=view, shared=True)
        healthz = ctx.client.get(PATH_HEALTH, view=view)
        if healthz.status != 404:
            ctx.facts.healthz[view] = healthz.status
        return combine([judge_checkpoint_answers(checkpoint, ctx.client.timeout),
                        judge_healthz_where_served(healthz)])  # fmt: skip

    # A view without /healthz skips that half only: the checkpoint's answer is its health.
    return combine([guarded("health", f"{view} health", partial(one, view))
                    for view in VIEWS])  # fmt: skip


def root(ctx: Context) -> Verdict:
    tiled, tree = _tree(ctx, "edge")
    ctx.facts.tree_size["edge"] = tree.tree_size
    tiled.check_root()  # ProofError / FormatError: a finding of the root check
    return Verdict.passed(f"rebuilt from the right-edge tiles: {tree.describe()}")


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
        return Verdict.failed(
            finding("inclusion", expected=f"each index, read from its bundle, included in "
                    f"the checkpoint's {tree.describe()}",
                    served=f"{len(failures)} of {len(indices)}: " + "; ".join(failures[:3]),
                    how="proved")
        )  # fmt: skip
    return Verdict.passed(f"{len(indices)} entries in {tree.describe()}")


def parity(ctx: Context) -> Verdict:
    # Compared whatever the edge probe says, as the suite does (`verify.views.probe_edge`).
    edge_response, edge = read_tree(ctx, PATH_CHECKPOINT, "edge")
    origin_response, origin = read_tree(ctx, PATH_CHECKPOINT, "origin")
    if edge_response.body == origin_response.body:
        return Verdict.passed(f"one checkpoint: {edge.describe()}")
    edge_tiled, _ = _tree(ctx, "edge")
    return judge_one_log(
        ctx.client, edge_response, origin_response, edge, origin, edge_tiled,
        lambda: _tree(ctx, "origin")[0],
    )  # fmt: skip


def _full_paths(size: int) -> list[str]:
    full = size // tiles.TILE_WIDTH
    step = max(1, full // FULL_TILES) if full else 1
    chosen = list(range(0, full, step))[: FULL_TILES // 2]
    return ["/" + p for n in chosen for p in (tiles.tile_path(0, n), tiles.entries_path(n))]


def cache(ctx: Context) -> Verdict:
    _, tree = read_tree(ctx, PATH_CHECKPOINT, "edge")
    full = _full_paths(tree.tree_size)
    paths = [PATH_CHECKPOINT] + ["/" + t.path for t in tiles.edge_tiles(tree.tree_size)] + full
    headers = cache_control(ctx, paths, tiles.cache_problem, "the tiles table")
    return hit_rate(ctx, headers, tree.release, full)


def consistency(ctx: Context) -> Verdict:
    tiled, _ = _tree(ctx, "edge")

    def origin() -> TiledTree:  # read only when a remembered tree is ahead of the edge
        return _tree(ctx, "origin")[0]

    def extends(recorded: Tree, served: Tree) -> Verdict:
        return judge_extends(tiled, [recorded], origin, served, "the tree remembered")

    return over_time(ctx, extends)


CHECKS_TILES: dict[str, Callable[[Context], Verdict]] = {
    "health": health,
    "root": root,
    "checkpoint": lambda ctx: v1_checkpoint(ctx, path=PATH_CHECKPOINT),
    "inclusion": inclusion,
    "parity": parity,
    "cache": cache,
    "consistency": consistency,
}
