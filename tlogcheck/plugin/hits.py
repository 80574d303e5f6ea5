"""The edge's hit rate as a verdict, shared by the cache checks of both APIs: immutable
paths read round after round (`tlogcheck.verify.cache`), then pass, fail (TLogCacheMissHigh)
or skip / inconclusive with the reason."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tlogcheck.client import TLogClient
from tlogcheck.plugin.report import add_fact
from tlogcheck.plugin.verdicts import fail, inconclusive
from tlogcheck.verify.cache import MAX_MISS_RATIO, MEASURED_ROUNDS, steady_miss_ratio


def judge_hit_rate(config: pytest.Config, client: TLogClient, paths: Sequence[str]) -> None:
    """Fail when more than MAX_MISS_RATIO of the steady-state reads of `paths` missed."""
    found = steady_miss_ratio(client, list(paths))
    if not found.reported:
        signs = found.signs()
        pytest.skip(
            f"a cache answers ({signs}) but says no cache-status word (X-Cache, "
            "CF-Cache-Status, X-Cache-Status, Cache-Status, Via cache codes): the hit rate "
            "cannot be measured"
            if signs
            else "the target reports no cache status and leaves no sign of a cache (Age, Via): "
            "an origin without an edge cache; the hit rate is not checked"
        )
    misses = found.misses
    add_fact(config, "cache_miss_ratio", round(found.ratio, 4))
    if found.ratio > MAX_MISS_RATIO:
        fail(
            "cache",
            expected=f"immutable paths served from the edge cache once warm: misses <= "
            f"{MAX_MISS_RATIO:.0%} of the reads of the last {MEASURED_ROUNDS} rounds",
            served=f"{len(misses)} of {len(found.measured)} reads of {len(paths)} paths missed "
            f"({found.ratio:.0%}) after {found.rounds - MEASURED_ROUNDS} warm-up rounds, e.g.\n"
            + "\n".join(f"          {r.describe()}" for r in misses[:5]),
        )
    if found.unknown:
        inconclusive(
            f"{len(found.unknown)} of {len(found.measured)} cache statuses are not known hit "
            f"or miss words: {', '.join(found.unknown_words()[:5])}; the miss ratio cannot "
            "be told (known words: docs/cdn.md)"
        )
