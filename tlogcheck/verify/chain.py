"""The inclusion chain and consistency: entry -> leaf hash -> proof -> root, and one tree
extending another (RFC 9162 §2.1.3, §2.1.4), fetched through a `TLogClient`.

Functions return evidence or raise `FormatError` / `ProofError` with it. A
`TargetUnreachable` from the client is never caught here: it travels up to the caller
(the suite plugin turns the test into "inconclusive").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tlogcheck import merkle, spec
from tlogcheck.client.purpose import READ, asking
from tlogcheck.errors import FormatError, ProofError, ServerError
from tlogcheck.spec import consistency_path, entry_path, proof_path
from tlogcheck.verify.served import answered, server_error
from tlogcheck.verify.views import Tree, answered_by

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = [
    "SERVER_ERROR",
    "InclusionResult",
    "check_inclusion",
    "check_recorded",
    "compare_proofs",
    "prove_extends",
    "root_of_size",
    "verify_inclusion_at",
    "verify_inclusions",
    "verify_latest_proof",
]


# --- inclusion ------------------------------------------------------------------------

# The rule of an index left unverified by a 5xx: not a verdict about the log.
SERVER_ERROR = "server error"


@dataclass(frozen=True)
class InclusionResult:
    """One index: verified (`rule` None), or the step of the chain that failed and why.

    The chain is the playbook's verify_client.py: the entry answers 200 and is one JSON
    object; the proof answers 200, is well-formed and answers the question asked; the
    entry's bytes hash to the proof's leaf hash; the audit path leads to the root.
    """

    index: int
    rule: str | None = None
    detail: str = ""
    responses: tuple[Response, ...] = ()
    leaf_hash: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.rule is None

    @property
    def server_error(self) -> ServerError | None:
        """The 5xx that left this index unverified, or None (verified, or proved wrong)."""
        if self.rule != SERVER_ERROR:
            return None
        found = next((server_error(r) for r in self.responses if r.status >= 500), None)
        return found

    @property
    def problem(self) -> str | None:
        return None if self.rule is None else f"{self.rule}: {self.detail}"

    @property
    def evidence(self) -> str:
        return "; ".join(r.describe() for r in self.responses)


def _entry_problem(body: bytes) -> str | None:
    """An entry is one JSON object without its newline (spec: the log)."""
    if b"\n" in body:
        return "the entry contains a newline: it is not one line of db.jsonl"
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"the entry is not UTF-8 JSON: {exc}"
    if not isinstance(doc, dict):
        return "the entry is JSON but not an object"
    return None


def check_inclusion(
    index: int, tree_size: int, root_hash: bytes, entry: Response, proof: Response | None
) -> InclusionResult:
    """Verify a served entry and its inclusion proof against a tree (RFC 9162 §2.1.3.2).

    `proof` may be None when the entry did not answer 200: nothing to prove then.
    """
    size = tree_size
    # A proof or hash verdict needs a 200: a 5xx is what was answered (`verify.served`).
    for response in (entry, proof):
        if response is not None and response.status >= 500:
            what = "entry" if response is entry else "proof"
            return InclusionResult(
                index,
                SERVER_ERROR,
                f"{what} of {index}: HTTP {response.status} after retries: nothing to verify",
                tuple(r for r in (entry, proof) if r is not None),
            )
    if entry.status != 200 or proof is None:
        return InclusionResult(
            index, "entry", f"entry {index}: HTTP {entry.status}, expected 200", (entry,)
        )
    both = (entry, proof)
    problem = _entry_problem(entry.body)
    if problem is not None:
        return InclusionResult(index, "entry format", problem, both)
    if proof.status != 200:
        return InclusionResult(
            index, "proof", f"proof of {index} in {size}: HTTP {proof.status}, expected 200", both
        )
    try:
        parsed = spec.parse_inclusion(proof.body)
    except FormatError as exc:
        return InclusionResult(index, "proof format", str(exc), both)
    if (parsed.leaf_index, parsed.tree_size) != (index, size):
        return InclusionResult(
            index,
            "proof question",
            f"asked for leaf {index} in tree {size}, the proof is for leaf "
            f"{parsed.leaf_index} in tree {parsed.tree_size}",
            both,
        )
    leaf = merkle.leaf_hash(entry.body)
    if parsed.leaf_hash != leaf:
        return InclusionResult(
            index,
            "leaf hash",
            f"entry {index} as served hashes to {leaf.hex()} (SHA256(0x00 || entry)), the "
            f"proof's leaf_hash is {parsed.leaf_hash.hex()}: the entry served is not the one "
            "logged, or the proof is corrupt",
            both,
            leaf,
        )
    try:
        merkle.verify_inclusion(leaf, index, size, parsed.audit_path, root_hash)
    except ProofError as exc:
        return InclusionResult(index, "inclusion proof", str(exc), both, leaf)
    return InclusionResult(index, None, "", both, leaf)


def verify_inclusion_at(
    client: TLogClient, index: int, tree: Tree, *, view: str = "edge"
) -> InclusionResult:
    """Fetch entry `index` and its proof at `tree`; verify it like verify_client.py."""
    try:
        with asking(READ, f"inclusion: entry {index}"):
            entry = answered_by(client, entry_path(index), view=view, release=tree.release)
        proof = None
        if entry.status == 200:
            with asking(READ, f"inclusion: proof of entry {index} in tree {tree.tree_size}"):
                proof = answered_by(
                    client, proof_path(index, tree.tree_size), view=view, release=tree.release
                )
    except FormatError as exc:  # an answer over the size cap or past the deadline
        return InclusionResult(index, "response", str(exc))
    return check_inclusion(index, tree.tree_size, tree.root_hash, entry, proof)


def verify_latest_proof(
    client: TLogClient, index: int, tree: Tree, *, view: str = "edge"
) -> InclusionResult:
    """Verify `GET /v1/log/proof/{index}` without tree_size (what verify_client.py URL
    INDEX reads): a proof at the current size, whatever it is when asked.

    A proof at the served tree's size is verified against the served root. One at
    another size (the log moved on, or a cache kept an older one) is verified against
    the root of that size, which must be one log with the served tree (a consistency
    proof either way)."""
    try:
        with asking(READ, f"inclusion: entry {index}"):
            entry = answered_by(client, entry_path(index), view=view, release=tree.release)
        if entry.status != 200:
            return check_inclusion(index, tree.tree_size, tree.root_hash, entry, None)
        with asking(READ, f"inclusion: proof of entry {index} at the latest size"):
            proof = answered_by(client, proof_path(index), view=view, release=tree.release)
        try:
            size = spec.parse_inclusion(proof.body).tree_size if proof.status == 200 else 0
        except FormatError:
            size = 0
        root = tree.root_hash
        if size and size != tree.tree_size:
            other = root_of_size(client, size, view=view, release=proof.release)
            older, newer = sorted((other, tree), key=lambda x: x.tree_size)
            try:
                prove_extends(client, older, newer, view=view)
            except ProofError as exc:
                return InclusionResult(index, "proof tree", str(exc), (proof,))
            root = other.root_hash
    except FormatError as exc:
        return InclusionResult(index, "response", str(exc))
    return check_inclusion(index, size or tree.tree_size, root, entry, proof)


def verify_inclusions(
    client: TLogClient, indices: Iterable[int], tree: Tree, *, view: str = "edge"
) -> list[InclusionResult]:
    """verify_inclusion_at for every index, concurrently (the client bounds the threads)."""
    return client.map(lambda i: verify_inclusion_at(client, i, tree, view=view), list(indices))


def compare_proofs(
    client: TLogClient, indices: Iterable[int], edge: Tree, origin: Tree
) -> list[str]:
    """Each inclusion proof at the edge's tree size, read on both views: the same bytes
    (an immutable path), one text per index that differs; a 5xx raises `ServerError`.
    Nothing is compared when the origin's tree is the smaller: it does not have the
    edge's (whether it may lag is the db check's business)."""
    if origin.tree_size < edge.tree_size:
        return []

    def both(index: int) -> str | None:
        path = proof_path(index, edge.tree_size)
        with asking(READ, f"the proof of entry {index} in tree {edge.tree_size}, both views"):
            a = answered_by(client, path, view="edge", release=edge.release)
            b = answered_by(client, path, view="origin", release=edge.release)
        answered(a, b)  # a 5xx is what was answered (Ingress5xxHigh), not a difference
        if (a.status, a.body) == (b.status, b.body):
            return None
        return f"index {index}: edge {a.describe()}\n            origin {b.describe()}"

    return [p for p in client.map(both, list(indices)) if p is not None]


# --- consistency ----------------------------------------------------------------------


def prove_extends(client: TLogClient, old: Tree, new: Tree, *, view: str = "edge") -> str:
    """Prove that `new` extends `old` with a served consistency proof (RFC 9162 §2.1.4).

    Returns the evidence; raises ProofError when the proof does not verify (or two
    trees of the same size differ), FormatError when no usable proof was served.
    """
    if old.tree_size == new.tree_size:
        if old.root_hash != new.root_hash:
            raise ProofError(
                f"two different roots for size {old.tree_size}: "
                f"{old.root_hash.hex()} and {new.root_hash.hex()}"
            )
        return f"same tree {old.tree_size}"
    if old.tree_size > new.tree_size:
        raise ProofError(f"{new.describe()} is smaller than {old.describe()}: the log shrank")
    # Only a pod that has the newer tree can prove it: the newer tree's release.
    path = consistency_path(old.tree_size, new.tree_size)
    with asking(READ, f"consistency: {old.tree_size} -> {new.tree_size}"):
        response = answered_by(client, path, view=view, release=new.release)
    answered(response)
    if response.status != 200:
        raise FormatError(f"consistency proof answered {response.status}: {response.describe()}")
    proof = spec.parse_consistency(response.body)
    if (proof.first, proof.second) != (old.tree_size, new.tree_size):
        raise FormatError(
            f"consistency proof is for {proof.first} -> {proof.second}, asked "
            f"{old.tree_size} -> {new.tree_size}: {response.describe()}"
        )
    merkle.verify_consistency(
        old.tree_size, new.tree_size, proof.path, old.root_hash, new.root_hash
    )
    return f"consistency proof {old.tree_size} -> {new.tree_size} verified ({response.describe()})"


def root_of_size(
    client: TLogClient, size: int, *, view: str = "edge", release: str | None = None
) -> Tree:
    """The tree of the first `size` entries, from the log's own proof for leaf 0 at `size`.

    Leaf 0 is the leftmost leaf, so every hash of its audit path is a right sibling
    (RFC 9162 §2.1.3.2 never takes branch 4b for it): the root is the leaf hash folded
    with the path, left to right. `verify_inclusion` then checks that the path has the
    shape a tree of `size` leaves gives it (no hash missing or extra).
    """
    with asking(READ, f"the root of size {size}, from the proof of leaf 0"):
        response = answered_by(client, proof_path(0, size), view=view, release=release)
    answered(response)
    if response.status != 200:
        raise FormatError(
            f"proof for leaf 0 at {size} answered {response.status}: {response.describe()}"
        )
    proof = spec.parse_inclusion(response.body)
    if (proof.leaf_index, proof.tree_size) != (0, size):
        raise FormatError(
            f"proof is for leaf {proof.leaf_index} of {proof.tree_size}, asked leaf 0 of "
            f"{size}: {response.describe()}"
        )
    root = proof.leaf_hash
    for sibling in proof.audit_path:
        root = merkle.node_hash(root, sibling)
    merkle.verify_inclusion(proof.leaf_hash, 0, size, proof.audit_path, root)
    return Tree(size, root, response.release)


def check_recorded(client: TLogClient, recorded: Tree, served: Tree) -> str:
    """Prove a recorded tree and the served one are one log; the evidence, or raise.

    The usual case: the served tree extends the recorded one (proof from the edge). When
    the served tree is the smaller (a lagging edge, after the state recorded a newer
    tree), it must be a prefix of the recorded one, proved by the origin, which has it.
    """
    if recorded.tree_size <= served.tree_size:
        return prove_extends(client, recorded, served, view="edge")
    evidence = prove_extends(client, served, recorded, view="origin")
    return f"the served tree is older than the recorded one and a prefix of it: {evidence}"
