"""A served tree held to its release: the release's db.jsonl is what every view serves, or
an older prefix of it — never more, never other entries.

Both views: the edge may lag behind the file (a cache), and the origin must not serve
more than its release holds however the edge looks — pods serving entries that are not
in their release are caught even while the edge legitimately lags. That the origin
serves all of it is `views.origin_serving`'s business (only a cache may lag).
"""

from __future__ import annotations

from pathlib import Path

from tlogcheck.db import DbAudit, audit
from tlogcheck.verify.views import Tree

__all__ = ["release_problem"]


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
