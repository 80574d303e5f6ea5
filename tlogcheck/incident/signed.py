"""The trees an evidence bundle holds, and how far each is the log's.

A log is its origin line and its key. The keys are the user's, pinned from outside the
bundle (`--tlog-vkey`): a checkpoint whose signature verifies with a pinned key is the
log's statement (PINNED), one signed by any other key is another log's and is never
evidence against this one. With no key pinned, the keys the bundle names are used, and
what they sign is the bundle's word (NAMED), not the log's. With no key at all, and for
`/v1/log/root` (unsigned JSON), a tree is what the log claimed (UNSIGNED).

A signature speaks for itself, whoever asked for it: a checkpoint signed by a pinned
key counts from any 200 of the checkpoint path, a read as curl or a conditional one
included. Its tree size and root are then checked against each other here:

- one log (same origin line, same key), one size, two roots: a split view. PROVEN when
  the key is pinned; SHOWN when only the bundle names it;
- a signed tree of size 0 whose root is not the empty tree's: a false statement;
- a root served unsigned, at a size the log signed, that is not the signed root, or two
  unsigned roots of one size: SHOWN (nothing signed says they were served);
- two logs (another origin line or another key) with different roots for one size are
  two logs, said in a note, never a split view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tlogcheck import merkle, note, spec
from tlogcheck.errors import FormatError, NoteError
from tlogcheck.incident.bundle import redact_url
from tlogcheck.incident.claims import PROVEN, SHOWN, Finding, Read

__all__ = ["NAMED", "PINNED", "UNSIGNED", "Tree", "best", "conflicts", "trees_of"]

PINNED = "pinned"
NAMED = "named"
UNSIGNED = "unsigned"
RANK = {PINNED: 0, NAMED: 1, UNSIGNED: 2}


@dataclass(frozen=True)
class Tree:
    """A tree the bundle holds: size, root, how far it is the log's, and where from."""

    size: int
    root: bytes
    trust: str
    origin: str | None  # the checkpoint's origin line; None for /v1/log/root
    key: str | None  # `name+id` of the key whose signature verified
    read: Read

    @property
    def log(self) -> tuple[str | None, str | None]:
        return (self.origin, self.key)

    @property
    def ident(self) -> tuple[int, bytes, str, str | None, str | None]:
        return (self.size, self.root, self.trust, self.origin, self.key)

    @property
    def rank(self) -> int:
        return RANK[self.trust]

    def describe(self) -> str:
        # The whole URL: a canary's stable side is another base with the same view name.
        where = f"{self.read.response.view} {redact_url(self.read.response.url)}"
        tree = f"{self.size}:{self.root.hex()}"
        if self.trust == UNSIGNED:
            kind = "unsigned root" if self.origin is None else "checkpoint (no key to check it)"
            return f"{kind} {tree} ({where})"
        by = "pinned key" if self.trust == PINNED else "key the bundle names (not pinned)"
        return f"checkpoint {tree} of {self.origin!r} signed by {by} {self.key} ({where})"

    def basis(self) -> str:
        if self.trust == PINNED:
            return f"against the tree the log signed ({self.key}, pinned)"
        if self.trust == NAMED:
            return (
                f"against a tree signed by {self.key}, a key only the bundle names: pin the "
                "log's key with --tlog-vkey"
            )
        return "against a tree the log served unsigned"


def _checkpoint_trees(
    read: Read,
    keys: Sequence[note.Verifier],
    trust: str,
    notes: list[str],
    findings: list[Finding],
) -> list[Tree]:
    body = read.response.body
    try:
        signed = note.parse_note(body)
        checkpoint = note.parse_checkpoint(signed.text)
    except NoteError as exc:
        if read.claim:
            notes.append(f"{read.where()}: not a checkpoint: {exc}")
        return []
    if not keys:
        if not read.claim:
            return []
        return [
            Tree(
                checkpoint.tree_size, checkpoint.root_hash, UNSIGNED, checkpoint.origin, None, read
            )
        ]
    out = []
    named = {(s.key_name, s.key_id) for s in signed.signatures}
    for key in keys:
        if (key.name, key.key_id) not in named:
            continue
        try:
            cp = note.verify_checkpoint(body, [key])
        except NoteError:
            # Anyone can write a signature line naming the key: only one that verifies
            # is the log's statement. Served as the log's answer, it is shown broken.
            what = f"{read.where()}: names key {key.key}, but its signature does not verify"
            if read.claim:
                findings.append(
                    Finding(
                        SHOWN,
                        "signature",
                        f"{what}{read.caveat()}",
                        "the checkpoint as the run recorded it served",
                        RANK[trust],
                    )
                )
            else:
                notes.append(f"{what} (not a claim: {read.why_not})")
            continue
        out.append(Tree(cp.tree_size, cp.root_hash, trust, cp.origin, key.key, read))
    if not named & {(k.name, k.key_id) for k in keys}:
        signers = ", ".join(sorted({s.key for s in signed.signatures}))
        notes.append(
            f"{read.where()}: signed by {signers} only, no key of this log: another log's "
            "checkpoint, never evidence against this one"
        )
    return out


def trees_of(
    reads: Iterable[Read],
    keys: Sequence[note.Verifier],
    trust: str,
    notes: list[str],
    findings: list[Finding],
) -> list[Tree]:
    """Every tree the reads state: checkpoints (verified with `keys`, of trust `trust`;
    unsigned claims when there are no keys) and roots (unsigned claims). One per tree,
    log, trust and endpoint (a tiled log's tiles are read per endpoint). A checkpoint
    served as a claim whose signature line names a key but does not verify is a finding."""
    trees: dict[tuple[tuple[int, bytes, str, str | None, str | None], str], Tree] = {}
    seen: set[tuple[str, bool, str]] = set()
    for read in reads:
        if read.response.status != 200:
            continue
        found: list[Tree] = []
        if read.is_checkpoint:
            if (read.response.sha256, read.claim, read.source) in seen:  # said once
                continue
            seen.add((read.response.sha256, read.claim, read.source))
            found = _checkpoint_trees(read, keys, trust, notes, findings)
        elif read.request is not None and read.request.kind == "root" and read.claim:
            try:
                root = spec.parse_root(read.response.body)
            except FormatError as exc:
                notes.append(f"{read.where()}: not a root: {exc}")
                continue
            found = [Tree(root.tree_size, root.root_hash, UNSIGNED, None, None, read)]
        for tree in found:
            trees.setdefault((tree.ident, read.source), tree)
    return list(trees.values())


def best(trees: Iterable[Tree], size: int) -> list[Tree]:
    """The trees of `size` a served proof is checked against: the most trusted ones."""
    of_size = [t for t in trees if t.size == size]
    if not of_size:
        return []
    top = min(t.rank for t in of_size)
    return list({t.ident: t for t in reversed(of_size) if t.rank == top}.values())


def _two(trees: Sequence[Tree]) -> tuple[Tree, Tree]:
    a = trees[0]
    return a, next(t for t in trees if t.root != a.root)


def conflicts(trees: Sequence[Tree], notes: list[str]) -> list[Finding]:
    """What the trees alone show: split views, false signed trees, roots the log served
    that are not the ones it signed."""
    out: list[Finding] = []
    for t in trees:
        if t.size == 0 and t.root != merkle.EMPTY_ROOT and t.trust != UNSIGNED:
            out.append(
                Finding(
                    PROVEN if t.trust == PINNED else SHOWN,
                    "false tree",
                    f"{t.describe()}: a tree of size 0 has root {merkle.EMPTY_ROOT.hex()}",
                    "" if t.trust == PINNED else t.basis(),
                    t.rank,
                )
            )
    for size in sorted({t.size for t in trees}):
        of_size = [t for t in trees if t.size == size]
        signed = [t for t in of_size if t.trust != UNSIGNED]
        logs: dict[tuple[str | None, str | None], list[Tree]] = {}
        for t in signed:
            logs.setdefault(t.log, []).append(t)
        for group in logs.values():
            if len({t.root for t in group}) < 2:
                continue
            a, b = _two(group)
            pinned = a.trust == PINNED
            out.append(
                Finding(
                    PROVEN if pinned else SHOWN,
                    "split view",
                    f"the log {a.origin!r} signed two trees of size {size}, which cannot "
                    f"both be true: {a.describe()} and {b.describe()}",
                    "" if pinned else a.basis(),
                    a.rank,
                )
            )
        if len(logs) > 1 and len({t.root for t in signed}) > 1:
            names = "; ".join(f"origin {o!r}, key {k}" for o, k in logs)
            notes.append(
                f"checkpoints of size {size} with different roots by different logs ({names}): "
                "a log is its origin line and its key, so this is not a split view"
            )
        unsigned = [t for t in of_size if t.trust == UNSIGNED]
        signed_roots = {t.root for t in signed}
        if signed:
            for u in unsigned:
                if u.root not in signed_roots:
                    ref = min(signed, key=lambda t: t.rank)
                    out.append(
                        Finding(
                            SHOWN,
                            "root",
                            f"{u.describe()} is not the tree signed at size {size}: "
                            f"{ref.describe()}{u.read.caveat()}",
                            ref.basis(),
                            ref.rank,
                        )
                    )
        else:
            out += _unsigned_split(size, unsigned, notes)
    return out


def _unsigned_split(size: int, unsigned: Sequence[Tree], notes: list[str]) -> list[Finding]:
    """Two unsigned trees of one size: shown, within one origin line (a root names none)."""
    origins = sorted({t.origin for t in unsigned if t.origin is not None})
    groups = [list(unsigned)]
    if len(origins) > 1:
        groups = [[t for t in unsigned if t.origin in (o, None)] for o in origins]
        notes.append(
            f"unsigned checkpoints of size {size} name different origin lines "
            f"({', '.join(repr(o) for o in origins)}): different logs, not one split view"
        )
    out: list[Finding] = []
    for group in groups:
        if len({t.root for t in group}) < 2:
            continue
        a, b = _two(group)
        out.append(
            Finding(
                SHOWN,
                "split view",
                f"two roots served for size {size}: {a.describe()} and {b.describe()}"
                f"{a.read.caveat() or b.read.caveat()}",
                "trees the log served unsigned",
                2,
            )
        )
    return out
