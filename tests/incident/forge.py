"""Evidence bundles made by hand, as an attacker (or a careless author) would make them:
genuine signed checkpoints of a log, and beside them whatever bytes one likes, written
with the tool's own recorder so the manifest is right."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import httpx

from tlogcheck import note, spec, tiles
from tlogcheck.client import Purpose, Response
from tlogcheck.client.purpose import READ
from tlogcheck.incident.bundle import Recorder, write_bundle
from tlogcheck.merkle import StoredTree

ORIGIN = "tlog.example.com/log"
# The log's key, and another key of the same name (what an attacker can make).
SIGNER, VKEY = note.signer_from_seed(ORIGIN, b"\x11" * 32)
OTHER_SIGNER, OTHER_VKEY = note.signer_from_seed(ORIGIN, b"\x22" * 32)

ENTRIES = [json.dumps({"n": i, "v": "entry"}).encode() for i in range(16)]
# A fork: the same log with entry 3 changed.
FORKED = [*ENTRIES[:3], b'{"n": 3, "v": "rewritten"}', *ENTRIES[4:]]

_UNSET = Purpose(READ)


def checkpoint(
    entries: Sequence[bytes],
    size: int | None = None,
    *,
    origin: str = ORIGIN,
    signers: Sequence[str] = (SIGNER,),
) -> bytes:
    size = len(entries) if size is None else size
    root = StoredTree.from_entries(entries).root(size)
    return note.sign_note(note.format_checkpoint(origin, size, root), *signers)


def root_body(entries: Sequence[bytes], size: int | None = None) -> bytes:
    size = len(entries) if size is None else size
    root = StoredTree.from_entries(entries).root(size)
    return json.dumps(
        {"tree_size": size, "root_hash": root.hex(), "timestamp": "2025-01-01T00:00:00Z"}
    ).encode()


def proof_body(entries: Sequence[bytes], index: int, size: int | None = None) -> bytes:
    tree = StoredTree.from_entries(entries)
    size = len(entries) if size is None else size
    return json.dumps(
        {
            "leaf_index": index,
            "tree_size": size,
            "leaf_hash": tree.leaf_hash(index).hex(),
            "audit_path": [h.hex() for h in tree.inclusion_proof(index, size)],
        }
    ).encode()


def consistency_body(entries: Sequence[bytes], first: int, second: int) -> bytes:
    tree = StoredTree.from_entries(entries)
    path = [h.hex() for h in tree.consistency_proof(first, second)]
    return json.dumps({"first": first, "second": second, "consistency_path": path}).encode()


def answer(
    path: str,
    body: bytes,
    *,
    status: int = 200,
    view: str = "edge",
    purpose: Purpose | None = _UNSET,
    base: str = "https://tlog.example.com",
) -> Response:
    """One recorded answer; asked as a read unless said otherwise (None: no purpose)."""
    return Response(
        url=base + path.partition("?")[0],
        path=path,
        view=view,
        status=status,
        headers=httpx.Headers({"content-type": "application/json"}),
        body=body,
        elapsed=0.0,
        purpose=Purpose(READ, "forged") if purpose is _UNSET else purpose,
    )


def read_of(
    entries: Sequence[bytes], index: int, size: int | None = None, **kw: object
) -> list[Response]:
    """What an inclusion read of `index` records: the entry and its proof."""
    size = len(entries) if size is None else size
    return [
        answer(spec.entry_path(index), entries[index], **kw),  # type: ignore[arg-type]
        answer(spec.proof_path(index, size), proof_body(entries, index, size), **kw),  # type: ignore[arg-type]
    ]


def tiles_answers(entries: Sequence[bytes], *, view: str = "edge") -> list[Response]:
    """Every tile and bundle of a tiled log of `entries`, as served."""
    return [answer("/" + p, b, view=view) for p, b in tiles.build_tiles(entries).items()]


def write(
    directory: Path,
    responses: Sequence[Response],
    *,
    vkeys: Sequence[str] = (),
    old_format: bool = False,
) -> Path:
    """The responses as a bundle, its manifest right. `old_format`: as the first format
    wrote them, with no purposes."""
    recorder = Recorder()
    for r in responses:
        recorder(r)
    out = write_bundle(directory, recorder, target={}, vkeys=list(vkeys), verdicts=[])
    if old_format:
        meta = json.loads((out / "bundle.json").read_text())
        meta["format"] = "tlogcheck-evidence/1"
        for rec in meta["responses"]:
            del rec["purpose"]
        _rewrite(out, meta)
    return out


def _rewrite(out: Path, meta: dict[str, object]) -> None:
    import hashlib

    data = json.dumps(meta, indent=2, sort_keys=True).encode()
    (out / "bundle.json").write_bytes(data)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["format"] = meta["format"]
    manifest["files"]["bundle.json"] = hashlib.sha256(data).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
