"""One probe's working state: its clients, what the checks found, and how a check ends.

A check is a function of the `Context` that calls the suite's rules (`tlogcheck.verify`)
and returns their `Verdict`. `run_check` ends it as the suite and triage end a rule:
what the client raised is `verify.served.verdict_of`'s verdict — a 5xx is Ingress5xxHigh
(TLogAvailabilityDown on `/healthz`), a request taken and never answered
TLogAvailabilityDown, one that trickled LatencyP95High, a certificate clients reject
TLogAvailabilityDown, could not ask inconclusive, a proof or format error a finding of
the check. `result_of` renders the verdict as the probe's `CheckResult`:

- a finding under the check's own alert fails the check;
- findings only under other alerts (what was answered, not what the check asks) leave
  the check's own question not judged: inconclusive; they page their own alerts
  (`CheckResult.alerts`, `tlogcheck_probe_alert_failures{alert}`), never the check's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tlogcheck.client import Response, TLogClient
from tlogcheck.client.purpose import READ, asking, checking
from tlogcheck.errors import TLogCheckError
from tlogcheck.exporter.config import Module
from tlogcheck.exporter.state import Remembered, StateBook, Track
from tlogcheck.playbook.checks import CHECKS
from tlogcheck.verify import EdgeProbe, Tree, probe_edge
from tlogcheck.verify.probe import Figures
from tlogcheck.verify.served import Verdict, verdict_of
from tlogcheck.verify.tiles import TileReader

__all__ = [
    "STATUSES",
    "CheckResult",
    "Context",
    "Facts",
    "combine",
    "guarded",
    "result_of",
    "run_check",
]

STATUSES = ("passed", "failed", "inconclusive", "skipped")
SHOWN = 3  # findings a result's detail names
log = logging.getLogger("tlogcheck.exporter")


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict as the probe answers it (`result_of`)."""

    check: str
    status: str  # one of STATUSES
    detail: str = ""
    alerts: tuple[str, ...] = ()  # the §1 alerts its findings are problems of


@dataclass
class Facts:
    """What a probe measured, for its metrics (each None or empty when not measured)."""

    healthz: dict[str, int] = field(default_factory=dict)
    tree_size: dict[str, int] = field(default_factory=dict)
    miss_ratio: float | None = None
    entries_verified: int | None = None
    entries_failed: int | None = None
    # The errors and latency sample: its figures over all reads, and how many were 5xx.
    sample: Figures | None = None
    sample_5xx: int = 0
    # The edge's checkpoint whose signature verified in this probe.
    signed: Remembered | None = None
    # The remembered trees the signed one is not one log with, and why.
    conflict: tuple[Track, str] | None = None


@dataclass
class Context:
    """What the checks of one probe share."""

    client: TLogClient
    raw: TLogClient
    module: Module
    target: str
    seed: int
    state: StateBook
    scrub: Callable[[str], str]
    say: Callable[[str], None]  # the probe's log
    facts: Facts = field(default_factory=Facts)
    trees: dict[str, tuple[Response, Tree]] = field(default_factory=dict)
    readers: dict[str, TileReader] = field(default_factory=dict)
    _edge: EdgeProbe | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def edge(self) -> EdgeProbe:
        """Whether an edge cache answers at the target (`verify.probe_edge`), asked once."""
        if self._edge is None:
            self._edge = probe_edge(self.client, self.module.api)
            self.say(f"edge: {self._edge.evidence}")
        return self._edge


def guarded(check: str, what: str, rule: Callable[[], Verdict]) -> Verdict:
    """Run one rule of `check`; what the client raised is `verify.served.verdict_of`'s
    verdict (anything it does not classify: inconclusive)."""
    try:
        return rule()
    except TLogCheckError as exc:
        return verdict_of(exc, check, what) or Verdict.inconclusive(f"{what}: {exc}")


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """The verdicts of one check's parts (a view each, a path each) as one: every finding;
    else inconclusive if a part was; skipped if every part was; else passed."""
    found = [f for v in verdicts for f in v.findings]
    unjudged = next((v.unjudged for v in verdicts if v.unjudged), None)
    if found:
        return Verdict.failed(*found, unjudged=unjudged)
    unsure = [v.summary for v in verdicts if v.status == "inconclusive"]
    if unsure:
        return Verdict.inconclusive("; ".join(unsure))
    if verdicts and all(v.status == "skipped" for v in verdicts):
        return Verdict.skipped("; ".join(v.summary for v in verdicts))
    return Verdict.passed("; ".join(v.summary for v in verdicts if v.summary))


def result_of(check: str, verdict: Verdict) -> CheckResult:
    """A check's verdict as the probe answers it: failed only by a finding under the
    check's own alert; findings of other alerts alone leave it inconclusive."""
    alerts = tuple(sorted(verdict.alerts))
    status: str = verdict.status
    if status == "failed" and CHECKS[check].alert not in alerts:
        status = "inconclusive"
    if verdict.findings:
        lines = [f.line() for f in verdict.findings[:SHOWN]]
        if status == "inconclusive" and verdict.unjudged:
            lines.append(verdict.unjudged)
        detail = "; ".join(lines)
    else:
        detail = verdict.summary
    return CheckResult(check, status, detail, alerts)


def run_check(ctx: Context, name: str, check: Callable[[Context], Verdict]) -> CheckResult:
    """Run one check and render its verdict (see the module docstring)."""
    try:
        # Each read on behalf of its check, as the log's word: an evidence bundle kept of it
        # says why it was asked (the client marks conditional and other-client reads).
        with checking(name), asking(READ, f"exporter probe: {name}"):
            verdict = guarded(name, f"the {name} check", lambda: check(ctx))
    except Exception as exc:  # a bug must not take the exporter down with it
        log.error("check %s raised %s: %s", name, type(exc).__name__, ctx.scrub(str(exc)))
        verdict = Verdict.inconclusive(f"exporter error: {type(exc).__name__}")
    result = result_of(name, verdict)
    ctx.say(f"{name}: {result.status}" + (f": {result.detail}" if result.detail else ""))
    return result
