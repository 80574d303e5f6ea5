"""The `--tlog-state` tree a consistency check proves from, and the tree it offers back:
shared by the checks of both APIs. The controller writes the offered tree only after a
fully passing run (`tlogcheck.plugin.suite`)."""

from __future__ import annotations

import pytest

from tlogcheck.plugin.report import VERIFIED_TREE_KEY
from tlogcheck.plugin.target import Target
from tlogcheck.state import State, load_state
from tlogcheck.verify import Tree

__all__ = ["offer_verified", "state_to_prove_from"]


def offer_verified(request: pytest.FixtureRequest, tree: Tree) -> None:
    """Offer `tree` to the state file."""
    request.node.user_properties.append((VERIFIED_TREE_KEY, (tree.tree_size, tree.root_hash.hex())))


def state_to_prove_from(request: pytest.FixtureRequest, target: Target, served: Tree) -> State:
    """The remembered tree; skips without one (offering `served` when the file is new)."""
    if target.state_path is None:
        pytest.skip("no --tlog-state given: no remembered tree to prove from")
    state = load_state(target.state_path)
    if state is None:
        offer_verified(request, served)
        pytest.skip(
            f"state file {target.state_path} does not exist yet: a fully passing run "
            f"records {served.describe()}"
        )
    return state
