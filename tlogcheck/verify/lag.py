"""Lag: may a cache (or the other release of a canary) serve an older tree?

`judge_lag` takes two trees for what they are: one log, when the smaller is a proven
prefix of the larger and the copy that carried it is still within what the ORIGIN's
Cache-Control allows (`spec.lag_allowance`: the shared lifetime plus the
stale-while-revalidate the origin sent, each bounded by the spec's table). What the cached
copy itself says is not taken: an edge that rewrote it would write its own allowance
(the cache check reports the rewrite). `judge_releases` does the same for two releases
of a canary.

How the smaller tree is proved a prefix is the caller's `Prover`: API v1 asks the log for
a consistency proof (`verify.chain.prove_extends`, the default); a tiled log computes it
from the larger tree's tiles (`verify.tiles_rules`). The rule is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tlogcheck import note
from tlogcheck.client.purpose import READ, asking
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.spec import lag_allowance
from tlogcheck.verify.chain import prove_extends
from tlogcheck.verify.served import answered
from tlogcheck.verify.views import Tree, mixed, served_tree

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = [
    "Prover",
    "fewer_cosignatures",
    "judge_lag",
    "judge_releases",
    "judge_same_tree",
    "origin_cache_control",
    "staleness",
]


# Proves `older` a prefix of `newer` as the view named serves it: the evidence, or
# ProofError (it is not) / FormatError (no usable proof was served).
Prover = Callable[[Tree, Tree, str], str]


def served_proof(client: TLogClient) -> Prover:
    """API v1's `Prover`: a consistency proof the view serves (`prove_extends`)."""
    return lambda older, newer, view: prove_extends(client, older, newer, view=view)


def origin_cache_control(
    client: TLogClient, response: Response, origin: Response | None = None
) -> str | None:
    """The Cache-Control the origin sends for the path of `response` (a copy a cache
    served): the source of what a cache may do with it. `origin`, the origin's answer for
    that path when the caller holds one, is read instead of asking again."""
    if response.view == "origin":
        return response.cache_control
    if origin is not None and origin.view == "origin" and origin.path == response.path:
        return origin.cache_control
    with asking(READ, "the origin's Cache-Control for a copy a cache served"):
        source = client.get(response.path, view="origin")
    answered(source)  # a 5xx is what was answered (Ingress5xxHigh), not a lifetime
    return source.cache_control


def staleness(
    tree: Tree, response: Response, source: str | None
) -> tuple[str | None, str | None]:
    """May a cache still serve `response` (carrying the older `tree`)? (problem, note).

    `source` is the origin's Cache-Control for that path (`origin_cache_control`), and
    what it allows is `spec.lag_allowance`: within the shared lifetime, yes; past it but
    within the `stale-while-revalidate` the origin itself sent (RFC 5861), yes — the cache
    follows the origin's instructions, and the note says so. Past both, or without an Age
    or a lifetime to tell by: stale.
    """
    age, allowance = response.age, lag_allowance(source)
    if age is None:
        return f"stale: the older {tree.describe()} was served without an Age header", None
    if allowance is None:
        return (
            f"stale: the older {tree.describe()} was served {age} s old and the origin "
            f"sends no max-age to tell by (Cache-Control: {source})"
        ), None
    limit, swr = allowance
    if age <= limit:
        return None, None
    if age <= limit + swr:
        return None, (
            f"the {response.view} served the older {tree.describe()} {age} s old, past its "
            f"max-age {limit} but within the stale-while-revalidate={swr} the origin sent"
        )
    budget = f"the origin's max-age is {limit}" + (
        f" + stale-while-revalidate {swr}" if swr else ""
    )
    return f"stale: the older {tree.describe()} is {age} s old, {budget}", None


def fewer_cosignatures(copy: bytes, current: bytes) -> str | None:
    """Is `copy` an older copy of the signed note `current`, one whose witness
    cosignatures are fewer? None when it is, else why not.

    One signed tree gathers cosignatures as witnesses see it: the log signs first, and
    lines are only ever added after that. So an older copy has the same text, the same
    first (the log's) signature line, and a subset of the other lines; any other
    difference is not one note growing."""
    try:
        a, b = note.parse_note(copy), note.parse_note(current)
    except FormatError as exc:
        return f"not a signed note: {exc}"
    if a.text != b.text:
        return "the signed text differs"
    if not a.signatures or not b.signatures or a.signatures[0] != b.signatures[0]:
        return "the log's signature (the first line) differs"
    extra = [s.key_name for s in a.signatures if s not in b.signatures]
    if extra:
        return f"it carries signature lines the other has not ({', '.join(sorted(extra))})"
    if len(a.signatures) == len(b.signatures):
        return "the same signatures in other bytes"
    return None


def judge_same_tree(client: TLogClient, copy: Response, current: Response) -> str | None:
    """Two answers describing the same tree in different bytes: None when `copy` is an
    older copy of `current` with fewer witness cosignatures (`fewer_cosignatures`) that
    a cache may still serve (`staleness`, by the origin's Cache-Control), else the
    problem."""
    why = fewer_cosignatures(copy.body, current.body)
    if why is not None:
        return f"same tree, different bytes: {why}"
    source = origin_cache_control(client, copy, current)
    problem, _ = staleness(served_tree(copy), copy, source)
    if problem is None:
        return None
    return f"{problem} (the same signed tree with fewer cosignatures)"


def judge_lag(
    client: TLogClient,
    *,
    older: Tree,
    newer: Tree,
    older_response: Response,
    newer_response: Response | None = None,
    notes: list[str] | None = None,
    prove: Prover | None = None,
) -> str | None:
    """May a cache serve `older` while `newer` is current? None when yes, else the problem.

    Only when `older` is a proven prefix of `newer` and the response that carried it is
    still within what its own Cache-Control allows (`staleness`): a lagging edge;
    anything else is stale or a split view. Two trees of two releases (a canary) are
    judged by `judge_releases`. What passed only thanks to stale-while-revalidate is
    added to `notes`, for the run summary.
    """
    prove = prove or served_proof(client)
    if mixed(older.release, newer.release):
        return judge_releases(
            client,
            a=older,
            b=newer,
            a_response=older_response,
            b_response=newer_response,
            prove=prove,
        )
    if older.tree_size >= newer.tree_size:
        return (
            f"split view: {older.describe()} and {newer.describe()} are different trees "
            "and neither is an older prefix of the other"
        )
    try:
        prove(older, newer, "origin")
    except ProofError as exc:
        return f"split view: {older.describe()} is not a prefix of {newer.describe()}: {exc}"
    except FormatError as exc:
        return _unproved(older, newer, exc)
    source = origin_cache_control(client, older_response, newer_response)
    problem, said = staleness(older, older_response, source)
    if said is not None and notes is not None:
        notes.append(said)
    return problem


def _unproved(older: Tree, newer: Tree, exc: FormatError) -> str:
    """No usable proof was served: not one log as far as anyone can tell, but no proof of
    a fork either (what was served is said; a split view is said only when shown)."""
    return (
        f"no usable proof that {older.describe()} (release {older.release}) is a prefix of "
        f"{newer.describe()} (release {newer.release}) was served: {exc}"
    )


def judge_releases(
    client: TLogClient,
    *,
    a: Tree,
    b: Tree,
    a_response: Response,
    b_response: Response | None = None,
    prove: Prover | None = None,
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
        evidence = (prove or served_proof(client))(smaller, larger, view)
    except ProofError as exc:
        return (
            f"split view: {smaller.describe()} (release {smaller.release}) is not a prefix "
            f"of {larger.describe()} (release {larger.release}): {exc}"
        )
    except FormatError as exc:
        return _unproved(smaller, larger, exc)
    if smaller_response is not None:
        # A fresh answer of a pod has no Age; a cached copy keeps to its Cache-Control.
        if smaller_response.age is not None:
            source = origin_cache_control(client, smaller_response, larger_response)
            problem, _ = staleness(smaller, smaller_response, source)
            if problem is not None:
                return f"{problem} (release {smaller.release}); {evidence}"
    return None
