"""Offline verification of an evidence bundle: what the log signed, and what it served.

Nothing is fetched: the bundle's responses and the keys are the whole input, so the
result does not depend on the servers still answering. Trust comes from outside the
bundle: the keys the user pins (`--tlog-vkey`); without one, the keys the bundle names
are used and nothing is PROVEN.

PROVEN (the log's own signatures convict it; `claims`, `signed`):

- a split view: two checkpoints of one log (origin line and key) for one size with
  different roots;
- a fork: two signed trees of one log that hold different leaves at one index, each
  leaf opened by a Merkle proof (an inclusion proof, or tiles) that verifies against
  its signed root. A consistency proof between them cannot exist: it would need two
  different SHA-256 inputs with one hash. Only a proof that *verifies* counts here; a
  proof that fails says nothing about what the log signed;
- a signed tree of size 0 whose root is not the empty tree's.

SHOWN (what the run recorded the log serving, re-verified offline; true as far as the
bundle's author is trusted), each against the most trusted tree of its size:

- an inclusion or consistency proof served as a claim that verifies against no tree of
  its size, or answers another question than the one asked;
- an entry served as a claim that is not the leaf the log's tree holds at its index
  (opened by a proof that verifies against that tree);
- a root served unsigned that is not the signed tree of its size; a checkpoint naming
  the log's key whose signature does not verify;
- tiles and entry bundles that do not rebuild the checkpoint (`evidence_tiles`).

Everything else — probes, 304s, 4xx/5xx, reads as other clients — is counted, never read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tlogcheck import merkle, note, spec
from tlogcheck.client import Response
from tlogcheck.errors import FormatError, NoteError, ProofError, TLogCheckError
from tlogcheck.incident.bundle import Bundle
from tlogcheck.incident.claims import PROVEN, SHOWN, Finding, Offline, Read, classify
from tlogcheck.incident.evidence_tiles import Openings, check_tiles
from tlogcheck.incident.signed import NAMED, PINNED, UNSIGNED, Tree, best, conflicts, trees_of

__all__ = ["Finding", "Offline", "bundle_keys", "verify_bundle", "verify_responses"]


def bundle_keys(bundle: Bundle) -> list[note.Verifier]:
    """The verifier keys the bundle names (its own word, not a pin)."""
    raw = bundle.meta.get("vkeys") or []
    if not isinstance(raw, list):
        raise FormatError("bundle.json: `vkeys` is not a list")
    try:
        return [note.parse_verifier_key(str(k)) for k in raw]
    except NoteError as exc:
        raise FormatError(f"bundle.json: a verifier key is malformed: {exc}") from None


def _no_tree(out: Offline, what: str, sizes: set[int]) -> None:
    if sizes:
        shown = ", ".join(str(s) for s in sorted(sizes)[:12]) + (", ..." if len(sizes) > 12 else "")
        out.notes.append(f"{what} of sizes with no tree in the bundle ({shown}): not verified")


def _shown(what: str, detail: str, trees: Sequence[Tree], read: Read) -> Finding:
    ref = min(trees, key=lambda t: t.rank)
    return Finding(SHOWN, what, f"{detail}{read.caveat()}", ref.basis(), ref.rank)


def _inclusion_proofs(reads: Sequence[Read], trees: Sequence[Tree], out: Offline) -> Openings:
    """Every 200 inclusion proof, checked against the trees of its size. A proof that
    verifies opens a leaf of that tree (whoever asked: a verified proof is a fact); one
    served as a claim that verifies against none is SHOWN."""
    openings: Openings = {}
    seen: set[tuple[str, str, str]] = set()
    no_tree: set[int] = set()
    for r in reads:
        q = r.request
        if q is None or q.kind != "proof" or r.response.status != 200:
            continue
        # The same bytes from one endpoint say it once; each endpoint speaks for itself.
        if (r.source, r.response.path, r.response.sha256) in seen:
            continue
        seen.add((r.source, r.response.path, r.response.sha256))
        assert q.index is not None
        try:
            proof = spec.parse_inclusion(r.response.body)
        except FormatError as exc:
            if r.claim:
                out.notes.append(f"{r.where()}: not a proof, not verified: {exc}")
            continue
        candidates = best(trees, proof.tree_size)
        if (proof.leaf_index, proof.tree_size) != (q.index, q.size or proof.tree_size):
            if r.claim and candidates:
                out.findings.append(
                    _shown(
                        "proof",
                        f"asked for leaf {q.index} in tree {q.size or 'latest'}, served a "
                        f"proof of leaf {proof.leaf_index} in {proof.tree_size} ({r.where()})",
                        candidates,
                        r,
                    )
                )
            continue
        if not candidates:
            if r.claim:
                no_tree.add(proof.tree_size)
            continue
        verified = []
        for tree in candidates:
            try:
                merkle.verify_inclusion(
                    proof.leaf_hash, proof.leaf_index, proof.tree_size, proof.audit_path, tree.root
                )
            except ProofError:
                continue
            verified.append(tree)
            held = openings.setdefault(tree.ident, {})
            held.setdefault(proof.leaf_index, []).append(
                (proof.leaf_hash, r.where(), r.source, r.claim)
            )
        if verified:
            out.checked.append(f"proof of {q.index} in {proof.tree_size} ({r.response.view})")
        elif r.claim:
            against = "; ".join(t.describe() for t in candidates)
            out.findings.append(
                _shown(
                    "proof",
                    f"the proof of leaf {q.index} in {proof.tree_size} served ({r.where()}) "
                    f"verifies against no tree of that size: {against}",
                    candidates,
                    r,
                )
            )
    _no_tree(out, "inclusion proofs", no_tree)
    return openings


def _entries(
    reads: Sequence[Read], trees: Sequence[Tree], openings: Openings, out: Offline
) -> None:
    """Each entry served as a claim must be a leaf the log's trees hold at its index. It
    is judged only where the endpoint that served it also served a proof of that index
    that verifies (its own word on the leaf), and shown wrong only when it is no leaf
    opened at that index in any tree: during a split view, an entry of one side is not
    "missing" from the other side's tree; the split is the finding."""
    by_ident = {t.ident: t for t in trees}
    seen: set[tuple[str, str, str]] = set()
    unverified = 0
    for r in reads:
        q = r.request
        if q is None or q.kind != "entry" or not r.claim:
            continue
        if (r.source, r.response.path, r.response.sha256) in seen:
            continue
        seen.add((r.source, r.response.path, r.response.sha256))
        assert q.index is not None
        held = [
            (by_ident[ident], opened)
            for ident, leaves in openings.items()
            if ident in by_ident
            for opened in leaves.get(q.index, [])
        ]
        mine = [(t, o) for t, o in held if o[2] == r.source and o[3]]
        if not mine:
            unverified += 1
            continue
        leaf = merkle.leaf_hash(r.response.body)
        if any(leaf == opened[0] for _, opened in held):
            out.checked.append(f"entry {q.index} ({r.response.view}) is the leaf its tree holds")
            continue
        tree, (want, where, _, _) = min(mine, key=lambda pair: pair[0].rank)
        out.findings.append(
            _shown(
                "entry",
                f"entry {q.index} as served ({r.where()}) hashes to {leaf.hex()} "
                f"(SHA256(0x00 || entry)), but {tree.describe()} holds {want.hex()} at "
                f"index {q.index} (opened by {where})",
                [tree],
                r,
            )
        )
    if unverified:
        out.notes.append(
            f"{unverified} entr{'y' if unverified == 1 else 'ies'} served with no verifying "
            "proof of the index from the same endpoint: not judged"
        )


def _consistency(reads: Sequence[Read], trees: Sequence[Tree], out: Offline) -> None:
    seen: set[tuple[str, str]] = set()
    no_tree: set[int] = set()
    for r in reads:
        q = r.request
        if q is None or q.kind != "consistency" or not r.claim:
            continue
        if (r.response.path, r.response.sha256) in seen:
            continue
        seen.add((r.response.path, r.response.sha256))
        assert q.first is not None and q.size is not None
        olds, news = best(trees, q.first), best(trees, q.size)
        try:
            proof = spec.parse_consistency(r.response.body)
        except FormatError as exc:
            out.notes.append(f"{r.where()}: not a consistency proof, not verified: {exc}")
            continue
        if not olds or not news:
            no_tree.update(s for s, found in ((q.first, olds), (q.size, news)) if not found)
            continue
        if (proof.first, proof.second) != (q.first, q.size):
            out.findings.append(
                _shown(
                    "consistency",
                    f"asked {q.first} -> {q.size}, served a proof of {proof.first} -> "
                    f"{proof.second} ({r.where()})",
                    [*olds, *news],
                    r,
                )
            )
            continue
        ok = False
        for old in olds:
            for new in news:
                try:
                    merkle.verify_consistency(q.first, q.size, proof.path, old.root, new.root)
                except ProofError:
                    continue
                ok = True
        if ok:
            out.checked.append(f"consistency {q.first} -> {q.size} ({r.response.view})")
            continue
        pairs = "; ".join(f"{o.describe()} -> {n.describe()}" for o in olds for n in news)
        out.findings.append(
            _shown(
                "consistency",
                f"the consistency proof served ({r.where()}) verifies between no trees of "
                f"sizes {q.first} and {q.size}: {pairs}",
                [*olds, *news],
                r,
            )
        )
    _no_tree(out, "consistency proofs", no_tree)


def _forks(trees: Sequence[Tree], openings: Openings, out: Offline) -> None:
    """Two trees signed by one key of one log, holding different leaves at an index."""
    signed = [t for t in trees if t.trust != UNSIGNED and t.ident in openings]
    pairs: set[tuple[object, object]] = set()
    for n, a in enumerate(signed):
        for b in signed[n + 1 :]:
            if a.log != b.log or a.size == b.size or (a.ident, b.ident) in pairs:
                continue  # another log; or one size: a split view, found on its own
            pairs.add((a.ident, b.ident))
            for index in sorted(openings[a.ident].keys() & openings[b.ident].keys()):
                (la, wa, _, _), (lb, wb, _, _) = (
                    openings[a.ident][index][0],
                    openings[b.ident][index][0],
                )
                if la == lb:
                    continue
                pinned = a.trust == PINNED
                out.findings.append(
                    Finding(
                        PROVEN if pinned else SHOWN,
                        "fork",
                        f"the log {a.origin!r} signed {a.describe()} and {b.describe()}, which "
                        f"cannot both be true: leaf {index} is {la.hex()} in one ({wa}) and "
                        f"{lb.hex()} in the other ({wb}), each opened by a proof that "
                        "verifies against the signed root; no consistency proof can exist "
                        "between them",
                        "" if pinned else a.basis(),
                        a.rank,
                    )
                )
                break


def verify_responses(
    responses: Iterable[Response],
    *,
    pinned: Sequence[note.Verifier] = (),
    named: Sequence[note.Verifier] = (),
) -> Offline:
    """Verify recorded responses offline. `pinned`: the log's keys from outside the
    bundle; `named`: the keys the bundle names, used (as its word) only without a pin."""
    out = Offline()
    reads = [classify(r) for r in responses]
    for r in reads:
        if r.claim:
            out.claims += 1
            out.unstated += r.unstated
        else:
            out.not_claims[r.why_not or ""] += 1
    keys, trust = (pinned, PINNED) if pinned else (named, NAMED)
    out.keys = "pinned" if pinned else "named" if named else "none"
    if not keys:
        out.notes.append(
            "no key: neither pinned (--tlog-vkey) nor named by the bundle; checkpoints are "
            "read as unsigned claims and nothing can be proven"
        )
    elif not pinned:
        out.notes.append(
            "no key pinned: the keys the bundle names are its author's word, so what they "
            "sign can be shown, never proven; pin the log's key with --tlog-vkey"
        )
    if out.unstated:
        out.notes.append(
            f"{out.unstated} claim(s) recorded without a purpose (a bundle of an older "
            "format): what they show says so, and they are never proof"
        )
    try:
        trees = trees_of(reads, keys, trust, out.notes, out.findings)
        out.signed_trees = sum(t.trust != "unsigned" for t in trees)
        out.findings += conflicts(trees, out.notes)
        openings = _inclusion_proofs(reads, trees, out)
        _entries(reads, trees, openings, out)
        _consistency(reads, trees, out)
        check_tiles(reads, trees, out, openings)
        _forks(trees, openings, out)
    except TLogCheckError as exc:  # a parser's complaint about stored bytes
        raise FormatError(f"a recorded response cannot be read: {exc}") from None
    if keys and not out.signed_trees:
        out.notes.append("no checkpoint in the bundle is signed by the key(s) used")
    return out


def verify_bundle(bundle: Bundle, pinned: Sequence[note.Verifier] = ()) -> Offline:
    """Re-run the verification from the bundle alone. FormatError: the bundle is unusable."""
    out = verify_responses(bundle.responses, pinned=pinned, named=bundle_keys(bundle))
    if bundle.truncated:
        out.notes.append(f"{bundle.truncated} response(s) cut at the size cap: not verified")
    return out
