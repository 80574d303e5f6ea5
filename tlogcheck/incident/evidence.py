"""Offline verification of an evidence bundle: what the served bytes prove by themselves.

Nothing is fetched: the bundle's responses and verifier keys are the whole input, so the
result does not depend on the misbehaving server still answering. What counts as proof:

- two checkpoints signed by the log's key with the same size and different roots: the
  log signed two different trees under one size (a split view);
- two signed checkpoints of different sizes with a served consistency proof between
  them that does not verify: the log did not show the larger extends the smaller;
- an entry and its inclusion proof that fail against a signed checkpoint of the proof's
  size: what was served is not in the tree the log signed.

- for a tiled log (C2SP tlog-tiles, `<prefix>/checkpoint`): right-edge tiles that do
  not rebuild the signed root, and tiles or bundles that do not hash up to it (a bundle
  entry that is not its level-0 hash, a full tile that is not its parent's hash), read
  from the bundle's own tiles; a tile the signed checkpoint needs recorded as 404.

The same failures against an unsigned root (`/v1/log/root`, or a checkpoint with no
key to verify it) are shown too, marked as not signature-backed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tlogcheck import merkle, note, spec, tiles
from tlogcheck.client import Response
from tlogcheck.errors import FormatError, NoteError, ProofError, TLogCheckError
from tlogcheck.incident.bundle import Bundle
from tlogcheck.tiles import TiledTree
from tlogcheck.verify import check_inclusion, read_checkpoint, read_root

TILES_CHECKPOINT = "/" + tiles.PATH_CHECKPOINT

__all__ = ["Finding", "Offline", "SignedTree", "verify_bundle"]


@dataclass(frozen=True)
class SignedTree:
    """A tree the bundle holds: its size, root, whether signed, and the response."""

    tree_size: int
    root_hash: bytes
    signed: bool
    response: Response

    def describe(self) -> str:
        kind = "signed checkpoint" if self.signed else "unsigned root"
        return (
            f"{kind} {self.tree_size}:{self.root_hash.hex()} "
            f"({self.response.view} {self.response.path})"
        )


@dataclass(frozen=True)
class Finding:
    what: str  # "split view", "inconsistent", "inclusion"
    proven: bool  # signature-backed
    detail: str

    def line(self) -> str:
        mark = "PROVEN" if self.proven else "shown (not signature-backed)"
        return f"{self.what}: {mark}: {self.detail}"


@dataclass
class Offline:
    """The result: the trees found, the checks run, and the findings."""

    trees: list[SignedTree] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.findings)


def _keys(bundle: Bundle) -> list[note.Verifier]:
    raw = bundle.meta.get("vkeys") or []
    if not isinstance(raw, list):
        raise FormatError("bundle.json: `vkeys` is not a list")
    try:
        return [note.parse_verifier_key(str(k)) for k in raw]
    except NoteError as exc:
        raise FormatError(f"bundle.json: a verifier key is malformed: {exc}") from None


def _trees(bundle: Bundle, keys: Sequence[note.Verifier], out: Offline) -> None:
    for r in bundle.responses:
        bare = r.path.partition("?")[0]
        if r.status != 200:
            continue
        try:
            if bare in (spec.PATH_CHECKPOINT, TILES_CHECKPOINT):
                if keys:
                    cp = note.verify_checkpoint(r.body, keys)
                    out.trees.append(SignedTree(cp.tree_size, cp.root_hash, True, r))
                else:
                    _, cp = read_checkpoint(r)
                    out.trees.append(SignedTree(cp.tree_size, cp.root_hash, False, r))
            elif bare == spec.PATH_ROOT:
                root = read_root(r)
                out.trees.append(SignedTree(root.tree_size, root.root_hash, False, r))
        except (NoteError, FormatError) as exc:
            out.notes.append(f"{r.view} {r.path}: not usable: {exc}")
    if not keys:
        out.notes.append("no verifier key in the bundle: nothing can be signature-backed")


def _split_views(out: Offline) -> None:
    by_size: dict[int, list[SignedTree]] = {}
    for t in out.trees:
        by_size.setdefault(t.tree_size, []).append(t)
    for size, trees in sorted(by_size.items()):
        roots = {t.root_hash for t in trees}
        out.checked.append(f"trees of size {size}: {len(trees)} seen, {len(roots)} root(s)")
        if len(roots) < 2:
            continue
        signed = [t for t in trees if t.signed]
        signed_roots = {t.root_hash for t in signed}
        pick = signed if len(signed_roots) > 1 else trees
        a = pick[0]
        b = next(t for t in pick if t.root_hash != a.root_hash)
        out.findings.append(
            Finding(
                "split view",
                len(signed_roots) > 1,
                f"two different trees of size {size}: {a.describe()} and {b.describe()}",
            )
        )


def _consistency(bundle: Bundle, out: Offline) -> None:
    for r in bundle.responses:
        if r.path.partition("?")[0] != spec.PATH_CONSISTENCY or r.status != 200:
            continue
        try:
            proof = spec.parse_consistency(r.body)
        except FormatError as exc:
            out.notes.append(f"{r.view} {r.path}: not usable: {exc}")
            continue
        olds = [t for t in out.trees if t.tree_size == proof.first]
        news = [t for t in out.trees if t.tree_size == proof.second]
        for old in olds:
            for new in news:
                what = f"consistency {proof.first} -> {proof.second}"
                try:
                    merkle.verify_consistency(
                        proof.first, proof.second, proof.path, old.root_hash, new.root_hash
                    )
                except ProofError as exc:
                    out.findings.append(
                        Finding(
                            "inconsistent",
                            old.signed and new.signed,
                            f"{old.describe()} and {new.describe()}: the served proof "
                            f"({r.view} {r.path}, sha256 {r.sha256}) does not verify: {exc}",
                        )
                    )
                else:
                    out.checked.append(f"{what}: verified")


def _inclusions(bundle: Bundle, out: Offline) -> None:
    proofs: dict[tuple[str, int, int], Response] = {}
    for r in bundle.responses:
        if r.path.startswith(spec.PATH_PROOF_PREFIX) and "tree_size=" in r.path:
            try:
                index = int(r.path[len(spec.PATH_PROOF_PREFIX) :].partition("?")[0])
                size = int(r.path.rpartition("tree_size=")[2])
            except ValueError:
                continue
            proofs[(r.view, index, size)] = r
    seen_entries: set[tuple[str, str, str]] = set()
    for entry in bundle.responses:
        if not entry.path.startswith(spec.PATH_ENTRY_PREFIX):
            continue
        key = (entry.view, entry.path, entry.sha256)
        if key in seen_entries:  # the same bytes read again prove nothing new
            continue
        seen_entries.add(key)
        try:
            index = int(entry.path[len(spec.PATH_ENTRY_PREFIX) :])
        except ValueError:
            continue
        for (view, i, size), proof in proofs.items():
            if (view, i) != (entry.view, index):
                continue
            distinct: dict[tuple[bytes, bool], SignedTree] = {}
            for t in out.trees:
                if t.tree_size == size:
                    distinct.setdefault((t.root_hash, t.signed), t)
            trees = sorted(distinct.values(), key=lambda t: not t.signed)
            for tree in trees:
                result = check_inclusion(index, size, tree.root_hash, entry, proof)
                if result.ok:
                    kind = "signed checkpoint" if tree.signed else "unsigned root"
                    out.checked.append(f"entry {index} ({view}) in the {kind} {size}: verified")
                    continue
                out.findings.append(
                    Finding(
                        "inclusion",
                        tree.signed,
                        f"entry {index} as served ({view}, body sha256 {entry.sha256}) "
                        f"against {tree.describe()}: {result.problem}",
                    )
                )
                break


class _NotRecorded(Exception):
    """A tile the offline reading needs is not in the bundle."""


def _tile_fetch(bundle: Bundle, view: str) -> Callable[[str], bytes | None]:
    recorded = {
        r.path[1:]: r for r in bundle.responses if r.view == view and r.path.startswith("/tile/")
    }

    def fetch(path: str) -> bytes | None:
        r = recorded.get(path)
        if r is None or r.status not in (200, 404):
            raise _NotRecorded(path)
        return None if r.status == 404 else r.body

    return fetch


def _tiled(bundle: Bundle, out: Offline) -> None:
    done: set[tuple[str, int, bytes]] = set()
    checkpoints = [t for t in out.trees if t.response.path.partition("?")[0] == TILES_CHECKPOINT]
    for tree in sorted(checkpoints, key=lambda t: not t.signed):
        view = tree.response.view
        if (view, tree.tree_size, tree.root_hash) in done:
            continue
        done.add((view, tree.tree_size, tree.root_hash))
        tiled = TiledTree(_tile_fetch(bundle, view), tree.tree_size, tree.root_hash)
        try:
            tiled.check_root()
        except _NotRecorded as exc:
            out.notes.append(f"{tree.describe()}: tile {exc} is not in the bundle: not rebuilt")
            continue
        except (ProofError, FormatError) as exc:
            out.findings.append(Finding("tiles", tree.signed, f"{tree.describe()}: {exc}"))
            continue
        out.checked.append(f"tiles of {tree.describe()}: root rebuilt from the right edge")
        read: set[tuple[str, str]] = set()
        for r in bundle.responses:
            where = tiles.parse_tile_path(r.path[1:]) if r.view == view else None
            if where is None or not where.is_bundle or r.status != 200:
                continue
            if (r.path, r.sha256) in read:  # the same bytes read again prove nothing new
                continue
            read.add((r.path, r.sha256))
            if where.width != tiles.tile_width(0, where.index, tree.tree_size):
                continue  # a bundle of another tree size
            try:
                tiled.entries(where.index)
            except _NotRecorded as exc:
                out.notes.append(f"{r.path}: tile {exc} is not in the bundle: not verified")
            except (ProofError, FormatError) as exc:
                detail = f"{view} {r.path} (sha256 {r.sha256}) against {tree.describe()}: {exc}"
                out.findings.append(Finding("inclusion", tree.signed, detail))
            else:
                out.checked.append(f"{r.path} ({view}) in {tree.describe()}: verified")


def verify_bundle(bundle: Bundle) -> Offline:
    """Re-run the verification from the bundle alone. FormatError: the bundle is unusable."""
    out = Offline()
    keys = _keys(bundle)
    if bundle.truncated:
        out.notes.append(f"{bundle.truncated} response(s) cut at the size cap: not verified")
    try:
        _trees(bundle, keys, out)
        _split_views(out)
        _consistency(bundle, out)
        _inclusions(bundle, out)
        _tiled(bundle, out)
    except TLogCheckError as exc:  # a parser's complaint about stored bytes
        raise FormatError(f"bundle {bundle.path}: {exc}") from None
    return out
