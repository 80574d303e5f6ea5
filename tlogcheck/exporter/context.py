"""One probe's working state: its clients, what the checks found, and how a check ends.

A check is a function of the `Context` returning a `Verdict`; `run_check` turns what a
check raises into the verdict the suite would give: could not ask (unreachable, the
probe's budget spent) is inconclusive; a format or proof failure fails; a target that
took the request and never answered fails the health check (TLogAvailabilityDown) and
is inconclusive elsewhere — a stalled read is a latency problem, not a proof, and it is
counted (`Facts.stalled`) for the latency measure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tlogcheck.client import Response, TLogClient
from tlogcheck.client.purpose import READ, asking, checking
from tlogcheck.errors import (
    FormatError,
    ProofError,
    TargetCertificateError,
    TargetStalled,
    TargetUnreachable,
    TLogCheckError,
)
from tlogcheck.exporter.config import Module
from tlogcheck.exporter.pending import ErrorsAndLatency
from tlogcheck.exporter.state import Remembered, StateBook, Track
from tlogcheck.verify import EdgeProbe, Tree, probe_edge
from tlogcheck.verify.tiles import TileReader

__all__ = ["STATUSES", "Context", "Facts", "Verdict", "run_check"]

STATUSES = ("passed", "failed", "inconclusive", "skipped")
log = logging.getLogger("tlogcheck.exporter")


@dataclass(frozen=True)
class Verdict:
    check: str
    status: str  # one of STATUSES
    detail: str = ""


@dataclass
class Facts:
    """What a probe measured, for its metrics (each None or empty when not measured)."""

    healthz: dict[str, int] = field(default_factory=dict)
    tree_size: dict[str, int] = field(default_factory=dict)
    miss_ratio: float | None = None
    entries_verified: int | None = None
    entries_failed: int | None = None
    errors: ErrorsAndLatency | None = None
    stalled: int = 0
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


def run_check(ctx: Context, name: str, check: Callable[[Context], Verdict]) -> Verdict:
    """Run one check; what it raises becomes its verdict (see the module docstring)."""
    try:
        # Each read on behalf of its check, as the log's word: an evidence bundle kept of it
        # says why it was asked (the client marks conditional and other-client reads).
        with checking(name), asking(READ, f"exporter probe: {name}"):
            verdict = check(ctx)
    except TargetUnreachable as exc:
        verdict = Verdict(name, "inconclusive", f"could not ask: {exc}")
    except TargetStalled as exc:
        ctx.facts.stalled += 1
        status = "failed" if name == "health" else "inconclusive"
        verdict = Verdict(name, status, f"asked, no complete answer: {exc}")
    except TargetCertificateError as exc:
        status = "failed" if name == "health" else "inconclusive"
        verdict = Verdict(name, status, str(exc))
    except (FormatError, ProofError) as exc:
        verdict = Verdict(name, "failed", str(exc))
    except TLogCheckError as exc:
        verdict = Verdict(name, "inconclusive", str(exc))
    except Exception as exc:  # a bug must not take the exporter down with it
        log.error("check %s raised %s: %s", name, type(exc).__name__, ctx.scrub(str(exc)))
        verdict = Verdict(name, "inconclusive", f"exporter error: {type(exc).__name__}")
    ctx.say(f"{name}: {verdict.status}" + (f": {verdict.detail}" if verdict.detail else ""))
    return verdict
