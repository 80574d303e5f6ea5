"""Cache — playbook §3.3 (cache misses surge) and §1, alert TLogCacheMissHigh.

- `Cache-Control` follows the spec's table, on the edge (which passes it through) and on
  the origin: `no-store` for /healthz; short (`max-age` <= 300, never `immutable`) for
  root, checkpoint and a proof without tree_size; `public, max-age=31536000, immutable`
  for entries, proofs at a given tree size and consistency proofs.
- Immutable paths read twice are served from the edge's cache the second time: at most
  30 % misses (the playbook's TLogCacheMissHigh line). A target that reports no cache
  status at all (X-Cache, CF-Cache-Status, X-Cache-Status) is an origin without a CDN,
  a Service URL: the hit rate is skipped with that reason; its pods' Cache-Control
  still follows the table. During a canary the first read is asked until a pod of the
  served tree's release answers (an older release's pods do not have that tree), so
  what the second read finds in the cache is an answer worth keeping.
"""

from __future__ import annotations

import pytest

from tlogcheck.client import Response, TLogClient, is_hit
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail
from tlogcheck.spec import (
    PATH_CHECKPOINT,
    PATH_HEALTH,
    PATH_ROOT,
    cache_control_problem,
    consistency_path,
    entry_path,
    proof_path,
)
from tlogcheck.verify import NO_EDGE, ServedRoot, answered_by

pytestmark = pytest.mark.cache

MAX_MISS_RATE = 0.30  # TLogCacheMissHigh (playbook §1)
READ_TWICE = 16  # sampled indices whose entry and proof are read twice


def test_cache_control_follows_the_spec_table(
    tlog_client: TLogClient, served_root: ServedRoot, sample_indices: list[int]
) -> None:
    n = served_root.root.tree_size
    i = sample_indices[len(sample_indices) // 2]
    paths = [
        PATH_HEALTH,
        PATH_ROOT,
        PATH_CHECKPOINT,
        entry_path(i),
        proof_path(i, n),
        proof_path(i),
        consistency_path(1, n),
    ]
    requests = [(p, v) for p in paths for v in ("edge", "origin")]
    responses = tlog_client.map(lambda pv: tlog_client.get(pv[0], view=pv[1]), requests)
    problems = []
    for response in responses:
        if response.status != 200:
            continue  # the table is about 200s; other answers are the other checks' business
        problem = cache_control_problem(response.path, response.cache_control)
        if problem is not None:
            problems.append(f"{response.view} {response.path}: {problem}")
    if problems:
        fail(
            "cache",
            expected="Cache-Control per the spec's table on edge and origin",
            served="\n          ".join(problems),
        )


def _read_twice(client: TLogClient, path: str, release: str | None) -> Response:
    answered_by(client, path, release=release)
    return client.get(path)


def test_immutable_reads_hit_the_edge_cache(
    tlog_client: TLogClient,
    tlog_target: Target,
    served_root: ServedRoot,
    sample_indices: list[int],
) -> None:
    if tlog_target.has_edge is False:
        pytest.skip(NO_EDGE)
    n = served_root.root.tree_size
    release = served_root.tree.release
    chosen = sample_indices[:: max(1, len(sample_indices) // READ_TWICE)][:READ_TWICE]
    paths = [p for i in chosen for p in (entry_path(i), proof_path(i, n))]
    second = tlog_client.map(lambda p: _read_twice(tlog_client, p, release), paths)
    if all(r.cache_status is None for r in second):
        pytest.skip(
            "the target reports no cache status (X-Cache, CF-Cache-Status, X-Cache-Status): "
            "an origin without an edge cache; the hit rate is not checked"
        )
    misses = [r for r in second if not is_hit(r.cache_status)]
    rate = len(misses) / len(second)
    if rate > MAX_MISS_RATE:
        fail(
            "cache",
            expected=f"second reads of immutable paths served from the edge cache: "
            f"misses <= {MAX_MISS_RATE:.0%}",
            served=f"{len(misses)} of {len(second)} second reads missed ({rate:.0%}), e.g.\n"
            + "\n".join(f"          {r.describe()}" for r in misses[:5]),
        )
