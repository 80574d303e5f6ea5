"""C2SP tlog-tiles over one release's log: `/checkpoint`, `/tile/<L>/<N>[.p/<W>]` and
`/tile/entries/<N>[.p/<W>]`, with the tiles faults.

The origin serves both APIs at once, at the same prefix: API v1 under `/v1/log/` and the
tiled log beside it, so one deployment (and one edge) is checked either way
(`--tlog-api v1|tiles`). Tiles are runs of the stored tree's levels 0, 8, 16, ..., sliced
on request; bundles are the entries' bytes with their uint16 length prefixes. A tile of
any width up to what the tree holds is served (an older checkpoint's partial tile is a
prefix of today's); wider than that is 404. Full tiles and bundles are immutable,
partial ones and the checkpoint short, as `tlogcheck.tiles.cache_problem` checks.

The tiles faults (`faults.py`, api "tiles"):

- `tiles-corrupt-hash`: hash 0 of the full level-0 tile 0 flipped;
- `tiles-corrupt-entry`: entry 0 of bundle 0 altered (as `corrupt-entry` alters it);
- `tiles-corrupt-level1`: hash 0 of level-1 tile 0 flipped;
- `tiles-partial-short`: every partial hash tile one hash short;
- `tiles-checkpoint-other-key`: the checkpoint signed by another key of the same name;
- `tiles-checkpoint-ahead[:N]`: the checkpoint is of the tree N entries on (a real tree:
  the log with N more entries), while the tiles stay those of the log served;
- `tiles-unicode-index`: tile paths with digits of another script (`tile/0/00٣`) are
  read as their ASCII spelling and served;
- `tiles-checkpoint-no-cache` (healthy): the checkpoint is served `Cache-Control:
  no-cache`, as C2SP asks and Tessera's buckets do.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Protocol

from tlogcheck import note, spec, tiles
from tlogcheck.merkle import StoredTree
from tlogcheck.refstack.data import alter_entry
from tlogcheck.refstack.faults import DEFAULT_BEHIND

__all__ = ["TILE_TYPE", "OTHER_KEY_SEED", "Log", "answer"]


class Log(Protocol):
    """What the tiles are sliced from: one release's log (`refstack.log.Log`)."""

    origin_name: str
    short: str
    size: int

    @property
    def entries(self) -> Sequence[bytes]: ...

    @property
    def tree(self) -> StoredTree: ...

    @property
    def root(self) -> bytes: ...

    def ahead(self, extra: int) -> Log: ...

    def checkpoint_body(self, faults: Mapping[str, str]) -> bytes: ...

    def short_cache(self, faults: Mapping[str, str]) -> str: ...

    def immutable_cache(self, faults: Mapping[str, str]) -> str: ...

TILE_TYPE = "application/octet-stream"
OTHER_KEY_SEED = hashlib.sha256(b"tlogcheck refstack: another signer of the same name").digest()
_HASH = 32


def _flip_first(body: bytes) -> bytes:
    return bytes([body[0] ^ 0xFF]) + body[1:] if body else body


def tile_body(log: Log, where: tiles.TilePath, faults: Mapping[str, str]) -> bytes | None:
    """The bytes at a tile or bundle path of `log`, or None when it holds no such tile."""
    size = log.size
    level = 0 if where.is_bundle else where.level
    if where.width > tiles.tile_width(level, where.index, size):
        return None
    start = where.index * tiles.TILE_WIDTH
    if where.is_bundle:
        entries = log.entries
        if start + where.width > len(entries):
            return None  # a log that announces entries it cannot serve (`truncated`)
        items = [entries[start + i] for i in range(where.width)]
        if "tiles-corrupt-entry" in faults and where.index == 0:
            items[0] = alter_entry(items[0])
        return tiles.format_bundle(items)
    body = log.tree.level_hashes(tiles.TILE_HEIGHT * level, start, where.width)
    if faults:
        first = where.index == 0
        if "tiles-corrupt-hash" in faults and level == 0 and first and where.full:
            body = _flip_first(body)
        if "tiles-corrupt-level1" in faults and level == 1 and first:
            body = _flip_first(body)
        if "tiles-partial-short" in faults and not where.full:
            body = body[:-_HASH]
    return body


def checkpoint_body(log: Log, faults: Mapping[str, str]) -> bytes:
    """The tiled log's checkpoint: the v1 checkpoint, unless a tiles fault changes it."""
    ahead = faults.get("tiles-checkpoint-ahead")
    if ahead is not None:
        log = log.ahead(int(ahead) if ahead else DEFAULT_BEHIND)
    if "tiles-checkpoint-other-key" not in faults:
        return log.checkpoint_body(faults)
    name = log.origin_name
    text = note.format_checkpoint(name, log.size, log.root)
    other, _ = note.signer_from_seed(name, OTHER_KEY_SEED)
    return note.sign_note(text, other)


def _ascii_digits(path: str) -> str:
    """`path` with every decimal digit of another script written in ASCII."""
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in path)


def answer(log: Log, path: str, faults: Mapping[str, str]) -> tuple[str, str, bytes] | None:
    """(content type, Cache-Control, body) of a tiles path, or None: not found."""
    if "tiles-unicode-index" in faults:
        path = _ascii_digits(path)
    if path == "/" + tiles.PATH_CHECKPOINT:
        cache = "no-cache" if "tiles-checkpoint-no-cache" in faults else log.short_cache(faults)
        return spec.TEXT_TYPE, cache, checkpoint_body(log, faults)
    where = tiles.parse_tile_path(path[1:])
    if where is None:
        return None
    body = tile_body(log, where, faults)
    if body is None:
        return None
    cache = log.immutable_cache(faults) if where.full else log.short
    return TILE_TYPE, cache, body
