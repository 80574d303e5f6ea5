"""Triage after an alert: the playbook's §2 routine against a live deployment.

Each step returns its finding, its raw evidence and whether it shows a problem of one
of the §1 alerts. `run_triage` runs the steps an alert needs; the caller renders them.
The steps reading Kubernetes (§2.1 versions, §2.2 server logs) are `incident.kube`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tlogcheck import note, spec
from tlogcheck.client import TLogClient
from tlogcheck.client.purpose import CACHE, HEALTH, READ, asking, checking
from tlogcheck.errors import FormatError, NoteError, TargetUnreachable
from tlogcheck.playbook import Alert
from tlogcheck.verify import Tree, cache, judge_lag, read_root, verify_inclusion_at
from tlogcheck.verify.cache import MAX_MISS_RATIO

__all__ = ["Step", "Triage", "run_triage"]


MAX_ERROR_RATE = 0.01  # Ingress5xxHigh (§3.4)
MAX_P95_MS = 300.0  # LatencyP95High (§3.4)
PROBE_REQUESTS = 60  # bounded: the triage reads, it does not load-test
CACHE_PATHS = 16


@dataclass
class Step:
    section: str
    title: str
    finding: str = ""
    evidence: list[str] = field(default_factory=list)
    problem_of: set[str] = field(default_factory=set)  # alerts whose problem this shows
    skipped: str | None = None
    unreachable: bool = False


@dataclass
class Triage:
    alert: Alert
    steps: list[Step]

    @property
    def confirmed(self) -> bool:
        return any(self.alert.name in s.problem_of for s in self.steps)

    @property
    def could_not_ask(self) -> bool:
        return any(s.unreachable for s in self.steps)


def _health(client: TLogClient) -> Step:
    step = Step("§3.1", "health: /healthz through the edge and the origin")
    bad = []
    for view in ("edge", "origin"):
        with asking(HEALTH, "§3.1 health"):
            r = client.get(spec.PATH_HEALTH, view=view)
        step.evidence.append(r.describe())
        if r.status != 200:
            bad.append(f"{view} HTTP {r.status}")
    step.finding = "healthz failing: " + ", ".join(bad) if bad else "healthz 200 on both views"
    if bad:
        step.problem_of.add("TLogAvailabilityDown")
    return step


def _parity(client: TLogClient, vkeys: Sequence[note.Verifier]) -> tuple[Step, Tree | None]:
    step = Step("§2.3", "origin vs edge: root SHA-256 through the edge and with X-Bypass: 1")
    trees: dict[str, Tree] = {}
    responses = {}
    for view in ("edge", "origin"):
        with asking(READ, f"§2.3 the {view}'s root"):
            r = client.get(spec.PATH_ROOT, view=view)
        responses[view] = r
        step.evidence.append(f"{view}: sha256(root body) = {r.sha256}  ({r.describe()})")
        with asking(READ, f"§2.3 the {view}'s checkpoint"):
            cp = client.get(spec.PATH_CHECKPOINT, view=view)
        step.evidence.append(f"{view}: {cp.describe()}")
        if vkeys and cp.status == 200:
            try:
                note.verify_checkpoint(cp.body, vkeys)
            except NoteError as exc:
                step.evidence.append(f"{view}: checkpoint signature does not verify: {exc}")
                step.problem_of.add("TLogInclusionProofFail")
        try:
            root = read_root(r)
        except FormatError as exc:
            step.evidence.append(f"{view}: root unusable: {exc}")
            step.problem_of.add("TLogInclusionProofFail")
            continue
        trees[view] = Tree(root.tree_size, root.root_hash, r.release)
    if len(trees) < 2:
        step.finding = "a view served no usable root"
        return step, trees.get("edge")
    edge, origin = trees["edge"], trees["origin"]
    if edge == origin:
        step.finding = f"identical: {edge.describe()}"
        return step, edge
    older, newer = (edge, origin) if edge.tree_size <= origin.tree_size else (origin, edge)
    older_view = "edge" if older is edge else "origin"
    problem = judge_lag(
        client,
        older=older,
        newer=newer,
        older_response=responses[older_view],
        newer_response=responses["origin" if older_view == "edge" else "edge"],
    )
    if problem is None:
        step.finding = f"lagging prefix within max-age: {older.describe()} of {newer.describe()}"
    else:
        step.finding = problem
        step.problem_of.add("TLogInclusionProofFail")
    return step, edge


def edge_indices(size: int) -> list[int]:
    return sorted({i for i in (0, 1, size - 2, size - 1) if 0 <= i < size})


def _inclusion(client: TLogClient, tree: Tree, indices: Sequence[int]) -> Step:
    step = Step("§2.4", f"inclusion: re-verify indices against {tree.describe()}")
    wanted = sorted({i for i in indices if i < tree.tree_size} | set(edge_indices(tree.tree_size)))
    outside = sorted(i for i in indices if i >= tree.tree_size)
    failed = []
    for result in client.map(lambda i: verify_inclusion_at(client, i, tree), wanted):
        leaf = result.leaf_hash.hex() if result.leaf_hash else "-"
        verdict = "verified" if result.ok else f"FAILED {result.problem}"
        step.evidence.append(f"index {result.index}: leaf hash {leaf}: {verdict}")
        step.evidence.extend(f"  {r.describe()}" for r in result.responses)
        if not result.ok:
            failed.append(result.index)
    if outside:
        step.evidence.append(f"outside the tree, not checked: {outside}")
    if failed:
        step.finding = f"{len(failed)} of {len(wanted)} failed: {failed}"
        step.problem_of.add("TLogInclusionProofFail")
    else:
        step.finding = f"all {len(wanted)} verified"
    return step


def _cache(client: TLogClient, tree: Tree) -> Step:
    step = Step("§2.5", "cache hit rate: immutable paths read through the edge until steady")
    n = min(CACHE_PATHS, tree.tree_size)
    paths = [spec.entry_path(i) for i in range(n)]
    with asking(CACHE, "§2.5 the first read of each path, which may fill the cache"):
        client.map(client.get, paths)  # the first read may be the miss that fills the cache
    # The suite's measure (`verify.cache`): every vendor's words, each node of the edge warmed.
    found = cache.steady_miss_ratio(client, paths)
    if not found.reported:
        step.skipped = "no response carries a cache status header: no edge to measure"
        return step
    step.evidence.extend(r.describe() for r in found.measured[:4])
    step.finding = (
        f"{len(found.misses)} of {len(found.measured)} reads of {n} immutable paths missed "
        f"({found.ratio:.0%}) after {found.rounds - cache.MEASURED_ROUNDS} warm-up rounds; "
        f"the origin answered {client.responses_seen().get('origin', 0)} direct reads; the "
        "CDN vendor's dashboard is out of reach from here"
    )
    if found.unknown:
        step.evidence.append(f"cache statuses not known: {', '.join(found.unknown_words()[:3])}")
    if found.ratio > MAX_MISS_RATIO:
        step.problem_of.add("TLogCacheMissHigh")
    return step


def _errors_and_latency(probe: Callable[[], TLogClient], tree: Tree | None) -> Step:
    step = Step("§3.4", f"errors and p95 over {PROBE_REQUESTS} reads through the edge")
    with probe() as raw:
        # Entry 0 exists in every served log: the probe needs no usable root.
        size = tree.tree_size if tree is not None else 1
        paths = [spec.PATH_ROOT] + [spec.entry_path(i % size) for i in range(PROBE_REQUESTS - 1)]
        with asking(READ, "§3.4 errors and latency"):
            responses = raw.map(raw.get, paths)
    errors = [r for r in responses if r.status >= 500]
    ms = sorted(r.elapsed * 1000 for r in responses)
    p95 = ms[max(0, math.ceil(0.95 * len(ms)) - 1)]
    rate = len(errors) / len(responses)
    step.evidence.extend(r.describe() for r in errors[:5])
    step.finding = f"{len(errors)} of {len(responses)} answered 5xx ({rate:.1%}); p95 {p95:.0f} ms"
    if rate > MAX_ERROR_RATE:
        step.problem_of.add("Ingress5xxHigh")
    if p95 > MAX_P95_MS:
        step.problem_of.add("LatencyP95High")
    return step


def run_triage(
    alert: Alert,
    client: TLogClient,
    *,
    vkeys: Sequence[note.Verifier] = (),
    indices: Sequence[int] = (),
    kube: Sequence[Step] = (),
    probe: Callable[[], TLogClient] | None = None,
) -> Triage:
    """Run §2 for `alert` (and the alert's own measurement) against `client`'s target.

    `kube`: the §2.1/§2.2 steps already run (`incident.kube.kube_steps`), or skipped.
    `probe`: makes the client of the errors/p95 probe, one without retries (a 5xx the
    suite's client would retry is what a user saw); by default like `client`'s target.
    """

    def plain_probe() -> TLogClient:
        return TLogClient(
            client.edge_url,
            origin_url=client.origin_url if client.has_separate_origin else None,
            timeout=client.timeout,
            retries=0,
        )

    steps = list(kube)
    tree: Tree | None = None
    try:
        with checking("triage"):
            steps.append(_health(client))
            parity, tree = _parity(client, vkeys)
            steps.append(parity)
            if tree is not None:
                steps.append(_inclusion(client, tree, indices))
                steps.append(_cache(client, tree))
            steps.append(_errors_and_latency(probe or plain_probe, tree))
    except TargetUnreachable as exc:
        steps.append(Step("-", "target", finding=f"could not ask: {exc}", unreachable=True))
    return Triage(alert, steps)
