"""Playbook §3.4: under load through the edge, error rate <= 1 % and p95 <= 300 ms.

One locust phase per session (`tlogcheck.load.plugin`, `tlogcheck.load.runner`): a realistic
read mix of root, checkpoint, entries (whole index space with a hot set), proofs pinned to a
tree size and consistency proofs, each in its own request group. Both limits hold overall
and for every group; a breach is the trigger to abort the canary (`Ingress5xxHigh` for errors,
`LatencyP95High` for latency). Runs only when asked: `--load`, `-m load`, or
`tlogcheck nightly`; `-m "not load"` leaves it out explicitly.
"""

from __future__ import annotations

import pytest

from tlogcheck.load.plugin import LoadResult, Thresholds, judge

pytestmark = pytest.mark.load


def test_error_rate_under_load(
    load_result: LoadResult, load_thresholds: Thresholds, request: pytest.FixtureRequest
) -> None:
    judge(request, load_result, load_thresholds, "error-rate")


def test_p95_under_load(
    load_result: LoadResult, load_thresholds: Thresholds, request: pytest.FixtureRequest
) -> None:
    judge(request, load_result, load_thresholds, "p95")
