"""C2SP tlog-tiles: paths, tile arithmetic, bundles, and proofs computed from checked tiles.

Pure and pytest-free: a `TiledTree` reads tiles through a `fetch(path) -> bytes` callable
(the network layer lives in `tlogcheck.verify.tiles`), and checks every tile it reads:

- a tile is 32 × width bytes, its width fixed by the tree size (⌊s/256^L⌋ − 256·N, at
  most 256);
- a full tile hashes (as the 8 levels it spans) to its parent's hash in the level above
  (every full tile has a parent: its 256 hashes close a node one tile level up);
- partial tiles are the right edge: they are held to the checkpoint by rebuilding the
  root from them (`check_root`);
- every entry bundle read hashes entry by entry (SHA-256(0x00 ‖ entry)) to its level-0
  tile.

Proofs are RFC 9162 §2.1.3.1 / §2.1.4.1 paths built from those hashes and verified with
`tlogcheck.merkle`, so a wrong hash anywhere fails with the tile path named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tlogcheck import spec
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
# The spec caps entries at 2^16 − 1 bytes (uint16 length), so a full bundle is bounded.
MAX_ENTRY = (1 << 16) - 1

# The body at a path, or None when the log answers 404 (any other failure raises).
Fetch = Callable[[str], "bytes | None"]

# Paths relative to the log's prefix.
PATH_CHECKPOINT = "checkpoint"
ENTRIES_LEVEL = -1  # `TilePath.level` of an entry bundle
# Full tiles and bundles never change: at least a day in every cache on the way.
LONG_MAX_AGE = 86400


def encode_index(n: int) -> str:
    """A tile index as the spec's path: 3-digit groups, `x` on all but the last.

    >>> encode_index(1234067)
    'x001/x234/067'
    """
    if n < 0:
        raise ValueError(f"tile index must be >= 0, got {n}")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def _width_suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width must be 1..{TILE_WIDTH}, got {width}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]`, relative to the log's prefix."""
    if level < 0:
        raise ValueError(f"tile level must be >= 0, got {level}")
    return f"tile/{level}/{encode_index(index)}{_width_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """`tile/entries/<N>[.p/<W>]`, relative to the log's prefix."""
    return f"tile/entries/{encode_index(index)}{_width_suffix(width)}"


@dataclass(frozen=True)
class TilePath:
    """A tile or bundle path read back: level (`ENTRIES_LEVEL` for a bundle), index, width."""

    level: int
    index: int
    width: int

    @property
    def is_bundle(self) -> bool:
        return self.level == ENTRIES_LEVEL

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH


def _decode_index(groups: list[str]) -> int | None:
    if not groups:
        return None
    digits = [g[1:] for g in groups[:-1]] + [groups[-1]]
    if any(not g.startswith("x") for g in groups[:-1]):
        return None
    if any(len(d) != 3 or not d.isascii() or not d.isdigit() for d in digits):
        return None
    n = int("".join(digits))
    # One spelling per index: no leading x000 groups.
    return n if encode_index(n) == "/".join(groups) else None


def parse_tile_path(path: str) -> TilePath | None:
    """`tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` (no leading slash), or None
    when `path` is not one spelled as the spec spells it."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        return None
    width = TILE_WIDTH
    if len(parts) >= 4 and parts[-2].endswith(".p"):
        w = parts[-1]
        if not w.isascii() or not w.isdigit() or w[0] == "0" or int(w) >= TILE_WIDTH:
            return None
        width = int(w)
        parts = [*parts[:-2], parts[-2][:-2]]
    if parts[1] == "entries":
        level = ENTRIES_LEVEL
    elif parts[1].isascii() and parts[1].isdigit() and (parts[1] == "0" or parts[1][0] != "0"):
        level = int(parts[1])
        if level > 63:
            return None
    else:
        return None
    index = _decode_index(parts[2:])
    return None if index is None else TilePath(level, index, width)


def malformed_tile_paths(path: str, other_digits: str) -> list[str]:
    """Spellings of the tile or bundle at `path` (canonical, no leading slash) that C2SP
    does not write, each of which a log must refuse (never 200): every digit in turn
    written in another script (from `other_digits`, taken in turn), a width or level with
    a sign or a space, the index unpadded, padded once more, or behind an `x000` group."""
    parts = path.split("/")
    out: list[str] = []
    digits = [i for i, c in enumerate(path) if c.isdigit()]
    for n, i in enumerate(digits):
        foreign = other_digits[(n * 10 + int(path[i])) % len(other_digits)]
        if foreign.isdigit() and foreign != path[i]:
            out.append(path[:i] + foreign + path[i + 1 :])
    last = parts[-1]
    out += [
        "/".join([*parts[:-1], f"+{last}"]),
        "/".join([*parts[:-1], f" {last}"]),
        "/".join([*parts[:-1], f"{last} "]),
        "/".join([*parts[:-1], f"0{last}"]),
        "/".join([parts[0], f"+{parts[1]}", *parts[2:]]) if parts[1] != "entries" else path + "/",
    ]
    if ".p" not in path:
        index = parts[2:]
        out.append("/".join([parts[0], parts[1], "x000", *index]))
        out.append("/".join([parts[0], parts[1], *index[:-1], str(int(index[-1]))]))
    return [p for p in dict.fromkeys(out) if p != path]


def cache_problem(path: str, value: str | None) -> str | None:
    """What is wrong with `value` as the Cache-Control of a 200 for tiled-log `path`.

    Full tiles and bundles are long-lived and immutable (max-age >= LONG_MAX_AGE); partial
    tiles and the checkpoint are cached briefly (max-age <= spec.SHORT_MAX_AGE, never
    immutable), so a cache never keeps a tree the log has grown past — or not at all
    without asking: `no-cache` is what C2SP asks of a checkpoint and what Tessera's
    buckets serve.
    """
    parsed = parse_tile_path(path.lstrip("/"))
    if parsed is None or not parsed.full:
        return spec.short_cache_problem(
            value, "a partial tile or the checkpoint", no_cache_ok=True
        )
    cc = spec.parse_cache_control(value)
    shown = "no Cache-Control header" if value is None else f"Cache-Control: {value}"
    age = spec.max_age(value)
    if "immutable" not in cc or "no-store" in cc or "no-cache" in cc:
        return f"{shown}; a full tile or bundle never changes: expected immutable"
    if age is None or age < LONG_MAX_AGE:
        return f"{shown}; expected max-age >= {LONG_MAX_AGE} for a full tile or bundle"
    return None


def tile_width(level: int, index: int, size: int) -> int:
    """Hashes in tile (level, index) of a tree of `size` leaves; 0 if it has none yet."""
    nodes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, nodes - TILE_WIDTH * index))


def partial_width(level: int, size: int) -> int:
    """Width of the partial tile at `level` for `size` (⌊s/256^L⌋ mod 256; 0: none)."""
    return (size >> (TILE_HEIGHT * level)) % TILE_WIDTH


@dataclass(frozen=True)
class Tile:
    """One tile a tree of some size needs: where it is and how many hashes it holds."""

    level: int
    index: int
    width: int

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH


def tiles_for_size(size: int) -> list[Tile]:
    """Every tile a tree of `size` leaves is stored in, level 0 first."""
    tiles: list[Tile] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        nodes = size >> (TILE_HEIGHT * level)
        for index in range((nodes + TILE_WIDTH - 1) // TILE_WIDTH):
            tiles.append(Tile(level, index, tile_width(level, index, size)))
        level += 1
    return tiles


def edge_tiles(size: int) -> list[Tile]:
    """The right-edge tiles the root of `size` is rebuilt from: one per level, partial
    where the level has a partial tile, else the last full one (levels with any node)."""
    tiles: list[Tile] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        nodes = size >> (TILE_HEIGHT * level)
        index = (nodes - 1) // TILE_WIDTH
        tiles.append(Tile(level, index, tile_width(level, index, size)))
        level += 1
    return tiles


def paths_for_entry(index: int, size: int) -> list[str]:
    """What reading entry `index` of a tree of `size` needs first: its bundle, its level-0
    tile and the tiles above it (each full tile is checked against its parent). The
    proof's other tiles are the right edge's (`edge_tiles`) and neighbours in these."""
    if not 0 <= index < size:
        return []
    bundle = index // TILE_WIDTH
    paths = [entries_path(bundle, tile_width(0, bundle, size))]
    level, n = 0, bundle
    while (width := tile_width(level, n, size)) > 0:
        paths.append(tile_path(level, n, width))
        level, n = level + 1, n // TILE_WIDTH
    return paths


def parse_tile(data: bytes, width: int, path: str) -> list[bytes]:
    """The hashes of a tile; its length must be exactly 32 × width."""
    if len(data) != HASH_SIZE * width:
        raise FormatError(
            f"{path}: {len(data)} bytes, a tile of width {width} is {HASH_SIZE * width}"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def parse_bundle(data: bytes, width: int, path: str) -> list[bytes]:
    """The entries of a bundle: each a big-endian uint16 length, then that many bytes."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(entries) == width:
            raise FormatError(
                f"{path}: {len(data) - pos} byte(s) after the {width} entries of the bundle"
            )
        if pos + 2 > len(data):
            raise FormatError(f"{path}: entry {len(entries)} has a truncated length prefix")
        n = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + n > len(data):
            raise FormatError(
                f"{path}: entry {len(entries)} says {n} bytes, {len(data) - pos} are left"
            )
        entries.append(data[pos : pos + n])
        pos += n
    if len(entries) != width:
        raise FormatError(f"{path}: {len(entries)} entries, the bundle's width is {width}")
    return entries


def format_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries as a bundle (the serving side and the fixtures)."""
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY:
            raise ValueError(f"entry of {len(e)} bytes is over the {MAX_ENTRY}-byte limit")
        out += len(e).to_bytes(2, "big") + e
    return bytes(out)


def reduce_hashes(hashes: Sequence[bytes]) -> bytes:
    """The node a power-of-two run of same-level hashes closes (pairwise, level by level)."""
    level = list(hashes)
    if not level or len(level) & (len(level) - 1):
        raise ValueError(f"need a power-of-two count of hashes, got {len(level)}")
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def build_tiles(entries: Sequence[bytes], size: int | None = None) -> dict[str, bytes]:
    """Every tile and bundle of the first `size` entries, keyed by path (no checkpoint).

    For serving and fixtures: full tiles are the same for every larger size; partial
    tiles and bundles are those of `size` only.
    """
    size = len(entries) if size is None else size
    out: dict[str, bytes] = {}
    level_hashes = [leaf_hash(e) for e in entries[:size]]
    for t in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        chunk = entries[t * TILE_WIDTH : min(size, (t + 1) * TILE_WIDTH)]
        out[entries_path(t, len(chunk))] = format_bundle(chunk)
    level = 0
    while level_hashes:
        parents: list[bytes] = []
        for t in range((len(level_hashes) + TILE_WIDTH - 1) // TILE_WIDTH):
            chunk = level_hashes[t * TILE_WIDTH : (t + 1) * TILE_WIDTH]
            out[tile_path(level, t, len(chunk))] = b"".join(chunk)
            if len(chunk) == TILE_WIDTH:
                parents.append(reduce_hashes(chunk))
        level_hashes = parents
        level += 1
    return out


def _prefix(full: bytes, width: int, path: str, full_path: str) -> bytes:
    """The first `width` items of a full tile or bundle served in place of a partial one."""
    if full_path.startswith("tile/entries/"):
        entries = parse_bundle(full, TILE_WIDTH, full_path)
        return format_bundle(entries[:width])
    return b"".join(parse_tile(full, TILE_WIDTH, full_path)[:width])


class TiledTree:
    """The tree of a checkpoint's size, read from tiles through `fetch`, every tile checked.

    `fetch(path)` returns the body, None for a 404, or raises (`TargetUnreachable` when
    it could not ask). A partial tile or bundle the log no longer serves is read from its
    full successor, as the spec lets logs delete partials; a tile the checkpoint needs
    that is served in neither form is the log promising what it does not serve.
    Tiles are read once per tree.

    `tile_size` (default `size`) is the size whose tiles are read: a tree remembered from
    earlier is read from the tiles of the latest checkpoint, since every complete subtree
    of the old tree is a node of the new one, while the old partial tiles may be gone.
    """

    def __init__(self, fetch: Fetch, size: int, root: bytes, tile_size: int | None = None) -> None:
        tile_size = size if tile_size is None else tile_size
        if not 0 <= size <= tile_size:
            raise ValueError(f"need 0 <= tree size {size} <= tile size {tile_size}")
        self.size = size
        self.tile_size = tile_size
        self.root = root
        self._fetch = fetch
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self._bundles: dict[int, list[bytes]] = {}
        self.paths_read: list[str] = []

    # -- tiles ---------------------------------------------------------------------------

    def _get(self, path: str, full_path: str, width: int) -> bytes:
        self.paths_read.append(path)
        data = self._fetch(path)
        if data is None and width < TILE_WIDTH:
            self.paths_read.append(full_path)
            full = self._fetch(full_path)
            if full is not None:
                return _prefix(full, width, path, full_path)
        if data is None:
            raise FormatError(
                f"{path}: HTTP 404, but the checkpoint at size {self.tile_size} needs it: the log "
                "promises what it does not serve"
            )
        return data

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile (level, index) at this size, fetched and checked."""
        key = (level, index)
        hashes = self._tiles.get(key)
        if hashes is not None:
            return hashes
        width = tile_width(level, index, self.tile_size)
        if width == 0:
            raise ValueError(f"tile {level}/{index} holds nothing at tree size {self.tile_size}")
        path = tile_path(level, index, width)
        hashes = parse_tile(self._get(path, tile_path(level, index), width), width, path)
        if width == TILE_WIDTH:
            parent_index, slot = divmod(index, TILE_WIDTH)
            parent = self.tile(level + 1, parent_index)
            got = reduce_hashes(hashes)
            if got != parent[slot]:
                parent_path = tile_path(level + 1, parent_index, len(parent))
                raise ProofError(
                    f"{path} hashes to {got.hex()}, but {parent_path} holds "
                    f"{parent[slot].hex()} at [{slot}]"
                )
        self._tiles[key] = hashes
        return hashes

    def node(self, height: int, index: int) -> bytes:
        """The hash of the complete subtree of 2^height leaves number `index`."""
        level, rest = divmod(height, TILE_HEIGHT)
        first = index << rest
        tile_index, offset = divmod(first, TILE_WIDTH)
        hashes = self.tile(level, tile_index)
        run = hashes[offset : offset + (1 << rest)]
        if len(run) != 1 << rest:
            raise ValueError(f"node {height}/{index} is not complete at size {self.tile_size}")
        return run[0] if rest == 0 else reduce_hashes(run)

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]), `start` aligned to the largest power of two <= end − start."""
        parts: list[bytes] = []
        pos, rest = start, end - start
        while rest:
            height = rest.bit_length() - 1
            parts.append(self.node(height, pos >> height))
            pos += 1 << height
            rest -= 1 << height
        digest = parts.pop()
        while parts:
            digest = node_hash(parts.pop(), digest)
        return digest

    def entries(self, bundle_index: int) -> list[bytes]:
        """Bundle `bundle_index` at this size, each entry checked against its level-0 tile."""
        cached = self._bundles.get(bundle_index)
        if cached is not None:
            return cached
        width = tile_width(0, bundle_index, self.tile_size)
        if width == 0:
            raise ValueError(f"bundle {bundle_index} holds nothing at tree size {self.tile_size}")
        path = entries_path(bundle_index, width)
        data = self._get(path, entries_path(bundle_index), width)
        entries = parse_bundle(data, width, path)
        hashes = self.tile(0, bundle_index)
        for i, (entry, want) in enumerate(zip(entries, hashes, strict=True)):
            got = leaf_hash(entry)
            if got != want:
                raise ProofError(
                    f"{path}: entry {i} (leaf {bundle_index * TILE_WIDTH + i}) hashes to "
                    f"{got.hex()}, {tile_path(0, bundle_index, width)} holds {want.hex()}"
                )
        self._bundles[bundle_index] = entries
        return entries

    # -- the checkpoint's promises -------------------------------------------------------

    def rebuilt_root(self) -> bytes:
        """The root rebuilt from the right-edge tiles."""
        return EMPTY_ROOT if self.size == 0 else self.subtree(0, self.size)

    def check_root(self) -> None:
        """The root rebuilt from the tiles must be the checkpoint's."""
        got = self.rebuilt_root()
        if got != self.root:
            edge = ", ".join(t.path for t in edge_tiles(self.tile_size))
            raise ProofError(
                f"root rebuilt from the tiles ({edge}) is {got.hex()}, the checkpoint at "
                f"size {self.size} says {self.root.hex()}"
            )

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf-side first, from tiles."""
        size = self.size
        if not 0 <= index < size:
            raise IndexError(f"leaf index {index} outside 0..{size - 1}")
        path: list[bytes] = []
        inner = (index ^ (size - 1)).bit_length()
        for height in range(inner - 1):
            path.append(self.node(height, (index >> height) ^ 1))
        if inner:
            height = inner - 1
            start = ((index >> height) ^ 1) << height
            path.append(self.subtree(start, min(start + (1 << height), size)))
        for height in range(inner, size.bit_length()):
            if index >> height & 1:
                path.append(self.node(height, (index >> height) ^ 1))
        return path

    def consistency_proof(self, size1: int) -> list[bytes]:
        """PROOF(size1, D[size]) of RFC 9162 §2.1.4.1, from tiles."""
        if not 0 < size1 <= self.size:
            raise IndexError(f"consistency needs 0 < {size1} <= {self.size}")
        proof: list[bytes] = []
        start, end, m, complete = 0, self.size, size1, True
        while m != end - start:
            k = 1 << ((end - start - 1).bit_length() - 1)
            if m <= k:
                proof.append(self.subtree(start + k, end))
                end = start + k
            else:
                proof.append(self.subtree(start, start + k))
                start += k
                m -= k
                complete = False
        if not complete:
            proof.append(self.subtree(start, end))
        proof.reverse()
        return proof

    def verify_entry(self, index: int) -> bytes:
        """Entry `index` from its bundle, proven included in the checkpoint's root."""
        if not 0 <= index < self.size:
            raise ProofError(f"leaf index {index} >= tree size {self.size}")
        bundle_index, slot = divmod(index, TILE_WIDTH)
        entry = self.entries(bundle_index)[slot]
        verify_inclusion(leaf_hash(entry), index, self.size, self.inclusion_proof(index), self.root)
        return entry

    def verify_extends(self, size1: int, root1: bytes) -> None:
        """This tree extends (size1, root1): a consistency proof from the tiles verifies."""
        if size1 == 0:
            if root1 != EMPTY_ROOT:
                raise ProofError(f"a tree of size 0 has root {EMPTY_ROOT.hex()}, not {root1.hex()}")
            return
        if size1 > self.size:
            raise ProofError(f"tree size {size1} known, the checkpoint is at {self.size}")
        verify_consistency(size1, self.size, self.consistency_proof(size1), root1, self.root)
