"""Cache — playbook §3.3 (cache misses surge) and §1, alert TLogCacheMissHigh.

- `Cache-Control` follows the spec's table, on the edge and on the origin: `no-store` for
  /healthz; short (`max-age` and `s-maxage` <= 300, `stale-while-revalidate` <= 3600,
  never `immutable`) for root, checkpoint and a proof without tree_size; `public,
  max-age=31536000, immutable` for entries, proofs at a given tree size and consistency
  proofs. The edge passes the origin's through: one it rewrote would grant itself a
  lifetime the origin did not (`spec.passed_through_problem`).
- Immutable paths, once read, are served from the edge's cache: after a warm-up, the
  steady-state miss ratio is at most 30 % (the playbook's TLogCacheMissHigh line). An
  edge of several nodes, each with its own cache, misses the first read on each node: a
  cold second read proves nothing, so each path is read round after round until two
  rounds running are under the line (at most 10), and those last two count.
- Cache statuses are read in every vendor's vocabulary (`tlogcheck.client.cdn`: CloudFront,
  Akamai, Fastly, Cloudflare, nginx, Azure, RFC 9211 `Cache-Status`); a word that is not
  known makes the hit rate inconclusive, quoting it, unless the known misses alone
  already pass the line. A target that reports no cache status at all is an origin
  without a CDN, a Service URL: the hit rate is skipped with that reason; its pods'
  Cache-Control still follows the table.
- During a canary the first read is asked until a pod of the served tree's release
  answers (an older release's pods do not have that tree), so what the cache keeps is
  worth keeping.
"""

from __future__ import annotations

import pytest

from tlogcheck.client import TLogClient
from tlogcheck.client.purpose import CACHE, READ, asking
from tlogcheck.plugin.hits import judge_hit_rate
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
from tlogcheck.verify.cache import cache_control_problems, immutable_paths

pytestmark = pytest.mark.cache

READ_PATHS = 16  # sampled indices whose entry and proof are read over the rounds


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
    with asking(READ, "every kind of answer, for its Cache-Control"):
        responses = tlog_client.map(lambda pv: tlog_client.get(pv[0], view=pv[1]), requests)
    problems = cache_control_problems(responses, cache_control_problem)
    if problems:
        fail(
            "cache",
            expected="Cache-Control per the spec's table on edge and origin, passed through "
            "by the edge",
            served="\n          ".join(problems),
        )


def test_immutable_reads_hit_the_edge_cache(
    tlog_client: TLogClient,
    tlog_target: Target,
    served_root: ServedRoot,
    sample_indices: list[int],
    request: pytest.FixtureRequest,
) -> None:
    if tlog_target.has_edge is False:
        pytest.skip(NO_EDGE)
    n = served_root.root.tree_size
    release = served_root.tree.release
    chosen = sample_indices[:: max(1, len(sample_indices) // READ_PATHS)][:READ_PATHS]
    # Every class of immutable path a client reads: entries, proofs and consistency proofs
    # (query strings), judged class by class (verify.cache).
    paths = immutable_paths(chosen, n)
    with asking(CACHE, "the first read of each path, which may fill the cache"):
        tlog_client.map(lambda p: answered_by(tlog_client, p, release=release), paths)
    judge_hit_rate(request.config, tlog_client, paths)
