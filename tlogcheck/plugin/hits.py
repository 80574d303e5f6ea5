"""The edge's hit rate as a verdict, shared by the cache checks of both APIs: immutable
paths read round after round, judged by `tlogcheck.verify.cache.judge_miss_ratio` (the
rule triage and the daily checklist judge by too): pass, fail (TLogCacheMissHigh) or skip
/ inconclusive with the reason."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tlogcheck.client import TLogClient
from tlogcheck.plugin.report import add_fact
from tlogcheck.plugin.verdicts import render
from tlogcheck.verify.cache import judge_miss_ratio, steady_miss_ratio


def judge_hit_rate(config: pytest.Config, client: TLogClient, paths: Sequence[str]) -> None:
    """Fail when more than MAX_MISS_RATIO of the steady-state reads of a class of `paths`
    missed."""
    found = steady_miss_ratio(client, list(paths))
    verdict = judge_miss_ratio(found)
    if verdict.status != "skipped":
        # The figure the line applies to: the worst class's steady-state miss ratio.
        add_fact(config, "cache_miss_ratio", round(found.ratio, 4))
    render(verdict)
