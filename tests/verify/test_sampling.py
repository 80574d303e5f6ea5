"""tlogcheck.verify.sampling: the edge indices and the seeded uniform sample."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlogcheck.verify.sampling import (
    edge_indices,
    older_pairs,
    older_sizes,
    sample_indices,
    uniform_indices,
)


def test_edges_of_a_small_tree() -> None:
    # 0, 1, n-2, n-1, and (2**k - 1, 2**k) for 2**k < 10: (0,1) (1,2) (3,4) (7,8).
    assert edge_indices(10) == [0, 1, 2, 3, 4, 7, 8, 9]


@pytest.mark.parametrize(
    "n, expected",
    [(0, []), (1, [0]), (2, [0, 1]), (3, [0, 1, 2]), (4, [0, 1, 2, 3]), (5, [0, 1, 2, 3, 4])],
)
def test_edges_of_tiny_trees(n: int, expected: list[int]) -> None:
    assert edge_indices(n) == expected


def test_edges_of_a_power_of_two() -> None:
    # n = 16: the boundary 16 itself is not below n, so 15/16 contribute only 15 (= n-1).
    assert edge_indices(16) == [0, 1, 2, 3, 4, 7, 8, 14, 15]


@given(st.integers(1, 2**40))
def test_edges_are_in_range_and_cover_every_boundary(n: int) -> None:
    edges = edge_indices(n)
    assert edges == sorted(set(edges))
    assert all(0 <= i < n for i in edges)
    assert {0, n - 1} <= set(edges)
    power = 1
    while power < n:
        assert power - 1 in edges and power in edges
        power <<= 1
    assert len(edges) <= 2 * n.bit_length() + 4


def test_uniform_sample_is_reproducible_by_seed() -> None:
    a = uniform_indices(10**9, 64, 1234, exclude=set())
    assert a == uniform_indices(10**9, 64, 1234, exclude=set())
    assert a != uniform_indices(10**9, 64, 1235, exclude=set())
    assert len(set(a)) == 64


def test_uniform_sample_avoids_excluded_and_saturates() -> None:
    got = uniform_indices(10, 100, 7, exclude={0, 1, 2})
    assert sorted(got) == list(range(3, 10))
    assert uniform_indices(5, 3, 7, exclude={0, 1, 2, 3, 4}) == []
    assert uniform_indices(5, 0, 7, exclude=set()) == []
    with pytest.raises(ValueError):
        uniform_indices(5, -1, 7, exclude=set())


@given(st.integers(1, 5000), st.integers(0, 200), st.integers(0, 2**64 - 1))
def test_sample_is_edges_plus_count_uniform(n: int, count: int, seed: int) -> None:
    sample = sample_indices(n, count, seed)
    edges = set(edge_indices(n))
    assert sample == sorted(set(sample))
    assert edges <= set(sample)
    assert len(sample) == len(edges) + min(count, n - len(edges))
    assert sample == sample_indices(n, count, seed)


def test_uniform_sample_is_roughly_uniform() -> None:
    # 20 000 draws over 10 buckets of a 1000-entry log: each bucket near 10 %.
    counts = [0] * 10
    for seed in range(400):
        for i in uniform_indices(1000, 50, seed, exclude=set()):
            counts[i // 100] += 1
    assert all(1700 < c < 2300 for c in counts), counts


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 64, 1000, 2**40])
def test_older_pairs_are_older_trees_in_order(size: int) -> None:
    pairs = older_pairs(size, 7)
    assert pairs == older_pairs(size, 7)  # the seed replays them
    assert all(1 <= a < b < size for a, b in pairs)
    sizes = older_sizes(size, 7)
    assert all(1 <= m < size for m in sizes)
    if size > 3:
        assert len(pairs) >= 2
