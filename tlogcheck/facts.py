"""Facts about a deployment, fetched and verified for the checks of tests_synthetic.

The library verifies; the test modules decide and explain. Functions here fetch what
a check needs through a `TLogClient`, verify it with `merkle` / `note` / `api`, and
return evidence (or raise `FormatError` / `ProofError` with it). None of them decides
pass or fail, except `fail`, the one way a check reports: expected, served, the
playbook alert and section, the next step (`checks.explain`), without a traceback.

A `TargetUnreachable` from the client is never caught here: it travels up to the
suite plugin, which turns the test into "inconclusive".

During a canary the target is answered by pods of two releases (`X-TLog-Release`), and
the newer one's tree extends the older one's. A pod of the older release answers 404
for an entry or proof of the newer tree only: it does not have that tree, which says
nothing about it. `answered_by` asks such a request again until a pod of the tree's
release answers (bounded), and `judge_lag` takes two trees of two releases for what
they are: one log, when the smaller is a proven prefix of the larger. Any answer a
pod does give, of whatever release, is verified like every other.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

import pytest

from tlogcheck import api, merkle, note
from tlogcheck.checks import Check, explain
from tlogcheck.errors import FormatError, ProofError, TLogCheckError

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = [
    "IMMUTABLE_CACHE_CONTROL",
    "NO_EDGE",
    "EdgeProbe",
    "InclusionResult",
    "ServedRoot",
    "Tree",
    "answered_by",
    "from_release",
    "mixed",
    "probe_edge",
    "release_mix",
    "cache_control_problem",
    "consistency_path",
    "entry_path",
    "etag_problem",
    "fail",
    "judge_lag",
    "judge_releases",
    "max_age",
    "parse_cache_control",
    "path_kind",
    "proof_path",
    "prove_extends",
    "read_checkpoint",
    "read_root",
    "verify_inclusion_at",
    "verify_inclusions",
]

PATH_HEALTH = "/healthz"
PATH_ROOT = "/v1/log/root"
PATH_CHECKPOINT = "/v1/log/checkpoint"
SHORT_MAX_AGE = 300
IMMUTABLE_MAX_AGE = 31536000
IMMUTABLE_CACHE_CONTROL = f"public, max-age={IMMUTABLE_MAX_AGE}, immutable"


def entry_path(index: int) -> str:
    return f"/v1/log/entry/{index}"


def proof_path(index: int, tree_size: int | None = None) -> str:
    if tree_size is None:
        return f"/v1/log/proof/{index}"
    return f"/v1/log/proof/{index}?tree_size={tree_size}"


def consistency_path(first: int, second: int) -> str:
    return f"/v1/log/consistency?first={first}&second={second}"


def fail(
    check: str | Check, *, expected: str, served: str, extra: Mapping[str, str] | None = None
) -> NoReturn:
    """Fail the running test with the playbook's explanation and no traceback."""
    pytest.fail(explain(check, expected=expected, served=served, extra=extra), pytrace=False)


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

    root: api.Root
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


def probe_edge(client: TLogClient) -> EdgeProbe:
    """Whether an edge cache answers at the target: a cache-status header on any answer
    of the edge view (X-Cache, CF-Cache-Status, X-Cache-Status). A Service URL, or pods
    reached directly, never says one. Stops at the first request that gets no answer."""
    from tlogcheck.client import CACHE_STATUS_HEADERS

    asks = [
        (PATH_ROOT, "edge"),
        (entry_path(0), "edge"),
        (entry_path(0), "edge"),
        (PATH_ROOT, "origin"),
        (entry_path(0), "origin"),
    ]
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


def read_root(response: Response) -> api.Root:
    """The root in a `/v1/log/root` response; FormatError naming what is wrong."""
    if response.status != 200:
        raise FormatError(f"{response.path} answered {response.status}, not 200")
    root = api.parse_root(response.body)
    if root.tree_size < 1:
        raise FormatError(f"tree_size {root.tree_size}: a served log is never empty")
    return root


def read_checkpoint(response: Response) -> tuple[note.SignedNote, note.Checkpoint]:
    """The signed note and checkpoint in a `/v1/log/checkpoint` response (unverified)."""
    if response.status != 200:
        raise FormatError(f"{response.path} answered {response.status}, not 200")
    signed = note.parse_note(response.body)
    return signed, note.parse_checkpoint(signed.text)


# --- headers --------------------------------------------------------------------------


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """Directives of a Cache-Control value, names lower-cased, quotes removed."""
    out: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, sep, arg = part.strip().partition("=")
        if not name:
            continue
        out[name.strip().lower()] = arg.strip().strip('"') if sep else None
    return out


def max_age(value: str | None) -> int | None:
    """`max-age` of a Cache-Control value, None when absent or not a number."""
    arg = parse_cache_control(value).get("max-age")
    if arg is None or not arg.isdigit():
        return None
    return int(arg)


def path_kind(path: str) -> str:
    """The spec's Cache-Control class of a path: 'no-store', 'short' or 'immutable'."""
    bare, _, query = path.partition("?")
    if bare == PATH_HEALTH:
        return "no-store"
    if bare in (PATH_ROOT, PATH_CHECKPOINT):
        return "short"
    if bare.startswith("/v1/log/entry/") or bare == "/v1/log/consistency":
        return "immutable"
    if bare.startswith("/v1/log/proof/"):
        return "immutable" if "tree_size=" in query else "short"
    raise ValueError(f"{path} is not a path of the API")


def cache_control_problem(path: str, value: str | None) -> str | None:
    """What is wrong with `value` as the Cache-Control of a 200 for `path`, or None."""
    kind = path_kind(path)
    cc = parse_cache_control(value)
    shown = "no Cache-Control header" if value is None else f"Cache-Control: {value}"
    if kind == "no-store":
        return None if "no-store" in cc else f"{shown}; expected no-store"
    if kind == "short":
        age = max_age(value)
        if "immutable" in cc:
            return f"{shown}; a short path must never be immutable"
        if "no-store" in cc:
            return f"{shown}; a short path is cached briefly, not no-store"
        if age is None:
            return f"{shown}; expected max-age <= {SHORT_MAX_AGE}"
        if age > SHORT_MAX_AGE:
            return f"{shown}; max-age {age} > {SHORT_MAX_AGE}"
        return None
    want = parse_cache_control(IMMUTABLE_CACHE_CONTROL)
    if {k: cc.get(k, "<absent>") for k in want} != want:
        return f"{shown}; expected {IMMUTABLE_CACHE_CONTROL}"
    return None


_STRONG_ETAG = re.compile(r'"([0-9a-f]{64})"')


def etag_problem(response: Response) -> str | None:
    """What is wrong with the response's ETag, or None (also when it has none)."""
    etag = response.etag
    if etag is None:
        return None
    body_hash = hashlib.sha256(response.body).hexdigest()
    if etag.startswith(("W/", "w/")):
        return f'weak ETag {etag}; expected the strong "{body_hash}"'
    m = _STRONG_ETAG.fullmatch(etag)
    if m is None:
        return f'ETag {etag} is not "<64 lowercase hex>"; expected "{body_hash}"'
    if m.group(1) != body_hash:
        return f"ETag {etag} but SHA-256 of the body is {body_hash}"
    return None


# --- inclusion ------------------------------------------------------------------------


@dataclass(frozen=True)
class InclusionResult:
    """One sampled index: None as `problem` when entry + proof verified."""

    index: int
    problem: str | None
    evidence: str

    @property
    def ok(self) -> bool:
        return self.problem is None


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


def verify_inclusion_at(
    client: TLogClient, index: int, tree: Tree, *, view: str = "edge"
) -> InclusionResult:
    """Fetch entry `index` and its proof at `tree`; verify it like verify_client.py."""
    try:
        return _verify_inclusion_at(client, index, tree, view)
    except FormatError as exc:  # an answer over the size cap or past the deadline
        return InclusionResult(index, str(exc), "")


def _verify_inclusion_at(client: TLogClient, index: int, tree: Tree, view: str) -> InclusionResult:
    entry = answered_by(client, entry_path(index), view=view, release=tree.release)
    if entry.status != 200:
        return InclusionResult(index, f"entry answered {entry.status}", entry.describe())
    proof_resp = answered_by(
        client, proof_path(index, tree.tree_size), view=view, release=tree.release
    )
    evidence = f"entry: {entry.describe()}; proof: {proof_resp.describe()}"
    problem = _entry_problem(entry.body)
    if problem is not None:
        return InclusionResult(index, problem, evidence)
    if proof_resp.status != 200:
        return InclusionResult(index, f"proof answered {proof_resp.status}", evidence)
    try:
        proof = api.parse_inclusion(proof_resp.body)
    except FormatError as exc:
        return InclusionResult(index, f"malformed proof: {exc}", evidence)
    if (proof.leaf_index, proof.tree_size) != (index, tree.tree_size):
        return InclusionResult(
            index,
            f"proof is for leaf {proof.leaf_index} of {proof.tree_size}, "
            f"asked leaf {index} of {tree.tree_size}",
            evidence,
        )
    leaf = merkle.leaf_hash(entry.body)
    if proof.leaf_hash != leaf:
        return InclusionResult(
            index,
            f"SHA256(0x00 || entry) = {leaf.hex()} but the proof is about leaf hash "
            f"{proof.leaf_hash.hex()}: the entry served is not the one logged",
            evidence,
        )
    try:
        merkle.verify_inclusion(leaf, index, tree.tree_size, proof.audit_path, tree.root_hash)
    except ProofError as exc:
        return InclusionResult(index, f"inclusion proof does not verify: {exc}", evidence)
    return InclusionResult(index, None, evidence)


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
    proof = api.parse_consistency(response.body)
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
    proof = api.parse_inclusion(response.body)
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


def judge_lag(
    client: TLogClient,
    *,
    older: Tree,
    newer: Tree,
    older_response: Response,
    newer_response: Response | None = None,
) -> str | None:
    """May a cache serve `older` while `newer` is current? None when yes, else the problem.

    Only when `older` is a proven prefix of `newer` and the response that carried it is
    still within its own max-age: a lagging edge; anything else is stale or a split view.
    Two trees of two releases (a canary) are judged by `judge_releases`.
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
    age, limit = older_response.age, max_age(older_response.cache_control)
    if age is None:
        return f"stale: the older {older.describe()} was served without an Age header"
    if limit is None:
        return f"stale: the older {older.describe()} was served without a max-age"
    if age > limit:
        return f"stale: the older {older.describe()} is {age} s old, max-age is {limit}"
    return None


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
        age, limit = smaller_response.age, max_age(smaller_response.cache_control)
        if age is not None and limit is not None and age > limit:
            return (
                f"stale: the older {smaller.describe()} (release {smaller.release}) is "
                f"{age} s old, max-age is {limit}; {evidence}"
            )
    return None
