"""Lag: may a cache (or the other release of a canary) serve an older tree?

`judge_lag` takes two trees for what they are: one log, when the smaller is a proven
prefix of the larger and the copy that carried it is still within what its
Cache-Control allows. `judge_releases` does the same for two releases of a canary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlogcheck.errors import FormatError, ProofError
from tlogcheck.spec import max_age, stale_while_revalidate
from tlogcheck.verify.chain import prove_extends
from tlogcheck.verify.views import Tree, mixed

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = ["judge_lag", "judge_releases", "staleness"]


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
