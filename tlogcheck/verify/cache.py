"""The edge's cache hit rate as the playbook alerts on it: the steady-state miss ratio of
reads through the edge (TLogCacheMissHigh: > 30 %), in every CDN vendor's words
(`tlogcheck.client.cdn`), over every class of immutable path. Shared by the suite's cache
checks, triage's §2.5 step and the daily checklist.

The ratio is judged per class of path — entries, proofs at a tree size (a query string),
consistency proofs (another query string), tiles — and the worst class decides: a CDN
that caches entries but never a URL with a query string misses every proof, which a
ratio over all reads would dilute. Only answers count: a 5xx among the reads is what was
answered (`verify.served`), never a cache verdict.

The Cache-Control the answers carry (`cache_control_problems`): each 200 per the table of
the API read (by the path finally served), and the edge passing the origin's through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tlogcheck import spec
from tlogcheck.client.cdn import CACHE_STATUS_HEADERS, cache_signs, cache_verdict, is_hit
from tlogcheck.client.purpose import CACHE, asking
from tlogcheck.verify.served import Verdict, answered, finding

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = [
    "CONSISTENCY_PATHS",
    "MAX_MISS_RATIO",
    "MAX_ROUNDS",
    "MEASURED_ROUNDS",
    "MissRatio",
    "cache_control_problems",
    "cache_hit_ratio",
    "immutable_paths",
    "judge_miss_ratio",
    "path_class",
    "steady_miss_ratio",
]

MAX_MISS_RATIO = 0.30  # TLogCacheMissHigh (playbook §1): cache miss ratio > 30 %
MEASURED_ROUNDS = 2
MAX_ROUNDS = 10
CONSISTENCY_PATHS = 4  # consistency proofs among the immutable reads


def cache_control_problems(
    pairs: Sequence[Response], problem_of: Callable[[str, str | None], str | None]
) -> list[str]:
    """The Cache-Control problems of `pairs` — an edge answer then the origin's, for each
    path: each 200 per `problem_of` (the API's table: `spec.cache_control_problem`,
    `tiles.cache_problem`), judged by the path finally served; and the edge passing the
    origin's through unchanged (`spec.passed_through_problem`). Answers other than 200 are
    the other checks' business."""
    problems = []
    for response in pairs:
        if response.status == 200:
            problem = problem_of(response.served_path, response.cache_control)
            if problem is not None:
                problems.append(f"{response.view} {response.path}: {problem}")
    for edge, origin in zip(pairs[::2], pairs[1::2], strict=True):
        if edge.status == origin.status == 200:
            problem = spec.passed_through_problem(edge.cache_control, origin.cache_control)
            if problem is not None:
                problems.append(f"{edge.path}: {problem}")
    return problems


def path_class(path: str) -> str:
    """The class of an immutable read: entry, proof, consistency (API v1), entry bundle,
    tile (tiles); "other" for anything else."""
    bare = path.partition("?")[0]
    if bare.startswith(spec.PATH_ENTRY_PREFIX):
        return "entry"
    if bare.startswith(spec.PATH_PROOF_PREFIX):
        return "proof"
    if bare == spec.PATH_CONSISTENCY:
        return "consistency"
    if "/tile/entries/" in bare:
        return "entry bundle"
    if "/tile/" in bare:
        return "tile"
    return "other"


def immutable_paths(indices: Iterable[int], tree_size: int) -> list[str]:
    """The immutable reads of API v1 for `indices` of a tree: each entry, its proof at the
    tree's size, and consistency proofs from a few older sizes to it — every class a
    client reads, query strings included."""
    chosen = sorted({i for i in indices if 0 <= i < tree_size})
    paths = [p for i in chosen for p in (spec.entry_path(i), spec.proof_path(i, tree_size))]
    older = [i + 1 for i in chosen if 0 < i + 1 < tree_size]
    step = max(1, len(older) // CONSISTENCY_PATHS)
    paths += [spec.consistency_path(m, tree_size) for m in older[::step][:CONSISTENCY_PATHS]]
    return paths


def _miss_ratio(reads: Sequence[Response]) -> float:
    return sum(cache_verdict(r.cache_status) == "miss" for r in reads) / len(reads)


def _by_class(reads: Iterable[Response]) -> dict[str, list[Response]]:
    out: dict[str, list[Response]] = {}
    for r in reads:
        out.setdefault(path_class(r.path), []).append(r)
    return out


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
        """The worst class's known misses over its measured reads (a lower bound when
        some words are unknown): the steady-state miss ratio the line applies to."""
        return max(self.classes().values(), default=0.0)

    @property
    def overall(self) -> float:
        """Known misses over all measured reads, whatever their class."""
        return len(self.misses) / len(self.measured) if self.measured else 0.0

    def classes(self) -> dict[str, float]:
        """The miss ratio of each class of path measured."""
        return {name: _miss_ratio(reads) for name, reads in _by_class(self.measured).items()}

    def worst(self) -> str:
        """The class whose miss ratio is the steady state's (the highest)."""
        found = self.classes()
        return max(found, key=lambda name: found[name]) if found else "none"

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
    """Read `paths` through the edge round after round until every class's miss ratio is
    under the playbook's line two rounds running (or MAX_ROUNDS pass); the last two count.

    Each node of an edge of several misses a path once and then keeps it: one cold
    second read says nothing about the steady state the playbook alerts on. The caller
    has read each path once already (through `answered_by` during a canary)."""

    def settled(reads: list[Response]) -> bool:
        return all(_miss_ratio(c) <= MAX_MISS_RATIO for c in _by_class(reads).values())

    rounds: list[list[Response]] = []
    while len(rounds) < MAX_ROUNDS:
        with asking(CACHE, f"cache round {len(rounds) + 1}: immutable paths read again"):
            rounds.append(client.map(client.get, list(paths)))
        if len(rounds) >= MEASURED_ROUNDS and all(
            settled(r) for r in rounds[-MEASURED_ROUNDS:]
        ):
            break
    measured = tuple(r for reads in rounds[-MEASURED_ROUNDS:] for r in reads)
    return MissRatio(measured, len(rounds), len(paths))


def judge_miss_ratio(found: MissRatio) -> Verdict:
    """TLogCacheMissHigh's line over a measurement: fail above 30 % in any class, skip
    without a cache status (no edge), inconclusive on words no vendor documents unless
    the known misses already pass the line. A 5xx among the reads raises `ServerError`."""
    answered(*found.measured)
    if not found.reported:
        signs = found.signs()
        return Verdict.skipped(
            f"a cache answers ({signs}) but says no cache-status word (X-Cache, "
            "CF-Cache-Status, X-Cache-Status, Cache-Status, Via cache codes): the hit rate "
            "cannot be measured"
            if signs
            else "the target reports no cache status and leaves no sign of a cache (Age, Via): "
            "an origin without an edge cache; the hit rate is not checked"
        )
    per_class = ", ".join(f"{name} {ratio:.0%}" for name, ratio in found.classes().items())
    text = (
        f"{len(found.misses)} of {len(found.measured)} reads of {found.paths} immutable paths "
        f"missed after {found.rounds - MEASURED_ROUNDS} warm-up rounds; miss ratio per class: "
        f"{per_class}"
    )
    if found.ratio > MAX_MISS_RATIO:
        worst = found.worst()
        examples = [r for r in found.misses if path_class(r.path) == worst][:5]
        return Verdict.failed(
            finding(
                "cache",
                expected=f"immutable paths served from the edge cache once warm: misses <= "
                f"{MAX_MISS_RATIO:.0%} of the reads of each class in the last "
                f"{MEASURED_ROUNDS} rounds",
                served=f"{worst} reads missed {found.ratio:.0%}: {text}, e.g.\n"
                + "\n".join(f"          {r.describe()}" for r in examples),
            ),
            summary=f"{worst} reads missed {found.ratio:.0%} ({per_class})",
        )
    if found.unknown:
        return Verdict.inconclusive(
            f"{len(found.unknown)} of {len(found.measured)} cache statuses are not known hit "
            f"or miss words: {', '.join(found.unknown_words()[:5])}; the miss ratio cannot "
            "be told (known words: docs/cdn.md)"
        )
    return Verdict.passed(text, evidence=[r.describe() for r in found.measured[:4]])


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
