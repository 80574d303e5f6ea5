"""`tlogcheck evidence verify DIR`: re-run the verification from a bundle alone, offline.

What the bundle proves does not depend on the target still being there (the stance of
Go's sumdb client, which prints a proof of misbehaviour that "does not depend on the
continued availability of the misbehaving server"):

- two checkpoints of one log, both signed by a bundled verifier key, for the same tree
  size with different roots: a split view, proven by the log's own signatures;
- two signed checkpoints of different sizes and a consistency proof between them that
  the log served and that does not verify: the log is not append-only;
- an entry the log served whose inclusion proof, also served, does not lead to the root
  of a signed checkpoint of that size: what was served is not what was signed.

Without verifier keys the same is checked against the checkpoints as served, and said
to be unsigned. First of all the bundle must be the one written: every file listed in
its manifest, with its SHA-256, and nothing else (exit 2 otherwise).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlogcheck import merkle, note, spec
from tlogcheck.errors import FormatError, ProofError, TLogCheckError

__all__ = ["BadBundle", "Finding", "Verdict", "verify_bundle"]

MAX_FILE = 256 * 2**20  # no file of a bundle is read past this


class BadBundle(TLogCheckError):
    """The bundle is malformed or its files do not match its manifest."""


@dataclass(frozen=True)
class Finding:
    what: str  # "split view", "not append-only", "entry not in the signed tree"
    proof: str  # the facts, with the responses they come from


@dataclass
class Verdict:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    signed: bool = False  # whether checkpoints were verified with keys

    @property
    def confirmed(self) -> bool:
        return bool(self.findings)


@dataclass(frozen=True)
class _Record:
    view: str
    url: str
    path: str
    status: int
    body: bytes
    truncated: bool

    def describe(self) -> str:
        return f"{self.view} GET {self.path} -> {self.status} ({self.url})"


def _manifest(root: Path) -> dict[str, str]:
    path = root / "manifest.json"
    if not path.is_file():
        raise BadBundle(f"{root}: no manifest.json: not an evidence bundle")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc["files"]
        assert isinstance(files, dict) and all(isinstance(v, str) for v in files.values())
    except (ValueError, KeyError, AssertionError, UnicodeDecodeError):
        raise BadBundle(f"{path}: not a manifest (no files and their SHA-256)") from None
    return {str(k): str(v) for k, v in files.items()}


def _check_files(root: Path, files: dict[str, str]) -> None:
    present = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    extra = sorted(present - set(files))
    if extra:
        raise BadBundle(f"files not in the manifest: {', '.join(extra[:5])}")
    for name, want in sorted(files.items()):
        path = root / name
        if ".." in Path(name).parts or not path.is_file():
            raise BadBundle(f"{name}: listed in the manifest, missing from the bundle")
        if path.stat().st_size > MAX_FILE:
            raise BadBundle(f"{name}: over {MAX_FILE // 2**20} MiB, no bundle writes that")
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != want:
            raise BadBundle(f"{name}: SHA-256 {got}, the manifest says {want}: tampered with")


def _records(root: Path) -> Iterator[_Record]:
    for path in sorted((root / "responses").glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                doc: dict[str, Any] = json.loads(line)
                body = base64.b64decode(doc["body"], validate=True)
                yield _Record(
                    str(doc["view"]),
                    str(doc["url"]),
                    str(doc["path"]),
                    int(doc["status"]),
                    body,
                    bool(doc.get("truncated")),
                )
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise BadBundle(f"{path.name} line {n}: not a recorded response") from None


@dataclass(frozen=True)
class _Checkpoint:
    origin: str
    size: int
    root: bytes
    record: _Record


def _checkpoints(
    records: list[_Record], verifiers: list[note.Verifier], verdict: Verdict
) -> list[_Checkpoint]:
    out = []
    for r in records:
        if r.path != spec.PATH_CHECKPOINT or r.status != 200 or r.truncated:
            continue
        try:
            if verifiers:
                text = note.verify_note(r.body, verifiers).text
            else:
                text = note.parse_note(r.body).text
            cp = note.parse_checkpoint(text)
        except FormatError as exc:
            verdict.notes.append(f"a checkpoint that proves nothing: {exc} ({r.describe()})")
            continue
        out.append(_Checkpoint(cp.origin, cp.tree_size, cp.root_hash, r))
    return out


def _split_views(cps: list[_Checkpoint], signed: str) -> Iterator[Finding]:
    seen: dict[tuple[str, int], _Checkpoint] = {}
    told: set[tuple[str, int, bytes, bytes]] = set()
    for cp in cps:
        other = seen.setdefault((cp.origin, cp.size), cp)
        low, high = sorted((other.root, cp.root))
        pair = (cp.origin, cp.size, low, high)
        if other.root != cp.root and pair not in told:
            told.add(pair)
            yield Finding(
                "split view",
                f"two {signed} checkpoints of {cp.origin} for tree {cp.size}: root "
                f"{other.root.hex()} ({other.record.describe()}) and {cp.root.hex()} "
                f"({cp.record.describe()}); no honest log signs both",
            )


def _by_view(cps: list[_Checkpoint]) -> dict[tuple[str, int], list[_Checkpoint]]:
    """A view's proofs are about the trees that view showed: its own checkpoints."""
    out: dict[tuple[str, int], list[_Checkpoint]] = {}
    for cp in cps:
        roots = out.setdefault((cp.record.view, cp.size), [])
        if all(c.root != cp.root for c in roots):
            roots.append(cp)
    return out


def _query(path: str) -> dict[str, str]:
    _, _, query = path.partition("?")
    return dict(p.partition("=")[::2] for p in query.split("&") if p)


def _not_append_only(
    cps: list[_Checkpoint], records: list[_Record], signed: str
) -> Iterator[Finding]:
    trees = _by_view(cps)
    for r in records:
        if not r.path.startswith(spec.PATH_CONSISTENCY) or r.status != 200 or r.truncated:
            continue
        try:
            proof = spec.parse_consistency(r.body)
        except FormatError:
            continue
        olds, news = trees.get((r.view, proof.first), []), trees.get((r.view, proof.second), [])
        problems = []
        for old in olds:
            for new in news:
                try:
                    merkle.verify_consistency(
                        proof.first, proof.second, proof.path, old.root, new.root
                    )
                except ProofError as exc:
                    problems.append(str(exc))
                else:
                    problems = []
                    break
            else:
                continue
            break
        if problems:
            yield Finding(
                "not append-only",
                f"{signed} checkpoints of trees {proof.first} and {proof.second} and the "
                f"log's own consistency proof between them ({r.describe()}): {problems[0]}",
            )


def _entries_not_signed(
    cps: list[_Checkpoint], records: list[_Record], signed: str
) -> Iterator[Finding]:
    trees = _by_view(cps)
    entries: dict[tuple[str, int], _Record] = {}
    for r in records:
        if r.path.startswith(spec.PATH_ENTRY_PREFIX) and r.status == 200 and not r.truncated:
            index = r.path[len(spec.PATH_ENTRY_PREFIX) :]
            if index.isdigit():
                entries[(r.view, int(index))] = r
    told: set[tuple[str, int, int]] = set()
    for r in records:
        if not r.path.startswith(spec.PATH_PROOF_PREFIX) or r.status != 200 or r.truncated:
            continue
        try:
            proof = spec.parse_inclusion(r.body)
        except FormatError:
            continue
        entry = entries.get((r.view, proof.leaf_index))
        roots = trees.get((r.view, proof.tree_size), [])
        key = (r.view, proof.leaf_index, proof.tree_size)
        if entry is None or not roots or key in told:
            continue
        leaf = merkle.leaf_hash(entry.body)
        problem = None
        for cp in roots:
            try:
                if leaf != proof.leaf_hash:
                    raise ProofError(
                        f"the entry hashes to {leaf.hex()}, the proof is about "
                        f"{proof.leaf_hash.hex()}"
                    )
                merkle.verify_inclusion(
                    leaf, proof.leaf_index, proof.tree_size, proof.audit_path, cp.root
                )
            except ProofError as exc:
                problem = f"root {cp.root.hex()}: {exc}"
            else:
                problem = None
                break
        if problem is not None:
            told.add(key)
            yield Finding(
                "entry not in the signed tree",
                f"entry {proof.leaf_index} as served ({entry.describe()}, SHA-256 "
                f"{hashlib.sha256(entry.body).hexdigest()}) and its proof ({r.describe()}) "
                f"against the {signed} checkpoint of tree {proof.tree_size} the "
                f"{r.view} showed, {problem}",
            )


def verify_bundle(directory: str) -> Verdict:
    """Re-verify a bundle; BadBundle when it is malformed or not the one written."""
    root = Path(directory)
    if not root.is_dir():
        raise BadBundle(f"{directory}: no such directory")
    _check_files(root, _manifest(root))
    verifiers = []
    keys = root / "vkeys.txt"
    for line in keys.read_text(encoding="utf-8").splitlines() if keys.is_file() else []:
        if line.strip():
            try:
                verifiers.append(note.parse_verifier_key(line.strip()))
            except FormatError as exc:
                raise BadBundle(f"vkeys.txt: {exc}") from None
    records = list(_records(root))
    verdict = Verdict(signed=bool(verifiers))
    signed = "signed" if verifiers else "unsigned (no verifier key in the bundle)"
    cps = _checkpoints(records, verifiers, verdict)
    verdict.findings += _split_views(cps, signed)
    verdict.findings += _not_append_only(cps, records, signed)
    verdict.findings += _entries_not_signed(cps, records, signed)
    if not cps:
        verdict.notes.append("no checkpoint that verifies: nothing signed to prove against")
    return verdict
