"""Inclusion — playbook §0 (`verify_client.py $URL $INDEX`) and §3.2, TLogInclusionProofFail.

For every sampled index — the edges of the tree (0, 1, n-2, n-1, both sides of each
power of two) and a uniform sample drawn with the run's seed — the entry the edge
serves is hashed (SHA-256(0x00 || entry)) and its inclusion proof at the served tree
size must lead to the served root (RFC 9162 §2.1.3.2). Proofs are fetched concurrently.

Every form of the proof endpoint the log serves is verified, not only read: a proof
without `tree_size` (`/v1/log/proof/{i}`, what `verify_client.py URL INDEX` reads) is a
proof at the current size, and must lead to the root of that size.

Both views: a sample of entries and proofs is verified on the origin too, against the
origin's root (that each proof is the same bytes on both views is parity's). Pods whose
immutable proofs went bad hide behind a warm cache that still serves the right ones.

A failure names each failing index, the seed, and the commands that re-run just that
index; the next step is the playbook's: compare origin and edge, then db.jsonl.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tlogcheck.client import TLogClient
from tlogcheck.plugin.report import add_count
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail, inclusion_facts
from tlogcheck.verify import (
    InclusionResult,
    ServedRoot,
    verify_inclusions,
    verify_latest_proof,
)
from tlogcheck.verify.served import server_errors

pytestmark = pytest.mark.inclusion

SHOWN = 3
LATEST_FORM = 8  # sampled indices whose proof is also read without tree_size
ON_THE_ORIGIN = 16  # sampled indices whose entry and proof are verified on the origin too


def _explain(target: Target, checked: int, failures: list[InclusionResult], tree: str) -> None:
    # A proof or hash verdict needs a 200: indices left unverified by a 5xx are what was
    # answered (Ingress5xxHigh), reported only when nothing was proved wrong.
    unanswered = [r.server_error for r in failures if r.server_error is not None]
    failures = [r for r in failures if r.server_error is None]
    if not failures and unanswered:
        raise server_errors(unanswered, checked, "sampled entries")
    first = failures[0].index
    served = "\n".join(
        f"          index {r.index}: {r.problem}"
        + (f"\n            {r.evidence}" if r.evidence else "")
        for r in failures[:SHOWN]
    )
    if len(failures) > SHOWN:
        served += f"\n          ... and {len(failures) - SHOWN} more"
    rerun = {"re-run one": target.replay_command(check="inclusion", index=first)}
    if not target.embedded:
        rerun["or"] = f"tlogcheck verify {target.url} {first}{target.verify_args()}"
    fail(
        "inclusion",
        expected=f"each of {checked} sampled entries is included in the served {tree}",
        served=f"{len(failures)} failed: {', '.join(str(r.index) for r in failures)}\n{served}",
        extra={"seed": str(target.seed), **rerun},
        facts=inclusion_facts(failures),
    )


def test_sampled_entries_are_included_in_the_served_root(
    tlog_client: TLogClient,
    tlog_target: Target,
    served_root: ServedRoot,
    sample_indices: list[int],
    request: pytest.FixtureRequest,
) -> None:
    results = verify_inclusions(tlog_client, sample_indices, served_root.tree)
    failures = [r for r in results if not r.ok]
    add_count(request.config, "entries_verified", len(results) - len(failures))
    add_count(request.config, "entries_failed", len(failures))
    if failures:
        _explain(tlog_target, len(results), failures, served_root.tree.describe())


def test_proofs_at_the_current_size_verify(
    tlog_client: TLogClient,
    tlog_target: Target,
    served_root: ServedRoot,
    sample_indices: list[int],
) -> None:
    indices = sample_indices[:LATEST_FORM]
    results = tlog_client.map(
        lambda i: verify_latest_proof(tlog_client, i, served_root.tree), indices
    )
    failures = [r for r in results if not r.ok]
    if failures:
        _explain(
            tlog_target,
            len(results),
            failures,
            f"{served_root.tree.describe()} (proofs without tree_size)",
        )


def test_edge_case_indices_are_included(
    tlog_client: TLogClient, tlog_target: Target, served_root: ServedRoot
) -> None:
    """Hypothesis draws batches of indices, clustered at the bounds and small values."""
    tree = served_root.tree
    if tlog_target.indices:
        pytest.skip("--tlog-index given: only those indices are verified")
    checked: set[int] = set()
    failures: dict[int, InclusionResult] = {}

    @settings(
        database=None,
        deadline=None,
        max_examples=4,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @seed(tlog_target.seed)
    @given(st.lists(st.integers(0, tree.tree_size - 1), min_size=1, max_size=16, unique=True))
    def batch_is_included(indices: list[int]) -> None:
        todo = [i for i in indices if i not in checked]
        checked.update(todo)
        for result in verify_inclusions(tlog_client, todo, tree):
            if not result.ok:
                failures[result.index] = result

    batch_is_included()
    if failures:
        ordered = [failures[i] for i in sorted(failures)]
        _explain(tlog_target, len(checked), ordered, tree.describe())


def test_the_origin_proves_the_same(
    tlog_client: TLogClient, tlog_target: Target, origin_root: ServedRoot, sample_indices: list[int]
) -> None:
    origin = origin_root.tree
    indices = [i for i in sample_indices if i < origin.tree_size][:ON_THE_ORIGIN]
    results = verify_inclusions(tlog_client, indices, origin, view="origin")
    # An index left unverified by a 5xx is what was answered (Ingress5xxHigh, `_explain`).
    failures = [r for r in results if not r.ok]
    if failures:
        _explain(tlog_target, len(results), failures, f"origin's {origin.describe()}")
