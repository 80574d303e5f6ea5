"""The release's db.jsonl — playbook §4 (`sha256sum db.jsonl`, rebuild the TLog root) and
§3.2 step 2, alert TLogInclusionProofFail.

- `audit_against`: one streaming pass over the file, with the root of its first
  `served` entries when the served tree is a prefix of it (a lagging edge);
- `judge_db_hash`: its SHA-256 equals the release's (`--tlog-db-sha256`);
- `judge_db_root`: the root rebuilt from it equals the served root at the served size;
  a served tree larger than the file announces entries the release does not have.

The suite's db check, triage's §3.2 step 2 and the quarterly checklist's audit call them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlogcheck.db import DbAudit, audit
from tlogcheck.errors import DbError
from tlogcheck.verify.served import Verdict, finding

if TYPE_CHECKING:
    from tlogcheck.client import Response
    from tlogcheck.verify.views import Tree

__all__ = ["audit_against", "judge_db_hash", "judge_db_root"]


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
    """The root rebuilt from the file's first `served.tree_size` entries is the served one."""
    if served.tree_size > found.tree_size:
        return Verdict.failed(
            finding(
                "db",
                expected=f"a served tree no larger than {path} ({found.tree_size} entries)",
                served=f"{served.describe()}: entries the release does not have\n          "
                f"{response.describe()}",
                how="proved",
            )
        )
    rebuilt = (
        found.root_hash
        if served.tree_size == found.tree_size
        else found.prefix_roots[served.tree_size]
    )
    if rebuilt != served.root_hash:
        return Verdict.failed(
            finding(
                "db",
                expected=f"the root rebuilt from the first {served.tree_size} entries of "
                f"{path}: {rebuilt.hex()}",
                served=f"{served.describe()}\n          {response.describe()}",
                how="proved",
            )
        )
    return Verdict.passed(
        f"the root rebuilt from the first {served.tree_size} of {found.tree_size} entries of "
        f"{path} is the served {served.describe()}"
    )
