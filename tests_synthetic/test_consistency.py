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
from tlogcheck.plugin.verdicts import fail, render
from tlogcheck.plugin.witness import offer_verified, state_to_prove_from
from tlogcheck.verify import ServedRoot, Tree, prove_extends, root_of_size
from tlogcheck.verify.sampling import older_pairs, older_sizes
from tlogcheck.verify.trees import judge_recorded, judge_root_and_checkpoint, judge_signer

pytestmark = pytest.mark.consistency


def test_root_and_checkpoint_describe_the_same_tree(
    tlog_client: TLogClient,
    served_root: ServedRoot,
    served_checkpoint: Response,
    request: pytest.FixtureRequest,
) -> None:
    verdict = judge_root_and_checkpoint(tlog_client, served_root, served_checkpoint)
    for note in verdict.notes:
        summary_line(request.config, note)
    render(verdict)


def test_origin_root_and_checkpoint_are_the_same_tree(
    tlog_client: TLogClient, tlog_target: Target, origin_root: ServedRoot
) -> None:
    render(judge_signer(tlog_client, origin_root, tlog_target.origin_view))


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


def test_log_extends_every_known_root(
    tlog_client: TLogClient,
    tlog_target: Target,
    served_root: ServedRoot,
    request: pytest.FixtureRequest,
) -> None:
    if not tlog_target.known_roots:
        pytest.skip("no --tlog-known-root given: no recorded tree to prove from")
    verdict = judge_recorded(
        tlog_client, tlog_target.known_roots, served_root.tree, "every --tlog-known-root"
    )
    render(verdict)
    for note in verdict.notes:
        summary_line(request.config, note)


def test_log_extends_the_state_tree(
    tlog_client: TLogClient,
    tlog_target: Target,
    served_root: ServedRoot,
    request: pytest.FixtureRequest,
) -> None:
    served = served_root.tree
    state = state_to_prove_from(request, tlog_target, served)
    known = state.known_tree(tlog_target.state_path)
    render(judge_recorded(tlog_client, [known], served, "the last verified tree"))
    # A lagging edge shows an older tree than the state's: the state keeps the newer one.
    newest = max(served, Tree(state.tree_size, state.root_hash), key=lambda t: t.tree_size)
    offer_verified(request, newest)
