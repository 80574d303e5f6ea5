"""Faults of the tiled log (C2SP tlog-tiles) the origin serves beside API v1
(`tileserve.py` acts them out): checked with `--tlog-api tiles`."""

from __future__ import annotations

from tlogcheck.refstack.faults.doc import FaultDoc, by_name

__all__ = ["TILES"]

TILES: dict[str, FaultDoc] = by_name(
    FaultDoc(
        "tiles-corrupt-hash",
        "origin",
        "none",
        "",
        "Hash 0 of the full level-0 tile tile/0/000 is flipped (needs 256 entries or more): "
        "the tile no longer hashes to its parent in tile/1/000; checkpoint and bundles stay "
        "right.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion",),
        also=("consistency",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-corrupt-entry",
        "origin",
        "none",
        "",
        "Entry 0 of bundle tile/entries/000 is altered (one digit changed, same length): "
        "it no longer hashes to hash 0 of tile/0/000.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-corrupt-level1",
        "origin",
        "none",
        "",
        "Hash 0 of level-1 tile tile/1/000 is flipped: the root rebuilt from the right "
        "edge and every proof through it are wrong.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root", "inclusion"),
        also=("consistency",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-partial-short",
        "origin",
        "none",
        "",
        "Every partial hash tile is served one hash short (tile/0/003.p/232 holds 231 "
        "hashes): the right edge cannot be rebuilt.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root", "inclusion"),
        also=("consistency",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-checkpoint-other-key",
        "origin",
        "none",
        "",
        "/checkpoint is signed by another key of the same name (the tree is right): no "
        "signature verifies with the log's verifier key.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("checkpoint",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-checkpoint-ahead",
        "origin",
        "optional",
        "N (entries the checkpoint is ahead; default 16)",
        "/checkpoint signs the tree N entries on while the tiles and bundles served stay "
        "those of the release: the tiles the checkpoint needs answer 404.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root", "inclusion", "db"),
        also=("consistency",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-checkpoint-no-cache",
        "origin",
        "none",
        "",
        "/checkpoint is served `Cache-Control: no-cache` (what C2SP asks of a checkpoint and "
        "Tessera's buckets serve): caches revalidate it every time. The suite must pass.",
        "",
        "§3.3",
        (),
        legitimate=True,
        api="tiles",
    ),
    FaultDoc(
        "tiles-gzip-fork",
        "edge",
        "none",
        "",
        "The edge serves a tiled log's gzip readers (Accept-Encoding: gzip, as C2SP tells "
        "clients to ask) a forked log of the same size: its checkpoint validly signed by "
        "the log's key, its tiles and bundles; identity reads and X-Bypass get the honest "
        "log.",
        "TLogInclusionProofFail",
        "§1, §2.3, §3.2",
        ("parity",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-unicode-index",
        "origin",
        "none",
        "",
        "Tile and bundle paths written with digits of another script (`tile/0/00٣`, "
        "`tile/entries/٠٠٠`) are read as their ASCII spelling and served 200, as a server "
        "that parses with str.isdigit and int() would: one tile under many names.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root",),
        api="tiles",
    ),
)
