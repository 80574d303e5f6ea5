"""The release's db.jsonl — playbook §4 (`sha256sum db.jsonl`, rebuild the TLog root) and
§3.2 step 2, alert TLogInclusionProofFail.

A served tree is held to its release: the release's db.jsonl is what every view serves,
or an older prefix of it — never more, never other entries. Both views: the edge may lag
behind the file (a cache), and the origin must not serve more than its release holds
however the edge looks — pods serving entries that are not in their release are caught
even while the edge legitimately lags. That the origin serves all of it is
`views.origin_serving`'s business (only a cache may lag).

- `audit_against`: one streaming pass over the file, with the root of its first
  `served` entries when the served tree is a prefix of it (a lagging edge);
- `release_problem`: the rule, on either view: the tree no larger than the file, its root
  the root rebuilt from the file's prefix of its size;
- `judge_db_hash`: its SHA-256 equals the release's (`--tlog-db-sha256`);
- `judge_db_root`: `release_problem` as the db check's verdict, for the view that
  served the tree.

The suite's db check, triage's §3.2 step 2 and the quarterly checklist's audit call them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tlogcheck.db import DbAudit, audit
from tlogcheck.errors import DbError
from tlogcheck.verify.served import Verdict, finding

if TYPE_CHECKING:
    from tlogcheck.client import Response
    from tlogcheck.verify.views import Tree

__all__ = ["audit_against", "judge_db_hash", "judge_db_root", "release_problem"]


def audit_against(path: str, served_size: int) -> DbAudit:
    """Audit `path` (strictly), with the root of its first `served_size` entries when it
    has that many; DbError naming the line of a malformed file."""
    try:
        return audit(path, prefix_sizes=[served_size], strict=True)
    except DbError:
        pass
    # The served tree may be larger than the file, which the audit refuses as a prefix;
    # the whole file is then what is compared. Only a broken deployment pays twice.
    return audit(path, strict=True)


def release_problem(tree: Tree, found: DbAudit, db: Path | str) -> str | None:
    """What is wrong with `tree` as a tree of the release whose db.jsonl is `db` (already
    read once into `found`), or None: no larger than the file, and its root the root
    rebuilt from the file's first `tree.tree_size` entries. A prefix root the first pass
    did not keep is rebuilt by one more pass."""
    if tree.tree_size > found.tree_size:
        return (
            f"{tree.describe()}: {tree.tree_size - found.tree_size} entries beyond the "
            f"{found.tree_size} of {db}, entries the release does not have"
        )
    if tree.tree_size == found.tree_size:
        rebuilt = found.root_hash
    elif tree.tree_size in found.prefix_roots:
        rebuilt = found.prefix_roots[tree.tree_size]
    else:
        rebuilt = audit(db, prefix_sizes=[tree.tree_size], strict=True).prefix_roots[
            tree.tree_size
        ]
    if rebuilt != tree.root_hash:
        return (
            f"{tree.describe()}, but the root rebuilt from the first {tree.tree_size} "
            f"entries of {db} is {rebuilt.hex()}"
        )
    return None


def judge_db_hash(found: DbAudit, expected: bytes | None, source: str, path: str) -> Verdict:
    """The file's SHA-256 is the release's; skipped without one to compare with."""
    if expected is None:
        return Verdict.skipped("no --tlog-db-sha256 given: the file's hash is not compared")
    if found.sha256 != expected:
        return Verdict.failed(
            finding(
                "db",
                expected=f"SHA-256 {expected.hex()} ({source}, --tlog-db-sha256)",
                served=f"sha256sum {path} = {found.sha256.hex()}",
                how="proved",
            )
        )
    return Verdict.passed(f"sha256sum {path} = {found.sha256.hex()}, the release's ({source})")


def judge_db_root(found: DbAudit, served: Tree, response: Response, path: str) -> Verdict:
    """The tree `response` served (on its view) is a tree of the release: no larger than
    the file, its root rebuilt from the file's first `served.tree_size` entries."""
    problem = release_problem(served, found, path)
    if problem is not None:
        return Verdict.failed(
            finding(
                "db",
                expected=f"the {response.view}'s tree no larger than {path} "
                f"({found.tree_size} entries), its root the root rebuilt from the file",
                served=f"{problem}\n          {response.describe()}",
                how="proved",
            )
        )
    return Verdict.passed(
        f"the root rebuilt from the first {served.tree_size} of {found.tree_size} entries of "
        f"{path} is the {response.view}'s {served.describe()}"
    )
