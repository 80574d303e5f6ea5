"""Errors and p95 — playbook §3.4: error rate > 1 % is Ingress5xxHigh, p95 > 300 ms is
LatencyP95High, overall and for every request group (root, checkpoint, entry, proof,
consistency: the mix of `tlogcheck.load.mix`).

`breaches` is the line itself, over any figures: the load check's locust run
(`tlogcheck.load.runner`) and triage's bounded probe (`judge_reads`, a few dozen reads
of the mix) are judged by it. A read that was taken and never answered is what the
suite calls TLogAvailabilityDown; one that began and trickled is LatencyP95High (and
counts at the time it was given up at); a 5xx is an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from tlogcheck.verify.served import DOWN, SERVER_5XX, SLOW, Finding, Verdict

__all__ = [
    "ERROR_ALERT",
    "LATENCY_ALERT",
    "MAX_ERROR_RATE",
    "MAX_P95_MS",
    "Figures",
    "Read",
    "Thresholds",
    "Violation",
    "breaches",
    "figures",
    "judge_reads",
    "raw_percentile",
]

MAX_ERROR_RATE = 0.01  # Ingress5xxHigh (playbook §1, §3.4)
MAX_P95_MS = 300.0  # LatencyP95High
ERROR_ALERT = SERVER_5XX
LATENCY_ALERT = SLOW


@dataclass(frozen=True)
class Thresholds:
    """The playbook §3.4 abort line: error rate > 1 % or p95 > 300 ms."""

    max_error_rate: float = MAX_ERROR_RATE
    p95_ms: float = MAX_P95_MS


@dataclass(frozen=True)
class Violation:
    group: str  # a request group, or "all"
    kind: Literal["error-rate", "p95"]
    value: float
    limit: float

    @property
    def alert(self) -> str:
        return ERROR_ALERT if self.kind == "error-rate" else LATENCY_ALERT

    def __str__(self) -> str:
        if self.kind == "error-rate":
            return f"{self.group}: error rate {self.value:.2%} > {self.limit:.2%}"
        return f"{self.group}: p95 {self.value:.0f} ms > {self.limit:.0f} ms"


@dataclass(frozen=True)
class Figures:
    """One request group (or "all"): requests, the share that failed, the p95."""

    name: str
    requests: int
    error_rate: float
    p95_ms: float


def breaches(groups: Iterable[Figures], thresholds: Thresholds) -> list[Violation]:
    """Every breach of the line, in the order given (overall "all" first by convention)."""
    found: list[Violation] = []
    for g in groups:
        if not g.requests:
            continue
        if g.error_rate > thresholds.max_error_rate:
            found.append(Violation(g.name, "error-rate", g.error_rate, thresholds.max_error_rate))
        if g.p95_ms > thresholds.p95_ms:
            found.append(Violation(g.name, "p95", g.p95_ms, thresholds.p95_ms))
    return found


def raw_percentile(times: Iterable[float], p: float) -> float:
    """The rank locust takes ((floor(p * count) + 1)-th smallest), on exact times."""
    ordered = sorted(times)
    if not ordered:
        return 0.0
    return ordered[min(int(len(ordered) * p), len(ordered) - 1)]


@dataclass(frozen=True)
class Read:
    """One read of the probe: its group and path, and what came of it."""

    group: str
    path: str
    ms: float  # until the answer, or until it was given up at
    status: int | None = None  # None: no complete answer
    stalled: bool = False  # taken, and no complete answer within the deadline
    started: bool = False  # (stalled) an answer began, then trickled
    evidence: str = ""

    @property
    def error(self) -> bool:
        return self.status is not None and self.status >= 500


def figures(reads: Sequence[Read]) -> list[Figures]:
    """Overall ("all") and per group, over the reads that got an answer or stalled."""

    def one(name: str, rows: Sequence[Read]) -> Figures:
        n = len(rows)
        errors = sum(r.error for r in rows)
        p95 = raw_percentile((r.ms for r in rows), 0.95)
        return Figures(name, n, errors / n if n else 0.0, p95)

    groups: dict[str, list[Read]] = {}
    for r in reads:
        groups.setdefault(r.group, []).append(r)
    return [one("all", reads), *(one(name, rows) for name, rows in groups.items())]


def judge_reads(reads: Sequence[Read], thresholds: Thresholds | None = None) -> Verdict:
    """The §3.4 line over a probe's reads: Ingress5xxHigh and LatencyP95High findings per
    breach, TLogAvailabilityDown for reads taken and never answered."""
    limits = thresholds or Thresholds()
    if not reads:
        return Verdict.inconclusive("no read got an answer: nothing to measure")
    rows = figures(reads)
    found: list[Finding] = []
    expected = {
        "error-rate": f"5xx on at most {limits.max_error_rate:.0%} of the reads, overall and "
        "per request group",
        "p95": f"p95 at most {limits.p95_ms:.0f} ms, overall and per request group",
    }
    for v in breaches(rows, limits):
        examples = [
            r.evidence
            for r in reads
            if (r.group == v.group or v.group == "all")
            and (r.error if v.kind == "error-rate" else r.ms > limits.p95_ms)
        ][:3]
        found.append(
            Finding(
                "load",
                v.alert,
                expected[v.kind],
                str(v) + "".join(f"\n          {e}" for e in examples),
            )
        )
    hung = [r for r in reads if r.stalled and not r.started]
    if hung:
        found.append(
            Finding(
                "health",
                DOWN,
                "a complete answer within the deadline (the target took the request)",
                f"{len(hung)} of {len(reads)} reads were taken and never answered, e.g. "
                f"{hung[0].evidence}",
            )
        )
    table = "; ".join(
        f"{g.name} {g.requests} reads, {g.error_rate:.0%} 5xx, p95 {g.p95_ms:.0f} ms" for g in rows
    )
    if found:
        return Verdict.failed(*found, summary=table)
    return Verdict.passed(table)
