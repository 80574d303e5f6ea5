"""A tiled log's bundle (C2SP tlog-tiles), verified offline against its checkpoints.

Tiles and entry bundles are unsigned: what they show is SHOWN. For each checkpoint the
bundle holds (the most trusted first), the root is rebuilt from the right-edge tiles the
same endpoint served as claims (a 200 of the tile's canonical path, asked as a read),
then every entry bundle it served for that tree is read through those tiles up to the
root. A tile that does not rebuild the root, a full tile that is not its parent's hash,
a bundle entry that is not its level-0 hash, a tile of the wrong length: SHOWN, against
the checkpoint. A tile the reading needs that the run never got as a claim (not asked,
or answered 404: an absence is not a statement) is a note.

Once a root is rebuilt, the level-0 hashes read under it are the leaves the signed tree
holds (`openings`): two signed trees of one log that hold different leaves at one index
cannot both be true.
"""

from __future__ import annotations

from collections.abc import Sequence

from tlogcheck import merkle, tiles
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.incident.claims import SHOWN, Finding, Offline, Read
from tlogcheck.incident.signed import Tree
from tlogcheck.tiles import TiledTree

__all__ = ["Openings", "check_tiles"]

# Per tree (`Tree.ident`): index -> the leaf hashes opened there, each with where it was
# read, the endpoint (`Read.source`) that served the proof, and whether it was a claim.
Opened = tuple[bytes, str, str, bool]
Openings = dict[tuple[int, bytes, str, str | None, str | None], dict[int, list[Opened]]]


class _Missing(Exception):
    """A tile the offline reading needs is not in the bundle as a claim."""


def _fetch(recorded: dict[str, list[Read]]) -> tiles.Fetch:
    refused: list[str] = []  # partials answered 404, read from their full tile instead

    def fetch(path: str) -> bytes | None:
        reads = recorded.get(path, [])
        for r in reads:
            if r.claim:
                refused.clear()
                return r.response.body
        where = tiles.parse_tile_path(path)
        absent = any(r.response.status == 404 for r in reads)
        if absent and where is not None and not where.full:
            refused.append(path)
            return None  # a partial the log deleted: read from its full tile (the spec)
        before = f"{refused[-1]} answered 404 and " if refused else ""
        if absent:
            raise _Missing(f"{before}{path} answered 404 in the run: an absence is not a claim")
        if reads:
            raise _Missing(f"{before}{path} was recorded, never as a claim ({reads[0].why_not})")
        why = " (an absence is not a claim)" if refused else ""
        raise _Missing(f"{before}{path} is not in the bundle{why}")

    return fetch


def _bundles(tree: Tree, tiled: TiledTree, reads: list[Read], out: Offline) -> None:
    seen: set[tuple[str, str]] = set()
    for r in reads:
        where = r.tile
        if where is None or not where.is_bundle or not r.claim:
            continue
        if where.width != tiles.tile_width(0, where.index, tree.size):
            continue  # a bundle of another tree size
        if (r.response.path, r.response.sha256) in seen:  # the same bytes say it once
            continue
        seen.add((r.response.path, r.response.sha256))
        path = r.response.path[1:]
        try:
            hashes = tiled.tile(0, where.index)
            entries = tiles.parse_bundle(r.response.body, where.width, path)
            for i, (entry, want) in enumerate(zip(entries, hashes, strict=True)):
                got = merkle.leaf_hash(entry)
                if got != want:
                    raise ProofError(
                        f"{path}: entry {i} (leaf {where.index * tiles.TILE_WIDTH + i}) "
                        f"hashes to {got.hex()}, the tile under the root holds {want.hex()}"
                    )
        except _Missing as exc:
            out.notes.append(f"{r.where()}: not verified: {exc}")
        except (ProofError, FormatError, ValueError) as exc:
            out.findings.append(
                Finding(
                    SHOWN,
                    "inclusion",
                    f"{r.where()}, read against {tree.describe()}: {exc}{r.caveat()}",
                    tree.basis(),
                    tree.rank,
                )
            )
        else:
            out.checked.append(f"{r.response.path} ({r.response.view}) in {tree.describe()}")


def _open(tree: Tree, tiled: TiledTree, reads: list[Read], openings: Openings) -> None:
    """The leaves under a rebuilt root, from the level-0 tiles the endpoint served."""
    held = openings.setdefault(tree.ident, {})
    for r in reads:
        where = r.tile
        if where is None or where.level != 0 or not r.claim:
            continue
        if tiles.tile_width(0, where.index, tree.size) == 0:
            continue
        try:
            hashes = tiled.tile(0, where.index)
        except (_Missing, ProofError, FormatError, ValueError):
            continue  # shown or noted where the tree was read
        for i, leaf in enumerate(hashes):
            held.setdefault(where.index * tiles.TILE_WIDTH + i, []).append(
                (leaf, r.where(), r.source, r.claim)
            )


def check_tiles(
    reads: Sequence[Read], trees: Sequence[Tree], out: Offline, openings: Openings
) -> None:
    """Rebuild each tiled checkpoint from its endpoint's tiles, then read its bundles."""
    by_source: dict[str, dict[str, list[Read]]] = {}
    for r in reads:
        if r.tile is not None:
            by_source.setdefault(r.source, {}).setdefault(r.response.path[1:], []).append(r)
    done: set[tuple[str, int, bytes]] = set()
    for tree in sorted((t for t in trees if t.read.tiles_checkpoint), key=lambda t: t.rank):
        source = tree.read.source
        if (source, tree.size, tree.root) in done:
            continue
        done.add((source, tree.size, tree.root))
        recorded = by_source.get(source, {})
        tiled = TiledTree(_fetch(recorded), tree.size, tree.root)
        try:
            tiled.check_root()
        except _Missing as exc:
            out.notes.append(f"{tree.describe()}: not rebuilt: {exc}")
            continue
        except (ProofError, FormatError, ValueError) as exc:
            out.findings.append(
                Finding(SHOWN, "tiles", f"{tree.describe()}: {exc}", tree.basis(), tree.rank)
            )
            continue
        out.checked.append(f"tiles of {tree.describe()}: root rebuilt from the right edge")
        mine = [r for rs in recorded.values() for r in rs]
        _bundles(tree, tiled, mine, out)
        _open(tree, tiled, mine, openings)
