"""Which entries a run verifies: the edges of the tree plus a seeded uniform sample.

Bugs in Merkle code live at the edges: the first and last leaves and both sides of
every power-of-two boundary, where the RFC 9162 split point `k` moves. Those are always
checked; the rest of the log is covered by a uniform sample drawn from
`random.Random(seed)`, so a run is replayed exactly by giving its seed back
(`--tlog-seed`). The same seed and tree size give the same indices in every process,
which is what lets xdist workers share one sample without talking to each other.
"""

from __future__ import annotations

import random

__all__ = ["edge_indices", "older_pairs", "older_sizes", "sample_indices", "uniform_indices"]


def edge_indices(tree_size: int) -> list[int]:
    """0, 1, n-2, n-1 and both sides (2**k - 1, 2**k) of each power of two below n, sorted."""
    n = tree_size
    if n <= 0:
        return []
    picks = {0, 1, n - 2, n - 1}
    power = 1
    while power < n:
        picks.update((power - 1, power))
        power <<= 1
    return sorted(i for i in picks if 0 <= i < n)


def uniform_indices(tree_size: int, count: int, seed: int, *, exclude: set[int]) -> list[int]:
    """`count` distinct indices of 0..n-1 not in `exclude`, uniform, from `Random(seed)`.

    Fewer when the tree has fewer indices outside `exclude`. Deterministic for a given
    (tree_size, count, seed, exclude).
    """
    if count < 0:
        raise ValueError(f"sample size {count} must be >= 0")
    n = tree_size
    available = n - sum(1 for i in exclude if 0 <= i < n)
    want = min(count, max(available, 0))
    if want == 0:
        return []
    rng = random.Random(seed)
    # Drawing want + |exclude| distinct indices leaves at least `want` outside `exclude`;
    # `range` makes the draw O(k) whatever n is.
    drawn = rng.sample(range(n), min(n, want + len(exclude)))
    return [i for i in drawn if i not in exclude][:want]


def sample_indices(tree_size: int, count: int, seed: int) -> list[int]:
    """The run's sample: the edge indices plus `count` uniform others, sorted."""
    edges = edge_indices(tree_size)
    extra = uniform_indices(tree_size, count, seed, exclude=set(edges))
    return sorted({*edges, *extra})


def older_sizes(tree_size: int, seed: int) -> list[int]:
    """Older trees to prove from: sizes 1, 2, 3, n/2, n-1 and one drawn with the seed, all
    below n, sorted."""
    n = tree_size
    sizes = {1, 2, 3, n // 2, n - 1}
    if n > 2:
        sizes.add(random.Random(seed).randrange(1, n))
    return sorted(m for m in sizes if 1 <= m < n)


def older_pairs(tree_size: int, seed: int) -> list[tuple[int, int]]:
    """Pairs of older trees, first < second < n: each older size with the next, the
    first with n-1 (a consistency proof across the whole log but its last entry), and one
    pair drawn with the seed. A log whose proofs are right only up to its current size
    fails them."""
    sizes = older_sizes(tree_size, seed)
    pairs = set(zip(sizes, sizes[1:], strict=False))
    if len(sizes) > 1:
        pairs.add((sizes[0], sizes[-1]))
    if tree_size > 3:
        a, b = sorted(random.Random(seed + 1).sample(range(1, tree_size), 2))
        pairs.add((a, b))
    return sorted(pairs)
