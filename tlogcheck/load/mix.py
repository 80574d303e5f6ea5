"""The read mix of TLog clients (playbook §3.4): which requests a client makes, how
often, and which indices it asks for. Without locust, so the load profile
(`tlogcheck.load.profile`, in a locust process) and triage's errors and p95 probe
(`tlogcheck.incident.triage`) read the same mix:

    root         GET /v1/log/root
    checkpoint   GET /v1/log/checkpoint
    entry        GET /v1/log/entry/{i}
    proof        GET /v1/log/proof/{i}?tree_size={n}
    consistency  GET /v1/log/consistency?first={m}&second={n}

Indices cover the whole index space [0, n) with a hot set: a share of the reads go to
the newest entries, the ones clients have just appended and come to verify.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from tlogcheck.spec import (
    PATH_CHECKPOINT,
    PATH_ROOT,
    consistency_path,
    entry_path,
    proof_path,
)

__all__ = [
    "DEFAULT_HOT_SET",
    "DEFAULT_HOT_SHARE",
    "DEFAULT_WEIGHTS",
    "GROUPS",
    "mixed_reads",
    "parse_weights",
    "pick_index",
    "read_path",
]

GROUPS = ("root", "checkpoint", "entry", "proof", "consistency")
DEFAULT_WEIGHTS = {"root": 2, "checkpoint": 2, "entry": 10, "proof": 5, "consistency": 1}
DEFAULT_HOT_SET = 32
DEFAULT_HOT_SHARE = 0.8


def parse_weights(text: str) -> dict[str, int]:
    """`root=2,entry=10,...` -> weights; groups left out keep their default, 0 drops one."""
    weights = dict(DEFAULT_WEIGHTS)
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        name, sep, raw = part.partition("=")
        if not sep or name not in weights:
            raise ValueError(
                f"TLOG_LOAD_WEIGHTS: {part!r} is not GROUP=WEIGHT with GROUP in {', '.join(GROUPS)}"
            )
        if not raw.isdigit():
            raise ValueError(f"TLOG_LOAD_WEIGHTS: weight of {name!r} must be an integer >= 0")
        weights[name] = int(raw)
    if not any(weights.values()):
        raise ValueError("TLOG_LOAD_WEIGHTS: every weight is 0")
    return weights


def pick_index(rng: random.Random, tree_size: int, hot_set: int, hot_share: float) -> int:
    """An index in [0, tree_size): the newest `hot_set` entries get `hot_share` of the reads."""
    hot = min(hot_set, tree_size)
    if rng.random() < hot_share:
        return tree_size - 1 - rng.randrange(hot)
    return rng.randrange(tree_size)


def read_path(
    group: str,
    tree_size: int,
    rng: random.Random,
    *,
    hot_set: int = DEFAULT_HOT_SET,
    hot_share: float = DEFAULT_HOT_SHARE,
) -> str:
    """The path a client of the mix reads for `group`, pinned to `tree_size`."""
    n = tree_size
    if group == "root":
        return PATH_ROOT
    if group == "checkpoint":
        return PATH_CHECKPOINT
    if group == "entry":
        return entry_path(pick_index(rng, n, hot_set, hot_share))
    if group == "proof":
        return proof_path(pick_index(rng, n, hot_set, hot_share), n)
    if group == "consistency":
        return consistency_path(rng.randrange(1, n + 1), n)
    raise ValueError(f"{group!r} is not a request group ({', '.join(GROUPS)})")


def mixed_reads(
    tree_size: int,
    count: int,
    seed: int | str,
    weights: Mapping[str, int] = DEFAULT_WEIGHTS,
) -> list[tuple[str, str]]:
    """`count` (group, path) reads in the mix's proportions (every group with a weight
    gets its share, at least one read each), in a seeded order: what the load profile's
    clients read, without the load."""
    rng = random.Random(seed)
    total = sum(weights.values())
    groups: list[str] = []
    for group in GROUPS:
        w = weights.get(group, 0)
        if w:
            groups += [group] * max(1, round(count * w / total))
    rng.shuffle(groups)
    return [(g, read_path(g, tree_size, rng)) for g in groups]
