"""Verification of a live deployment, without pytest: the entry -> leaf hash -> proof ->
root chain, consistency between trees, and the judgement of a lagging edge.

The library verifies; callers decide and explain. Functions here fetch what a check
needs through a `TLogClient`, verify it with `merkle` / `note` / `spec`, and return
evidence (or raise `FormatError` / `ProofError` with it). The suite
(`tests_synthetic`), `tlogcheck verify` and later the incident commands share them, so
a deployment is judged the same way wherever it is asked.

A `TargetUnreachable` from the client is never caught here: it travels up to the
caller (the suite plugin turns the test into "inconclusive").

During a canary the target is answered by pods of two releases (`X-TLog-Release`), and
the newer one's tree extends the older one's. A pod of the older release answers 404
for an entry or proof of the newer tree only: it does not have that tree, which says
nothing about it. `answered_by` asks such a request again until a pod of the tree's
release answers (bounded), and `judge_lag` takes two trees of two releases for what
they are: one log, when the smaller is a proven prefix of the larger. Any answer a
pod does give, of whatever release, is verified like every other.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tlogcheck import merkle, note, spec, tiles
from tlogcheck.errors import FormatError, ProofError, TLogCheckError
from tlogcheck.spec import (
    consistency_path,
    entry_path,
    max_age,
    proof_path,
    stale_while_revalidate,
)

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = [
    "NO_EDGE",
    "EdgeProbe",
    "InclusionResult",
    "ServedRoot",
    "Tree",
    "answered_by",
    "from_release",
    "mixed",
    "origin_serving",
    "probe_edge",
    "release_mix",
    "judge_lag",
    "judge_releases",
    "prove_extends",
    "read_checkpoint",
    "read_root",
    "served_tree",
    "verify_inclusion_at",
    "verify_inclusions",
    "verify_latest_proof",
]


@dataclass(frozen=True)
class Tree:
    """A tree: its size and root hash (and the release whose pod described it)."""

    tree_size: int
    root_hash: bytes
    # Not part of the tree's identity: two releases describe the same tree alike.
    release: str | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"tree {self.tree_size}:{self.root_hash.hex()}"


@dataclass(frozen=True)
class ServedRoot:
    """The root a view served, parsed, with the response that carried it."""

    root: spec.Root
    response: Response

    @property
    def tree(self) -> Tree:
        return Tree(self.root.tree_size, self.root.root_hash, self.response.release)


# --- the edge and the releases behind the target --------------------------------------

NO_EDGE = "target has no edge (no cache-status header): cache HIT and parity checks skipped"
# Requests `answered_by` may spend on one path during a canary: at a 10 % canary step
# the chance that none reaches a canary pod is 0.9**128, about 1e-6.
MIX_ATTEMPTS = 128


@dataclass(frozen=True)
class EdgeProbe:
    """What the first requests to the target said about what answers there."""

    has_edge: bool | None  # None: no answer to tell by
    evidence: str
    releases: dict[str, int]


def probe_edge(client: TLogClient, api: str = "v1") -> EdgeProbe:
    """Whether an edge cache answers at the target: a cache-status header on any answer
    of the edge view (X-Cache, CF-Cache-Status, X-Cache-Status). A Service URL, or pods
    reached directly, never says one. Stops at the first request that gets no answer.
    A tiled log (`api="tiles"`) is asked for its checkpoint."""
    from tlogcheck.cdn import CACHE_STATUS_HEADERS
    from tlogcheck.tiles_client import PATH_CHECKPOINT

    asks = [
        (spec.PATH_ROOT, "edge"),
        (entry_path(0), "edge"),
        (entry_path(0), "edge"),
        (spec.PATH_ROOT, "origin"),
        (entry_path(0), "origin"),
    ]
    if api == "tiles":
        asks = [(PATH_CHECKPOINT, "edge"), (PATH_CHECKPOINT, "edge"), (PATH_CHECKPOINT, "origin")]
    releases: Counter[str] = Counter()
    edge_answers: list[Response] = []
    problem = ""
    for path, view in asks:
        try:
            response = client.get(path, view=view)
        except TLogCheckError as exc:
            problem = str(exc)
            break
        if response.release is not None:
            releases[response.release] += 1
        if view == "edge":
            edge_answers.append(response)
    marked = [r for r in edge_answers if r.cache_status is not None]
    if marked:
        first = marked[0]
        header = next(name for name in CACHE_STATUS_HEADERS if first.header(name))
        evidence = f"{header}: {first.header(header)} on GET {first.path}"
        return EdgeProbe(True, evidence, dict(releases))
    if edge_answers:
        paths = ", ".join(sorted({r.path for r in edge_answers}))
        evidence = f"no cache-status header on {len(edge_answers)} answers ({paths})"
        return EdgeProbe(False, evidence, dict(releases))
    return EdgeProbe(None, f"the first requests got no answer: {problem}", dict(releases))


def release_mix(counts: Mapping[str, int]) -> str:
    """`v2.7.1: 57, v2.7.0: 7`: responses per release, most first."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{release}: {n}" for release, n in ordered) or "no responses"


def mixed(a: str | None, b: str | None) -> bool:
    """Whether two answers come from pods of two different releases (a canary running)."""
    return a is not None and b is not None and a != b


def _ask_until(
    client: TLogClient,
    path: str,
    *,
    view: str,
    done: Callable[[Response], bool],
    first: Response | None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    response = first if first is not None else client.get(path, view=view, headers=headers)
    attempts = 1
    end = time.monotonic() + client.deadline
    while not done(response) and attempts < MIX_ATTEMPTS and time.monotonic() < end:
        response = client.get(path, view=view, headers=headers)
        attempts += 1
    return response


def origin_serving(client: TLogClient, size: int, first: Response) -> Response:
    """The origin's root (or checkpoint: `first`'s path), asked again (bounded as
    `answered_by`) until a pod serving at least `size` entries answers: during a canary,
    the newer release's pods are a few of the origin Service's. The last answer when none
    did; `first`: the answer already had."""

    def done(r: Response) -> bool:
        try:
            return served_tree(r).tree_size >= size
        except FormatError:
            return True  # not a root at all: asking again will not make it one

    path = first.path.partition("?")[0]
    return _ask_until(client, path, view="origin", done=done, first=first)


def answered_by(
    client: TLogClient,
    path: str,
    *,
    view: str = "edge",
    release: str | None,
    first: Response | None = None,
) -> Response:
    """GET `path` for a tree of `release`: a 404 from a pod of another release (it does
    not have that tree) is asked again, at most MIX_ATTEMPTS requests and the client's
    deadline; any other answer is returned as it is. `first`: an answer already had."""

    def done(r: Response) -> bool:
        return not (r.status == 404 and mixed(r.release, release))

    return _ask_until(client, path, view=view, done=done, first=first)


def from_release(
    client: TLogClient,
    path: str,
    *,
    view: str = "edge",
    release: str | None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """GET `path` until a pod of `release` answers (bounded as `answered_by`); the last
    answer when none did."""
    return _ask_until(
        client,
        path,
        view=view,
        done=lambda r: not mixed(r.release, release),
        first=None,
        headers=headers,
    )


# --- root and checkpoint -------------------------------------------------------------


def read_root(response: Response) -> spec.Root:
    """The root in a `/v1/log/root` response; FormatError naming what is wrong."""
    if response.status != 200:
        raise FormatError(f"{response.path} answered {response.status}, not 200")
    root = spec.parse_root(response.body)
    if root.tree_size < 1:
        raise FormatError(f"tree_size {root.tree_size}: a served log is never empty")
    return root


def read_checkpoint(response: Response) -> tuple[note.SignedNote, note.Checkpoint]:
    """The signed note and checkpoint in a `/v1/log/checkpoint` response (unverified)."""
    if response.status != 200:
        raise FormatError(f"{response.path} answered {response.status}, not 200")
    signed = note.parse_note(response.body)
    return signed, note.parse_checkpoint(signed.text)


_TILES_CHECKPOINT = "/" + tiles.PATH_CHECKPOINT


def served_tree(response: Response) -> Tree:
    """The tree a root or checkpoint response describes (unverified); FormatError if none."""
    if response.path.partition("?")[0] in (spec.PATH_CHECKPOINT, _TILES_CHECKPOINT):
        _, cp = read_checkpoint(response)
        return Tree(cp.tree_size, cp.root_hash, response.release)
    root = read_root(response)
    return Tree(root.tree_size, root.root_hash, response.release)


# --- inclusion ------------------------------------------------------------------------


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
        entry = answered_by(client, entry_path(index), view=view, release=tree.release)
        proof = None
        if entry.status == 200:
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
        entry = answered_by(client, entry_path(index), view=view, release=tree.release)
        if entry.status != 200:
            return check_inclusion(index, tree.tree_size, tree.root_hash, entry, None)
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
    response = answered_by(client, path, view=view, release=new.release)
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
    response = answered_by(client, proof_path(0, size), view=view, release=release)
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


def staleness(tree: Tree, response: Response) -> tuple[str | None, str | None]:
    """May a cache still serve `response` (carrying the older `tree`)? (problem, note).

    Within its max-age: yes. Past it but within the `stale-while-revalidate` the origin
    itself sent (RFC 5861): yes, the cache follows the origin's instructions — the note
    says so. Past both, or without an Age or a max-age to tell by: stale.
    """
    age, limit = response.age, max_age(response.cache_control)
    if age is None:
        return f"stale: the older {tree.describe()} was served without an Age header", None
    if limit is None:
        return f"stale: the older {tree.describe()} was served without a max-age", None
    if age <= limit:
        return None, None
    swr = stale_while_revalidate(response.cache_control)
    if age <= limit + swr:
        return None, (
            f"the {response.view} served the older {tree.describe()} {age} s old, past its "
            f"max-age {limit} but within the stale-while-revalidate={swr} the origin sent"
        )
    budget = f"max-age is {limit}" + (f" + stale-while-revalidate {swr}" if swr else "")
    return f"stale: the older {tree.describe()} is {age} s old, {budget}", None


def judge_lag(
    client: TLogClient,
    *,
    older: Tree,
    newer: Tree,
    older_response: Response,
    newer_response: Response | None = None,
    notes: list[str] | None = None,
) -> str | None:
    """May a cache serve `older` while `newer` is current? None when yes, else the problem.

    Only when `older` is a proven prefix of `newer` and the response that carried it is
    still within what its own Cache-Control allows (`staleness`): a lagging edge;
    anything else is stale or a split view. Two trees of two releases (a canary) are
    judged by `judge_releases`. What passed only thanks to stale-while-revalidate is
    added to `notes`, for the run summary.
    """
    if mixed(older.release, newer.release):
        return judge_releases(
            client, a=older, b=newer, a_response=older_response, b_response=newer_response
        )
    if older.tree_size >= newer.tree_size:
        return (
            f"split view: {older.describe()} and {newer.describe()} are different trees "
            "and neither is an older prefix of the other"
        )
    try:
        prove_extends(client, older, newer, view="origin")
    except (ProofError, FormatError) as exc:
        return f"split view: {older.describe()} is not a prefix of {newer.describe()}: {exc}"
    problem, note = staleness(older, older_response)
    if note is not None and notes is not None:
        notes.append(note)
    return problem


def judge_releases(
    client: TLogClient,
    *,
    a: Tree,
    b: Tree,
    a_response: Response,
    b_response: Response | None = None,
) -> str | None:
    """Two trees described by pods of two releases: one log? None when yes, else the problem.

    During a canary the smaller tree is not a lag: it is what the other release's pods
    serve now. It must be a prefix of the larger one, proved by a consistency proof that
    a pod of the larger tree's release serves (asked on the view that showed that tree,
    `answered_by`), verified against both roots. A copy that a cache held (an `Age`
    header) must still be within its max-age; a fresh answer of a pod has no Age.
    """
    if a.tree_size == b.tree_size:
        if a.root_hash == b.root_hash:
            return None
        return (
            f"split view: releases {a.release} and {b.release} serve different trees of "
            f"size {a.tree_size}: {a.root_hash.hex()} and {b.root_hash.hex()}"
        )
    smaller_response: Response | None
    larger_response: Response | None
    if a.tree_size < b.tree_size:
        smaller, smaller_response, larger, larger_response = a, a_response, b, b_response
    else:
        smaller, smaller_response, larger, larger_response = b, b_response, a, a_response
    view = larger_response.view if larger_response is not None else "origin"
    try:
        evidence = prove_extends(client, smaller, larger, view=view)
    except (ProofError, FormatError) as exc:
        return (
            f"split view: {smaller.describe()} (release {smaller.release}) is not a prefix "
            f"of {larger.describe()} (release {larger.release}): {exc}"
        )
    if smaller_response is not None:
        # A fresh answer of a pod has no Age; a cached copy keeps to its Cache-Control.
        if smaller_response.age is not None:
            problem, _ = staleness(smaller, smaller_response)
            if problem is not None:
                return f"{problem} (release {smaller.release}); {evidence}"
    return None
