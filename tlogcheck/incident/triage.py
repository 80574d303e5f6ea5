"""Triage after an alert: the playbook's §2 routine against a live deployment, judged by
the suite's own rules.

Every step calls the `verify` rule the suite's check calls (`verify.health`,
`verify.parity`, `verify.trees`, `verify.chain`, `verify.release`, `verify.cache`,
`verify.probe`) and keeps its `Verdict`: what was verified, the findings (each with its
§1 alert, proved or observed) and what could not be judged. A rule fixed once is fixed
here too; nothing is re-derived.

Bounded: every request has the client's deadline and the run its budget; a URL that
stalled is not asked again (`ResponseMemo`). A target that takes a request and never
answers is TLogAvailabilityDown, one that trickles LatencyP95High, a 5xx Ingress5xxHigh
(TLogAvailabilityDown for /healthz) — as the suite says — and a step whose own question
could not be answered leaves its alert *not judged*, never "nothing wrong".

`run_triage` fills a `Triage` step by step and calls `on_step` as each completes, so
an interrupted triage keeps what it found. The steps reading Kubernetes (§2.1
versions, §2.2 server logs) are `incident.kube`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tlogcheck import note, spec
from tlogcheck.client import Response, TLogClient
from tlogcheck.client.purpose import CACHE as CACHE_READ
from tlogcheck.client.purpose import HEALTH, READ, asking, checking
from tlogcheck.errors import (
    ConfigError,
    DbError,
    NoteError,
    TargetStalled,
    TargetUnreachable,
    TLogCheckError,
)
from tlogcheck.load.mix import mixed_reads
from tlogcheck.playbook import Alert
from tlogcheck.state import KnownTree
from tlogcheck.verify import ServedRoot, Tree, read_root, sampling, served_tree
from tlogcheck.verify.cache import immutable_paths, judge_miss_ratio, steady_miss_ratio
from tlogcheck.verify.chain import verify_inclusions, verify_latest_proof
from tlogcheck.verify.health import judge_health
from tlogcheck.verify.parity import judge_views
from tlogcheck.verify.probe import Read, judge_reads
from tlogcheck.verify.release import audit_against, judge_db_hash, judge_db_root
from tlogcheck.verify.served import (
    DOWN,
    SERVER_5XX,
    SLOW,
    Finding,
    Verdict,
    finding,
    finding_of,
    server_errors,
    verdict_of,
)
from tlogcheck.verify.trees import judge_recorded, judge_root_and_checkpoint, judge_signer

__all__ = ["PROBE_REQUESTS", "Step", "Triage", "TriageInput", "edge_indices", "run_triage"]

PROBE_REQUESTS = 60  # bounded: the triage reads, it does not load-test
CACHE_INDICES = 16  # indices whose entry and proofs the cache step reads
LATEST_FORM = 8  # indices whose proof is also read without tree_size (as the suite)
INTEGRITY = "TLogInclusionProofFail"
CACHE = "TLogCacheMissHigh"


@dataclass
class Step:
    """One step: what it asked, what its rule decided, the request-level evidence."""

    section: str
    title: str
    finding: str = ""  # one line: what the step found
    evidence: list[str] = field(default_factory=list)
    skipped: str | None = None
    unreachable: bool = False
    judges: tuple[str, ...] = ()  # the §1 alerts this step's rule answers for
    findings: list[Finding] = field(default_factory=list)
    unjudged: str | None = None  # what it set out to judge and could not, and why

    @property
    def problem_of(self) -> set[str]:
        """The alerts whose problem this step showed."""
        return {f.alert for f in self.findings}

    @property
    def mark(self) -> str:
        if self.skipped:
            return "–"
        if self.findings:
            return "✗"
        if self.unjudged or self.unreachable:
            return "?"
        return "✓"

    def take(self, verdict: Verdict) -> Step:
        """Fold a rule's verdict into the step."""
        self.findings += verdict.findings
        self.evidence += verdict.evidence
        if verdict.status == "skipped" and not self.findings:
            self.skipped = verdict.summary
        # A 5xx or a stall that is itself this step's alert (a hung /healthz) judged it.
        if verdict.unjudged and not verdict.alerts & set(self.judges) and not self.unjudged:
            self.unjudged = verdict.unjudged
        parts = [p for p in (self.finding, verdict.summary) if p]
        self.finding = "; ".join(parts)
        return self


@dataclass
class Triage:
    alert: Alert
    steps: list[Step] = field(default_factory=list)
    interrupted: bool = False

    @property
    def findings(self) -> list[tuple[Step, Finding]]:
        return [(s, f) for s in self.steps for f in s.findings]

    @property
    def confirmed(self) -> bool:
        """Some step showed the alert's own problem."""
        return any(self.alert.name in s.problem_of for s in self.steps)

    @property
    def could_not_ask(self) -> bool:
        return any(s.unreachable for s in self.steps)

    @property
    def not_judged(self) -> list[Step]:
        """Steps that answer for the alert and could not: a 5xx, a stall or an unreachable
        target came first. Then "nothing wrong found" would be a claim not made."""
        return [
            s
            for s in self.steps
            if self.alert.name in s.judges and (s.unjudged or s.unreachable)
        ]

    @property
    def verdict(self) -> str:
        if self.confirmed:
            return "confirmed"
        if self.interrupted:
            return "interrupted"
        if self.could_not_ask or self.not_judged:
            return "not judged"
        return "not found"


@dataclass(frozen=True)
class TriageInput:
    """What triage is told besides the target: keys, indices, the release's db, the trees
    recorded elsewhere, the seed of the probe's mix."""

    vkeys: Sequence[note.Verifier] = ()
    indices: Sequence[int] = ()  # --tlog-index: must be inside the served tree
    report_indices: Sequence[int] = ()  # failing indices of a report: any tree's
    db: str | None = None
    db_sha256: bytes | None = None
    db_sha256_source: str = ""
    known_roots: Sequence[KnownTree] = ()
    seed: int = 0


def edge_indices(size: int) -> list[int]:
    """The suite's edge indices (0, 1, n-2, n-1, both sides of each power of two)."""
    return sampling.edge_indices(size)


# --- running a step ------------------------------------------------------------------------


def _guard(step: Step, check: str, what: str, fn: Callable[[], Verdict]) -> Step:
    """Run a step's rule; what the client raised becomes the step's verdict: a 5xx, a
    stall or a rejected certificate is a finding (its own question unjudged), a target
    that could not be asked leaves the step inconclusive."""
    try:
        return step.take(fn())
    except ConfigError:
        raise
    except TargetUnreachable as exc:
        step.unreachable = True
        return step.take(Verdict.inconclusive(f"could not ask: {exc}"))
    except TLogCheckError as exc:
        # A proof or format error that escaped a rule's own explanation is still a finding
        # of the check that met it (`verdict_of`, as the exporter's checks end).
        verdict = verdict_of(exc, check, what)
        if verdict is None:
            raise
        return step.take(verdict)


def _root(client: TLogClient, view: str) -> ServedRoot:
    with asking(READ, f"the {view}'s root"):
        response = client.get(spec.PATH_ROOT, view=view, shared=True)
    return ServedRoot(read_root(response), response)


def _checkpoint(client: TLogClient, view: str) -> Response:
    with asking(READ, f"the {view}'s checkpoint"):
        return client.get(spec.PATH_CHECKPOINT, view=view, shared=True)


# --- the steps -----------------------------------------------------------------------------


def _health(client: TLogClient) -> Step:
    step = Step("§3.1", "health (/healthz, edge and origin)", judges=(DOWN,))

    def one(view: str) -> Verdict:
        try:
            with asking(HEALTH, "§3.1 health"):
                response = client.get(spec.PATH_HEALTH, view=view)
            return judge_health(response, client.timeout)
        except TLogCheckError as exc:
            found = verdict_of(exc, "health", f"{view} /healthz")
            if found is None:
                raise
            return found

    for verdict in client.map(one, ["edge", "origin"]):
        step.take(verdict)
    return step


def _parity(client: TLogClient) -> tuple[Step, ServedRoot | None]:
    step = Step("§2.3", "origin vs edge (root, checkpoint)", judges=(INTEGRITY,))
    box: list[ServedRoot] = []

    def rule() -> Verdict:
        edge = _root(client, "edge")
        box.append(edge)  # the tree the later steps judge, whatever the origin answers
        origin = _root(client, "origin")
        step.evidence += [
            f"edge:   sha256(root body) = {edge.response.sha256}",
            f"origin: sha256(root body) = {origin.response.sha256}",
        ]
        roots = judge_views(
            client, "root", edge.response, origin.response, edge.tree, origin.tree
        )
        cps = [_checkpoint(client, v) for v in ("edge", "origin")]
        trees = [served_tree(r) for r in cps]
        checkpoints = judge_views(client, "checkpoint", cps[0], cps[1], trees[0], trees[1])
        verdicts = [roots, checkpoints]
        found = [f for v in verdicts for f in v.findings]
        summary = "; ".join(v.summary for v in verdicts)
        if found:
            return Verdict.failed(*found, summary=summary)
        return Verdict.passed(summary)

    _guard(step, "parity", "root and checkpoint of both views", rule)
    return step, (box[0] if box else None)


def _same_tree(client: TLogClient, vkeys: Sequence[note.Verifier]) -> Step:
    step = Step("§3.2", "root vs checkpoint (same tree, signed)", judges=(INTEGRITY,))

    def rule() -> Verdict:
        edge, origin = _root(client, "edge"), _root(client, "origin")
        verdicts = [
            judge_root_and_checkpoint(client, edge, _checkpoint(client, "edge")),
            judge_signer(client, origin),
        ]
        if vkeys:
            verdicts.append(_signature(_checkpoint(client, "edge"), vkeys))
        found = [f for v in verdicts for f in v.findings]
        summary = "; ".join(v.summary for v in verdicts)
        return Verdict.failed(*found, summary=summary) if found else Verdict.passed(summary)

    return _guard(step, "consistency", "root and checkpoint", rule)


def _signature(response: Response, vkeys: Sequence[note.Verifier]) -> Verdict:
    keys = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in vkeys)
    try:
        note.verify_note(response.body, vkeys)
    except NoteError as exc:
        return Verdict.failed(
            finding(
                "checkpoint",
                expected=f"a signature that verifies with {keys} (--tlog-vkey)",
                served=f"{exc}\n          {response.describe()}",
                how="proved",
            )
        )
    return Verdict.passed(f"checkpoint signature verifies with {keys}")


def _inclusion(client: TLogClient, tree: Tree, given: TriageInput) -> Step:
    wanted = sorted(
        {*edge_indices(tree.tree_size), *given.indices}
        | {i for i in given.report_indices if i < tree.tree_size}
    )
    outside = sorted(i for i in given.report_indices if i >= tree.tree_size)
    step = Step("§2.4", f"inclusion ({len(wanted)} indices)", judges=(INTEGRITY,))
    if outside:
        step.evidence.append(f"indices of the report outside the served tree: {outside}")

    def rule() -> Verdict:
        results = verify_inclusions(client, wanted, tree)
        results += client.map(lambda i: verify_latest_proof(client, i, tree), wanted[:LATEST_FORM])
        for r in results:
            leaf = r.leaf_hash.hex() if r.leaf_hash else "-"
            step.evidence.append(
                f"index {r.index}: leaf hash {leaf}: {'verified' if r.ok else r.problem}"
            )
            step.evidence.extend(f"  {resp.describe()}" for resp in r.responses)
        wrong = [r for r in results if not r.ok and r.server_error is None]
        unanswered = [r.server_error for r in results if r.server_error is not None]
        found: list[Finding] = []
        if wrong:
            found.append(
                finding(
                    "inclusion",
                    expected=f"each index included in the served {tree.describe()}",
                    served=f"{len(wrong)} failed: "
                    + "; ".join(f"index {r.index}: {r.problem}" for r in wrong[:3]),
                    how="proved",
                )
            )
        unjudged = None
        if unanswered:
            extra = finding_of(server_errors(unanswered, len(results), "reads"), "inclusion")
            assert extra is not None
            found.append(extra)
            unjudged = f"{len(unanswered)} of {len(results)} indices not verified: 5xx"
        failed = sorted({r.index for r in results if not r.ok})
        summary = (
            f"{len(failed)} of {len(wanted)} indices not verified: {failed[:8]}"
            if failed
            else f"all {len(wanted)} indices verified"
        )
        if found:
            return Verdict.failed(*found, summary=summary, unjudged=unjudged)
        return Verdict.passed(summary)

    return _guard(step, "inclusion", "inclusion proofs", rule)


def _db(tree: Tree, response: Response, given: TriageInput) -> Step:
    step = Step("§3.2", "db.jsonl (SHA-256, root rebuilt)", judges=(INTEGRITY,))
    if given.db is None:
        return step.take(Verdict.skipped("no --tlog-db given: the release's db.jsonl not read"))
    db = given.db

    def rule() -> Verdict:
        try:
            found = audit_against(db, tree.tree_size)
        except DbError as exc:
            return Verdict.failed(
                finding("db", expected=f"{db} to be a well-formed db.jsonl", served=str(exc))
            )
        verdicts = [
            judge_db_hash(found, given.db_sha256, given.db_sha256_source, db),
            judge_db_root(found, tree, response, db),
        ]
        failed = [f for v in verdicts for f in v.findings]
        summary = "; ".join(v.summary for v in verdicts)
        return Verdict.failed(*failed, summary=summary) if failed else Verdict.passed(summary)

    return _guard(step, "db", "db.jsonl", rule)


def _recorded(client: TLogClient, tree: Tree, known: Sequence[KnownTree]) -> Step:
    step = Step("§5", "recorded trees (known roots, state)", judges=(INTEGRITY,))
    if not known:
        return step.take(Verdict.skipped("no --tlog-known-root or --tlog-state given"))
    return _guard(
        step,
        "consistency",
        "consistency with the recorded trees",
        lambda: judge_recorded(client, known, tree, "every recorded tree"),
    )


def _cache(client: TLogClient, tree: Tree) -> Step:
    step = Step("§2.5", "cache (steady-state miss ratio)", judges=(CACHE,))

    def rule() -> Verdict:
        n = tree.tree_size
        chosen = sorted({*range(0, n, max(1, n // CACHE_INDICES))} | {n - 1})[:CACHE_INDICES]
        paths = immutable_paths(chosen, n)
        with asking(CACHE_READ, "§2.5 the first read of each path, which may fill the cache"):
            client.map(client.get, paths)
        return judge_miss_ratio(steady_miss_ratio(client, paths))

    return _guard(step, "cache", "cache statuses", rule)


def _probe(probe: TLogClient, tree: Tree, seed: int) -> Step:
    title = f"errors and p95 ({PROBE_REQUESTS} reads of the load mix)"
    step = Step("§3.4", title, judges=(SERVER_5XX, SLOW))

    def read(group_path: tuple[str, str]) -> Read | None:
        group, path = group_path
        start = time.monotonic()
        try:
            r = probe.get(path)
        except TargetStalled as exc:
            # Given up at the deadline (or at once when the URL already stalled this run).
            ms = max(time.monotonic() - start, probe.deadline) * 1000
            return Read(group, path, ms, None, True, exc.started, str(exc))
        except TargetUnreachable:
            return None
        return Read(group, path, r.elapsed * 1000, r.status, evidence=r.describe())

    def rule() -> Verdict:
        with asking(READ, "§3.4 errors and latency"):
            asked = probe.map(read, mixed_reads(tree.tree_size, PROBE_REQUESTS, seed))
        return judge_reads([r for r in asked if r is not None])

    return _guard(step, "load", "the probe's reads", rule)


# --- the routine ---------------------------------------------------------------------------


def run_triage(
    triage: Triage,
    client: TLogClient,
    probe: TLogClient,
    given: TriageInput,
    *,
    on_step: Callable[[Step], None] = lambda step: None,
) -> Triage:
    """Run §2 (and each alert's own measurement) against `client`'s target, appending to
    `triage.steps` and calling `on_step` as each step completes.

    `probe`: the client of the errors/p95 probe, one without retries (a 5xx the suite's
    client would retry is what a user saw). Every step runs whatever the alert: a
    finding of another alert is reported too. ConfigError when a --tlog-index lies
    outside the served tree (a usage error, naming the tree's size).
    """

    # Every request says it was asked by triage (an evidence bundle's reads say why).
    with checking("triage"):
        return _routine(triage, client, probe, given, on_step)


def _routine(
    triage: Triage,
    client: TLogClient,
    probe: TLogClient,
    given: TriageInput,
    on_step: Callable[[Step], None],
) -> Triage:
    def done(step: Step) -> Step:
        triage.steps.append(step)
        on_step(step)
        return step

    done(_health(client))
    parity, edge = _parity(client)
    done(parity)
    done(_same_tree(client, given.vkeys))
    if edge is None:
        # No usable root on the edge: the steps that need the tree cannot judge.
        why = parity.unjudged or "no usable root on the edge"
        for section, title, judges in (
            ("§2.4", "inclusion", (INTEGRITY,)),
            ("§2.5", "cache", (CACHE,)),
            ("§3.4", "errors and p95", (SERVER_5XX, SLOW)),
        ):
            skipped = Step(section, title, judges=judges, unreachable=parity.unreachable)
            skipped.unjudged = skipped.finding = f"not run: {why}"
            done(skipped)
        return triage
    tree = edge.tree
    outside = sorted(i for i in given.indices if i >= tree.tree_size)
    if outside:
        raise ConfigError(
            f"--tlog-index {outside[0]} is outside the served tree: its size is "
            f"{tree.tree_size} (valid indices 0..{tree.tree_size - 1})"
        )
    done(_inclusion(client, tree, given))
    done(_db(tree, edge.response, given))
    done(_recorded(client, tree, given.known_roots))
    done(_cache(client, tree))
    done(_probe(probe, tree, given.seed))
    return triage
