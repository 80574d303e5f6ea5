"""The edge's cache hit rate as the playbook alerts on it: the steady-state miss ratio of
reads through the edge (TLogCacheMissHigh: > 30 %), in every CDN vendor's words
(`tlogcheck.client.cdn`). Shared by the suite's cache check and the daily checklist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tlogcheck.client.cdn import CACHE_STATUS_HEADERS, cache_signs, cache_verdict, is_hit

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = [
    "MAX_MISS_RATIO",
    "MEASURED_ROUNDS",
    "MAX_ROUNDS",
    "MissRatio",
    "cache_hit_ratio",
    "steady_miss_ratio",
]

MAX_MISS_RATIO = 0.30  # TLogCacheMissHigh (playbook §1): cache miss ratio > 30 %
MEASURED_ROUNDS = 2
MAX_ROUNDS = 10


@dataclass(frozen=True)
class MissRatio:
    """The steady-state miss ratio of reads through the edge (`steady_miss_ratio`)."""

    measured: tuple[Response, ...]  # the reads of the last MEASURED_ROUNDS rounds
    rounds: int
    paths: int

    @property
    def reported(self) -> bool:
        """Whether any read carried a cache status at all (an edge answers)."""
        return any(r.cache_status is not None for r in self.measured)

    @property
    def misses(self) -> list[Response]:
        return [r for r in self.measured if cache_verdict(r.cache_status) == "miss"]

    @property
    def unknown(self) -> list[Response]:
        """Reads whose cache status is not a word `tlogcheck.client.cdn` knows."""
        return [r for r in self.measured if cache_verdict(r.cache_status) is None]

    @property
    def ratio(self) -> float:
        """Known misses over all measured reads: a lower bound when some are unknown."""
        return len(self.misses) / len(self.measured) if self.measured else 0.0

    def signs(self) -> str:
        """The signs of a cache the measured reads carry (`Age: 0, Via: ...`), "" if none."""
        for r in self.measured:
            found = cache_signs(r.headers)
            if found:
                return ", ".join(f"{name}: {value[:60]}" for name, value in found[:2])
        return ""

    def unknown_words(self) -> list[str]:
        words = set()
        for r in self.unknown:
            name = next((h for h in CACHE_STATUS_HEADERS if r.header(h) is not None), None)
            value = r.header(name) if name else None
            words.add(f"{name}: {value[:80]!r}" if name and value else "no cache-status header")
        return sorted(words)


def steady_miss_ratio(client: TLogClient, paths: Sequence[str]) -> MissRatio:
    """Read `paths` through the edge round after round until the miss ratio is under the
    playbook's line two rounds running (or MAX_ROUNDS pass); the last two rounds count.

    Each node of an edge of several misses a path once and then keeps it: one cold
    second read says nothing about the steady state the playbook alerts on. The caller
    has read each path once already (through `answered_by` during a canary)."""

    def ratio(reads: list[Response]) -> float:
        return sum(cache_verdict(r.cache_status) == "miss" for r in reads) / len(reads)

    rounds: list[list[Response]] = []
    while len(rounds) < MAX_ROUNDS:
        rounds.append(client.map(client.get, list(paths)))
        if len(rounds) >= MEASURED_ROUNDS and all(
            ratio(r) <= MAX_MISS_RATIO for r in rounds[-MEASURED_ROUNDS:]
        ):
            break
    measured = tuple(r for reads in rounds[-MEASURED_ROUNDS:] for r in reads)
    return MissRatio(measured, len(rounds), len(paths))


def cache_hit_ratio(doc: dict[str, Any]) -> tuple[float, int] | None:
    """(hit ratio, responses) of the edge responses a report counted; None without any."""
    total = hits = 0
    found = doc.get("edge_cache_status")
    for counts in found if isinstance(found, list) else []:
        if isinstance(counts, dict):
            for status, n in counts.items():
                if isinstance(n, int) and n > 0:
                    total += n
                    hits += n if is_hit(str(status).upper()) else 0
    return (hits / total, total) if total else None
