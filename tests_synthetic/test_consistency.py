"""Consistency — playbook §5 (cross-check custody records with the TLog root) and §3.2.

The log only grows: every tree it ever showed is a prefix of the one it serves now.

- Root and checkpoint describe the same tree. On the origin (X-Bypass: 1) exactly: a
  pod's checkpoint is its signed statement of the tree it serves, so one that trails the
  root — however validly signed, however consistent — is a signer that stalled. Through
  the edge a cache may hold an older copy of one of them: it must be a proven prefix of
  the other and within what its Cache-Control allows. During a canary the two may come
  from pods of two releases: then the smaller tree must be a proven prefix of the larger
  one (`verify.judge_releases`); on the origin both are asked of one release's pods.
- The log's own consistency proofs agree with its inclusion proofs and its root, on both
  views: the tree of size m (from the proof for leaf 0 at m) extends to the served tree,
  and older trees extend one another (first < second < current,
  `verify.sampling.older_pairs`): proofs between older trees are what an auditor holding
  two old checkpoints asks for.
- Consistency proofs verify from every `--tlog-known-root` (the stable release's root
  during a canary, custody records) and from the tree in `--tlog-state` (the last one a
  fully passing run verified) to the served one. The state file is updated only after
  a fully passing run.
"""

from __future__ import annotations

import pytest

from tlogcheck.client import Response, TLogClient
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.plugin.report import summary_line
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail
from tlogcheck.plugin.witness import offer_verified, state_to_prove_from
from tlogcheck.spec import PATH_CHECKPOINT
from tlogcheck.state import KnownTree
from tlogcheck.verify import (
    MIX_ATTEMPTS,
    ServedRoot,
    Tree,
    check_recorded,
    from_release,
    judge_lag,
    mixed,
    prove_extends,
    root_of_size,
    served_tree,
)
from tlogcheck.verify.sampling import older_pairs, older_sizes

pytestmark = pytest.mark.consistency


def _checkpoint_tree(response: Response, where: str) -> Tree:
    try:
        return served_tree(response)
    except FormatError as exc:
        fail(
            "consistency",
            expected=f"a readable checkpoint{where} to compare with the root",
            served=f"{exc}\n          {response.describe()}",
        )


def test_root_and_checkpoint_describe_the_same_tree(
    tlog_client: TLogClient,
    served_root: ServedRoot,
    served_checkpoint: Response,
    request: pytest.FixtureRequest,
) -> None:
    checkpoint_tree = _checkpoint_tree(served_checkpoint, "")
    root_tree = served_root.tree
    if root_tree == checkpoint_tree:
        return
    notes: list[str] = []
    if root_tree.tree_size < checkpoint_tree.tree_size:
        problem = judge_lag(
            tlog_client,
            older=root_tree,
            newer=checkpoint_tree,
            older_response=served_root.response,
            newer_response=served_checkpoint,
            notes=notes,
        )
    else:
        problem = judge_lag(
            tlog_client,
            older=checkpoint_tree,
            newer=root_tree,
            older_response=served_checkpoint,
            newer_response=served_root.response,
            notes=notes,
        )
    for note in notes:
        summary_line(request.config, note)
    if problem is not None:
        fail(
            "consistency",
            expected="root and checkpoint describe the same tree (spec: Endpoints)",
            served=f"root {root_tree.describe()}, checkpoint {checkpoint_tree.describe()}: "
            f"{problem}\n          root:       {served_root.response.describe()}\n"
            f"          checkpoint: {served_checkpoint.describe()}",
        )


def test_origin_root_and_checkpoint_are_the_same_tree(
    tlog_client: TLogClient, tlog_target: Target, origin_root: ServedRoot
) -> None:
    root_tree = origin_root.tree
    response = from_release(
        tlog_client, PATH_CHECKPOINT, view="origin", release=origin_root.response.release
    )
    checkpoint_tree = _checkpoint_tree(response, " on the origin")
    if checkpoint_tree == root_tree:
        return
    if mixed(response.release, origin_root.response.release):
        pytest.skip(
            f"no pod of release {origin_root.response.release} answered the checkpoint "
            f"(asked {MIX_ATTEMPTS} times): nothing to compare"
        )
    behind = root_tree.tree_size - checkpoint_tree.tree_size
    why = (
        f"the signed tree is {behind} entries behind the served one: the signer stalled"
        if behind > 0
        else "the origin's own root and checkpoint disagree"
    )
    fail(
        "consistency",
        expected=f"on the origin ({tlog_target.origin_view}), the checkpoint signs the tree "
        f"the root describes: {root_tree.describe()} (spec: Endpoints)",
        served=f"checkpoint {checkpoint_tree.describe()}: {why}\n"
        f"          root:       {origin_root.response.describe()}\n"
        f"          checkpoint: {response.describe()}",
    )


@pytest.mark.parametrize("view", ["edge", "origin"])
def test_consistency_proofs_agree_with_inclusion_proofs(
    tlog_client: TLogClient, tlog_target: Target, view: str, request: pytest.FixtureRequest
) -> None:
    # On both views: pods whose proofs went bad hide behind a warm cache.
    fixture = "served_root" if view == "edge" else "origin_root"
    served_root: ServedRoot = request.getfixturevalue(fixture)
    served = served_root.tree
    sizes = older_sizes(served.tree_size, tlog_target.seed)
    if not sizes:
        pytest.skip(f"a tree of {served.tree_size} entry has no older tree to prove from")

    pairs = older_pairs(served.tree_size, tlog_target.seed)
    roots: dict[int, Tree] = {}

    def root(size: int) -> Tree:
        if size not in roots:
            roots[size] = root_of_size(tlog_client, size, view=view, release=served.release)
        return roots[size]

    def extends(pair: tuple[int, int]) -> str | None:
        first, second = pair
        try:
            older = root(first)
            newer = served if second == served.tree_size else root(second)
            prove_extends(tlog_client, older, newer, view=view)
        except (ProofError, FormatError) as exc:
            return f"from {first} to {second}: {exc}"
        return None

    # Every older tree to the served one, then older trees among themselves: a log whose
    # proofs are right only up to its current size fails the second.
    asked = [(m, served.tree_size) for m in sizes] + pairs
    problems = [p for p in tlog_client.map(extends, asked) if p is not None]
    if problems:
        fail(
            "consistency",
            expected=f"consistency proofs from sizes {sizes} to the {view}'s "
            f"{served.describe()}, and between older trees {pairs}, verify against the "
            "roots the log's own inclusion proofs give",
            served="\n          ".join(problems),
            extra={"seed": str(tlog_target.seed)},
        )


def _from_recorded(client: TLogClient, recorded: KnownTree, served: Tree) -> tuple[str | None, str]:
    try:
        evidence = check_recorded(client, Tree(recorded.tree_size, recorded.root_hash), served)
    except (ProofError, FormatError) as exc:
        return f"{recorded.describe()}: {exc}", ""
    return None, evidence


def test_log_extends_every_known_root(
    tlog_client: TLogClient,
    tlog_target: Target,
    served_root: ServedRoot,
    request: pytest.FixtureRequest,
) -> None:
    if not tlog_target.known_roots:
        pytest.skip("no --tlog-known-root given: no recorded tree to prove from")
    served = served_root.tree
    results = tlog_client.map(
        lambda known: _from_recorded(tlog_client, known, served), tlog_target.known_roots
    )
    problems = [p for p, _ in results if p is not None]
    if problems:
        fail(
            "consistency",
            expected=f"the served {served.describe()} extends every --tlog-known-root",
            served="\n          ".join(problems),
        )
    for known in tlog_target.known_roots:
        if known.tree_size > served.tree_size:
            summary_line(
                request.config,
                f"the served {served.describe()} is older than {known.describe()}: a lagging "
                "edge, or a rollback",
            )


def test_log_extends_the_state_tree(
    tlog_client: TLogClient,
    tlog_target: Target,
    served_root: ServedRoot,
    request: pytest.FixtureRequest,
) -> None:
    served = served_root.tree
    state = state_to_prove_from(request, tlog_target, served)
    problem, _ = _from_recorded(tlog_client, state.known_tree(tlog_target.state_path), served)
    if problem is not None:
        fail(
            "consistency",
            expected=f"the served {served.describe()} extends the last verified tree",
            served=problem,
        )
    # A lagging edge shows an older tree than the state's: the state keeps the newer one.
    newest = max(served, Tree(state.tree_size, state.root_hash), key=lambda t: t.tree_size)
    offer_verified(request, newest)
