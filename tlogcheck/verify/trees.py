"""Root and checkpoint, and the trees recorded elsewhere — playbook §5 and §3.2,
alert TLogInclusionProofFail.

- `judge_root_and_checkpoint`: what one view (the edge) served as root and as
  checkpoint describe the same tree, or one is an older copy a cache may still hold: a
  proven prefix of the other within its Cache-Control (`verify.lag.judge_lag`).
- `judge_signer`: on the origin exactly. A pod's checkpoint is its signed statement of
  the tree it serves, so one that trails the root — however validly signed, however
  consistent — is a signer that stalled.
- `judge_recorded`: the served tree is one log with every tree recorded elsewhere
  (`--tlog-known-root`, custody records, the state file): a consistency proof served by
  the log (`verify.chain.check_recorded`).

The suite's consistency check, triage's §2.3 step and the quarterly checklist call them.
A 5xx met on the way raises `ServerError` (`verify.served`): no verdict about the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tlogcheck.client.purpose import READ, asking
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.spec import PATH_CHECKPOINT
from tlogcheck.verify.chain import check_recorded
from tlogcheck.verify.lag import judge_lag
from tlogcheck.verify.served import Verdict, finding
from tlogcheck.verify.views import (
    MIX_ATTEMPTS,
    ServedRoot,
    Tree,
    from_release,
    mixed,
    served_tree,
)

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient
    from tlogcheck.state import KnownTree

__all__ = ["judge_recorded", "judge_root_and_checkpoint", "judge_signer"]


def _unreadable(response: Response, where: str, exc: FormatError) -> Verdict:
    return Verdict.failed(
        finding(
            "consistency",
            expected=f"a readable checkpoint{where} to compare with the root",
            served=f"{exc}\n          {response.describe()}",
        )
    )


def judge_root_and_checkpoint(
    client: TLogClient, root: ServedRoot, checkpoint: Response
) -> Verdict:
    """Root and checkpoint of one view describe the same tree, or one is a lagging copy."""
    try:
        checkpoint_tree = served_tree(checkpoint)
    except FormatError as exc:
        return _unreadable(checkpoint, "", exc)
    root_tree = root.tree
    if root_tree == checkpoint_tree:
        return Verdict.passed(f"root and checkpoint: the same {root_tree.describe()}")
    notes: list[str] = []
    if root_tree.tree_size < checkpoint_tree.tree_size:
        older, older_response = root_tree, root.response
        newer, newer_response = checkpoint_tree, checkpoint
    else:
        older, older_response = checkpoint_tree, checkpoint
        newer, newer_response = root_tree, root.response
    problem = judge_lag(
        client,
        older=older,
        newer=newer,
        older_response=older_response,
        newer_response=newer_response,
        notes=notes,
    )
    if problem is None:
        return Verdict.passed(
            f"root {root_tree.describe()}, checkpoint {checkpoint_tree.describe()}: the older "
            "a proven prefix within its Cache-Control",
            notes=notes,
        )
    return Verdict.failed(
        finding(
            "consistency",
            expected="root and checkpoint describe the same tree (spec: Endpoints)",
            served=f"root {root_tree.describe()}, checkpoint {checkpoint_tree.describe()}: "
            f"{problem}\n          root:       {root.response.describe()}\n"
            f"          checkpoint: {checkpoint.describe()}",
            how="proved",
        ),
        notes=notes,
    )


def judge_signer(
    client: TLogClient, origin_root: ServedRoot, origin_view: str = "X-Bypass: 1"
) -> Verdict:
    """On the origin (`origin_view`: how it is reached), the checkpoint signs exactly the
    tree the root describes (asked of a pod of the root's release during a canary): one
    behind is a stalled signer."""
    root_tree = origin_root.tree
    with asking(READ, "the origin's checkpoint, of its root's release"):
        response = from_release(
            client, PATH_CHECKPOINT, view="origin", release=origin_root.response.release
        )
    try:
        checkpoint_tree = served_tree(response)
    except FormatError as exc:
        return _unreadable(response, " on the origin", exc)
    if checkpoint_tree == root_tree:
        return Verdict.passed(
            f"origin: checkpoint signs the root's {root_tree.describe()}",
            evidence=[response.describe()],
        )
    if mixed(response.release, origin_root.response.release):
        return Verdict.skipped(
            f"no pod of release {origin_root.response.release} answered the checkpoint "
            f"(asked {MIX_ATTEMPTS} times): nothing to compare"
        )
    behind = root_tree.tree_size - checkpoint_tree.tree_size
    why = (
        f"the signed tree is {behind} entries behind the served one: the signer stalled"
        if behind > 0
        else "the origin's own root and checkpoint disagree"
    )
    return Verdict.failed(
        finding(
            "consistency",
            expected=f"on the origin ({origin_view}), the checkpoint signs the tree the "
            f"root describes: {root_tree.describe()} (spec: Endpoints)",
            served=f"checkpoint {checkpoint_tree.describe()}: {why}\n"
            f"          root:       {origin_root.response.describe()}\n"
            f"          checkpoint: {response.describe()}",
            how="proved",
        )
    )


def judge_recorded(
    client: TLogClient, recorded: Sequence[KnownTree], served: Tree, what: str
) -> Verdict:
    """The served tree and every recorded one are one log (a served consistency proof each).

    `what` names the records in the finding ("every --tlog-known-root")."""
    if not recorded:
        return Verdict.skipped("no recorded tree to prove from")

    def one(known: KnownTree) -> tuple[str | None, str]:
        try:
            evidence = check_recorded(client, Tree(known.tree_size, known.root_hash), served)
        except (ProofError, FormatError) as exc:
            return f"{known.describe()}: {exc}", ""
        return None, f"{known.describe()}: {evidence}"

    results = client.map(one, list(recorded))
    problems = [p for p, _ in results if p is not None]
    notes = [
        f"the served {served.describe()} is older than {k.describe()}: a lagging edge, or a "
        "rollback"
        for k in recorded
        if k.tree_size > served.tree_size
    ]
    if problems:
        return Verdict.failed(
            finding(
                "consistency",
                expected=f"the served {served.describe()} extends {what}",
                served="\n          ".join(problems),
                how="proved",
            ),
            notes=notes,
        )
    return Verdict.passed(
        f"{len(recorded)} recorded tree(s) and the served {served.describe()} are one log",
        evidence=[e for _, e in results],
        notes=notes,
    )
