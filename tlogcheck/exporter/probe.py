"""One probe: a module's checks against one target, within the scrape's budget.

`Probe.run` runs in a worker thread: it checks out the (module, target)'s clients, sets
their deadline to the probe's end (no request is asked or waited for past it), runs the
module's checks in order (`context.run_check`), reads a small errors-and-latency
sample, then remembers the verified tree, keeps evidence of a fork, and compares the
tree with the peers'. `Probe.snapshot` may be taken at any time, from any thread: a
check not decided yet is inconclusive ("not decided within the probe's budget"), which
is what the handler answers when the budget is spent before the checks are.

Per-read deadlines are a third of the budget, so one read that hangs leaves time for
the checks after it and fails the health check it belongs to rather than eating the
whole probe.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tlogcheck import spec
from tlogcheck.errors import TLogCheckError
from tlogcheck.exporter.checks import CHECKS_V1
from tlogcheck.exporter.context import CheckResult, Context, Facts, run_check
from tlogcheck.exporter.peers import PeerVerdict, judge_peer
from tlogcheck.exporter.tiles_checks import CHECKS_TILES
from tlogcheck.verify.cache import path_class
from tlogcheck.verify.probe import Read, figures

if TYPE_CHECKING:
    from tlogcheck.exporter.clients import ClientPool, Clients
    from tlogcheck.exporter.config import Module
    from tlogcheck.exporter.evidence import EvidenceShelf
    from tlogcheck.exporter.peers import PeerBook
    from tlogcheck.exporter.redact import Redactor
    from tlogcheck.exporter.state import Remembered, StateBook

__all__ = ["Env", "Probe", "ProbeResult"]

READS = 16  # the errors and latency sample: reads through the edge, not retried
MAX_LINES = 400
MAX_LINE = 2000


@dataclass
class Env:
    """What every probe shares: the exporter's state, clients, peers and evidence."""

    vantage: str
    state: StateBook
    shelf: EvidenceShelf
    pool: ClientPool
    redactor: Redactor
    peers: PeerBook | None = None


@dataclass(frozen=True)
class ProbeResult:
    module: str
    target: str
    success: bool
    duration: float
    timeout: float
    verdicts: tuple[CheckResult, ...]
    facts: Facts
    peers: tuple[PeerVerdict, ...]
    lines: tuple[str, ...]
    finished: bool


@dataclass
class Probe:
    module: Module
    target: str
    budget: float
    env: Env
    seed: int = field(default_factory=lambda: random.SystemRandom().randrange(2**32))
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.end = self.started + self.budget
        self._lock = threading.Lock()
        self._verdicts: dict[str, CheckResult] = {}
        self._peers: list[PeerVerdict] = []
        self._lines: list[str] = []
        self._facts = Facts()
        self._finished: float | None = None

    def say(self, line: str) -> None:
        with self._lock:
            if len(self._lines) < MAX_LINES:
                stamp = time.monotonic() - self.started
                self._lines.append(f"{stamp:7.3f}s {line[:MAX_LINE]}")

    def left(self) -> float:
        return self.end - time.monotonic()

    # -- the worker thread ---------------------------------------------------------------

    def run(self) -> None:
        m = self.module
        self.say(f"probe of {self.target} with module {m.name} ({m.api}), budget "
                 f"{self.budget:.2f}s, seed {self.seed}")  # fmt: skip
        clients = self.env.pool.checkout(m, self.target)
        try:
            per_read = max(0.05, self.budget / 3)
            clients.prepare(end=self.end, budget=self.budget, deadline=per_read,
                            timeout=min(m.timeout, per_read))  # fmt: skip
            ctx = Context(
                client=clients.checks, raw=clients.raw, module=m, target=self.target,
                seed=self.seed, state=self.env.state, scrub=self.env.redactor.scrub,
                say=self.say, facts=self._facts,
            )  # fmt: skip
            # The errors and latency sample runs beside the checks, on its own connections:
            # a slow target still gets its p95 measured before the budget ends.
            sampler = threading.Thread(target=self._sample, args=(ctx,), daemon=True)
            sampler.start()
            table = CHECKS_TILES if m.api == "tiles" else CHECKS_V1
            for name in m.checks:
                if self.left() <= 0:
                    break
                verdict = run_check(ctx, name, table[name])
                with self._lock:
                    self._verdicts[name] = verdict
            sampler.join(max(0.0, self.left()))
            self._remember(ctx, clients)
            self._compare_with_peers(ctx)
            read = sum(clients.checks.responses_seen().values()) + sum(
                clients.raw.responses_seen().values()
            )
            self.say(f"{read} answers read")
        finally:
            self.env.pool.checkin(clients)
            with self._lock:
                self._finished = time.monotonic()

    def _sample(self, ctx: Context) -> None:
        if self.module.api == "tiles":
            paths = ["/checkpoint"] * READS
        else:
            # Entries past the log's size answer 404: an answer, not an error.
            head = [spec.PATH_ROOT, spec.PATH_CHECKPOINT]
            paths = head + [spec.entry_path(i) for i in range(READS - len(head))]
        try:
            # Not retried: a 5xx the checks' client would retry is what a user saw.
            answers = ctx.raw.map(ctx.raw.get, paths)
        except TLogCheckError as exc:
            self.say(f"errors and latency sample: not measured: {exc}")
            return
        # The figures the suite's load check and triage's probe judge by (verify.probe):
        # the 5xx share and the p95 at locust's rank; the rules hold their line over
        # five minutes of probes (tlogcheck.export.rules).
        reads = [Read(path_class(r.path), r.path, r.elapsed * 1000, r.status) for r in answers]
        overall = figures(reads)[0]
        ctx.facts.sample = overall
        ctx.facts.sample_5xx = sum(r.error for r in reads)
        self.say(f"errors and latency: {ctx.facts.sample_5xx} of {overall.requests} reads 5xx, "
                 f"p95 {overall.p95_ms / 1000:.3f}s")  # fmt: skip

    def _remember(self, ctx: Context, clients: Clients) -> None:
        signed = ctx.facts.signed
        consistent = self._verdicts.get("consistency")
        if signed is not None and consistent is not None and consistent.status == "passed":
            self.env.state.remember(self.module.name, self.target, signed)
        if ctx.facts.conflict is not None and signed is not None:
            track, detail = ctx.facts.conflict
            same = next(
                (r for r in track.all()
                 if r.tree_size == signed.tree_size and r.root_hash != signed.root_hash),
                None,
            )  # fmt: skip
            if same is not None:
                self._keep("split view", [same, signed], detail)
            else:
                self._keep("fork", [track.latest, signed], detail, clients)

    def _keep(
        self, what: str, trees: list[Remembered], detail: str, clients: Clients | None = None
    ) -> None:
        responses = [t.response() for t in trees]
        if clients is not None and self.module.api == "v1":
            a, b = sorted(trees, key=lambda t: t.tree_size)
            if a.tree_size < b.tree_size and self.left() > 0:
                try:
                    proof = clients.checks.get(spec.consistency_path(a.tree_size, b.tree_size),
                                               view="origin")  # fmt: skip
                    if proof.status == 200:
                        responses.append(proof)
                except TLogCheckError:
                    pass
        path = self.env.shelf.keep(
            what=what,
            responses=responses,
            vkeys=[str(v) for v in self.module.verifiers],
            target={"url": self.target, "module": self.module.name, "vantage": self.env.vantage},
            detail=detail,
        )
        if path is not None:
            self.say(f"evidence of the {what} kept: {path} (tlogcheck evidence verify {path})")

    def _compare_with_peers(self, ctx: Context) -> None:
        book = self.env.peers
        if book is None:
            return
        signed = ctx.facts.signed
        for url in book.urls:
            if signed is None:
                verdict = PeerVerdict(url, "inconclusive", "no verified checkpoint in this probe")
            else:
                notes, problem = book.notes(url, end=self.end)
                verdict = judge_peer(
                    ctx.client, peer=url, ours=signed, notes=notes, problem=problem,
                    verifiers=self.module.verifiers,
                )  # fmt: skip
                if verdict.status == "failed" and verdict.theirs is not None:
                    theirs = replace(verdict.theirs, url=url, path=signed.path)
                    self._keep("split view across vantage points", [theirs, signed],
                               verdict.detail)  # fmt: skip
            self.say(f"peer {url}: {verdict.status}: {verdict.detail}")
            with self._lock:
                self._peers.append(verdict)

    # -- any thread ----------------------------------------------------------------------

    def snapshot(self) -> ProbeResult:
        """The probe as decided so far; undecided checks are inconclusive."""
        with self._lock:
            verdicts = tuple(
                self._verdicts.get(
                    name,
                    CheckResult(
                        name,
                        "inconclusive",
                        f"not decided within the probe's {self.budget:.2f}s budget",
                    ),
                )  # fmt: skip
                for name in self.module.checks
            )
            peers = tuple(self._peers)
            lines = tuple(self._lines)
            finished = self._finished
            facts = replace(self._facts, healthz=dict(self._facts.healthz),
                            tree_size=dict(self._facts.tree_size))  # fmt: skip
        success = all(v.status in ("passed", "skipped") for v in verdicts) and not any(
            p.status == "failed" for p in peers
        )
        ended = finished if finished is not None else time.monotonic()
        return ProbeResult(
            module=self.module.name,
            target=self.target,
            success=success,
            duration=ended - self.started,
            timeout=self.budget,
            verdicts=verdicts,
            facts=facts,
            peers=peers,
            lines=lines,
            finished=finished is not None,
        )
