"""Canary — playbook §3.4 (the canary step) and §3.2 step 4 (the CI pipeline's append step).

During an Argo canary at 10 %, nine requests in ten through the public URL reach stable
pods: a gate that samples the public URL mostly tests the old release. This check makes
the gate about the canary:

- `--tlog-expect-release R`: every response comes from release R (`X-TLog-Release`).
  The test samples its own 64 reads of root and entries, half on the edge view, half on
  the origin view (reads that reach the pods), so the mix behind the target is visible
  whatever else the run did (under xdist each worker sees only its own responses); it
  also counts every response this process had from the target so far. A response of
  another release fails with the mix seen, e.g. `v1.0.0: 57, v1.1.0: 7`.
- `--tlog-stable-url URL` (Argo's stableService): the target's tree is an append-only
  extension of the stable side's — a consistency proof served by the target, verified
  against both roots — and the entries the stable side serves are byte-identical on the
  target for the sampled indices below the stable size. A new image whose db.jsonl
  rewrote history fails here.

Each test is skipped, with the reason, without its option.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tlogcheck.client import Response, TLogClient
from tlogcheck.client.purpose import READ, asking
from tlogcheck.errors import FormatError, ProofError, TargetUnreachable
from tlogcheck.playbook.checks import RELEASE_MIX
from tlogcheck.plugin.report import summary_line
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail
from tlogcheck.spec import PATH_ROOT, entry_path
from tlogcheck.verify import ServedRoot, prove_extends, release_mix, sampling
from tlogcheck.verify.served import answered

pytestmark = pytest.mark.canary

# At a 10 % canary step the chance that 64 reads all reach one release is 0.9**64, 0.1 %.
RELEASE_READS = 64
ROOT_READS = 8  # of each view's half; the rest are entries


def release_reads(tree_size: int, seed: int) -> list[tuple[str, str]]:
    """(path, view): per view, the root and distinct entries drawn with the seed."""
    half = RELEASE_READS // 2
    rng = random.Random(seed)
    count = min(half - ROOT_READS, tree_size)
    entries = [entry_path(i) for i in rng.sample(range(tree_size), count)]
    paths = [PATH_ROOT] * (half - count) + entries
    return [(path, view) for view in ("edge", "origin") for path in paths]


@pytest.fixture(scope="session")
def expected_release(tlog_target: Target) -> str:
    # First among a test's fixtures: without the option nothing is asked of the target.
    if tlog_target.expect_release is None:
        pytest.skip(
            "no --tlog-expect-release given: the releases that answered are reported "
            "(summary, JSON report), not checked"
        )
    return tlog_target.expect_release


def test_every_response_comes_from_the_expected_release(
    expected_release: str, tlog_client: TLogClient, tlog_target: Target, served_root: ServedRoot
) -> None:
    expected = expected_release
    reads = release_reads(served_root.root.tree_size, tlog_target.seed)
    with asking(READ, "sampled reads, for the release that answers"):
        responses = tlog_client.map(lambda pv: tlog_client.get(pv[0], view=pv[1]), reads)
    sample = Counter(r.release or "(no X-TLog-Release)" for r in responses)
    run = Counter(tlog_client.releases_seen())
    strangers = [r for r in responses if r.release != expected]
    earlier = {rel: n for rel, n in run.items() if rel != expected}
    if not strangers and not earlier:
        return
    served = f"{len(responses)} sampled reads: {release_mix(sample)}"
    served += f"\n          this process's responses so far: {release_mix(run)}"
    if strangers:
        served += f"\n          e.g. {strangers[0].describe()}"
    fail(
        RELEASE_MIX,
        expected=f"every response from release {expected} (X-TLog-Release, --tlog-expect-release)",
        served=served,
        extra={"target": tlog_target.url, "seed": str(tlog_target.seed)},
    )


def test_canary_extends_stable(
    stable_root: ServedRoot,
    tlog_client: TLogClient,
    served_root: ServedRoot,
    request: pytest.FixtureRequest,
) -> None:
    stable, canary = stable_root.tree, served_root.tree
    if stable.release is not None and stable.release == canary.release:
        summary_line(
            request.config,
            f"canary: the target answered with the stable release {stable.release}; "
            "nothing newer to compare (is --tlog-url the canary Service?)",
        )
    try:
        evidence = prove_extends(tlog_client, stable, canary)
    except (ProofError, FormatError) as exc:
        problem = str(exc)
    else:
        summary_line(request.config, f"canary: extends the stable tree: {evidence}")
        return
    fail(
        "canary",
        expected=f"the target's {canary.describe()} (release {canary.release}) extends "
        f"the stable {stable.describe()} (release {stable.release}): a consistency "
        "proof served by the target verifies against both roots",
        served=f"{problem}\n          target: {served_root.response.describe()}\n"
        f"          stable: {stable_root.response.describe()}",
    )


def _stable_entry(stable_client: TLogClient, index: int) -> Response:
    with asking(READ, f"entry {index} on the stable side"):
        response = stable_client.get(entry_path(index))
    if response.status != 200:
        # The stable side's own trouble, not the canary's: nothing to compare with.
        raise TargetUnreachable(
            f"the stable side did not serve entry {index} of its own tree: {response.describe()}"
        )
    return response


def test_stable_entries_identical_on_canary(
    stable_client: TLogClient,
    stable_root: ServedRoot,
    tlog_client: TLogClient,
    tlog_target: Target,
) -> None:
    n = stable_root.root.tree_size
    if tlog_target.indices:
        indices = sorted({i for i in tlog_target.indices if i < n})
        if not indices:
            pytest.skip(f"no --tlog-index below the stable tree size {n}")
    else:
        indices = sampling.sample_indices(n, tlog_target.sample, tlog_target.seed)

    def compare(index: int) -> str | None:
        stable = _stable_entry(stable_client, index)
        try:
            with asking(READ, f"entry {index} on the canary, to compare with the stable side"):
                canary = tlog_client.get(entry_path(index))
        except FormatError as exc:
            return f"entry {index}: {exc}"
        answered(canary)
        if canary.status == 200 and canary.body == stable.body:
            return None
        return (
            f"entry {index}: stable sha256 {stable.sha256}, target HTTP {canary.status} "
            f"sha256 {canary.sha256}\n            target: {canary.describe()}"
        )

    differing = [d for d in tlog_client.map(compare, indices) if d is not None]
    if differing:
        fail(
            "canary",
            expected=f"each of {len(indices)} sampled entries below the stable size {n}: "
            "the same bytes on the target as on the stable side (the log is append-only)",
            served=f"{len(differing)} differ:\n          " + "\n          ".join(differing[:10]),
            extra={"seed": str(tlog_target.seed)},
        )
