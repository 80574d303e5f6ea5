"""The checks of a probe of an API v1 log: thin adapters over the suite's rules.

Each check reads what its rule needs through the probe's client, calls the rule in
`tlogcheck.verify` — the function the suite's check, triage and the checklists call —
and returns its `Verdict`; it only keeps the facts the metrics show. What each check
covers, against the suite's check of the same name:

- `health`: `/healthz` 200 within the timeout with `status: ok`, edge and origin
  (`verify.health.judge_health`);
- `root`: the root 200 and well-formed on both views (`verify.read_root`);
- `checkpoint`: the edge's checkpoint a C2SP signed note that verifies with the
  module's keys (the tree it signs is what the probe remembers and shows);
- `inclusion`: the newest entries and a seeded sample, each entry hashed and its proof
  verified against the served root (`verify.verify_inclusions`);
- `parity`: edge and origin serve one root and one checkpoint, or as a lagging edge or a
  canary may (`verify.parity.judge_views`), whether or not the edge leaves a sign;
- `cache`: Cache-Control per the spec's table on both views, passed through by the edge
  (`verify.cache.cache_control_problems`), and the steady-state miss
  ratio of every class of immutable read through the edge (`verify.cache`);
- `consistency`: root and checkpoint describe one tree through the edge
  (`verify.trees.judge_root_and_checkpoint`), exactly on the origin (`judge_signer`),
  and the signed tree extends the one remembered from earlier probes (`judge_recorded`).

A 5xx that outlived the client's retries is what was answered, never a proof verdict:
the rule raises `ServerError` (`verify.served.answered`) and the check ends with its
finding, Ingress5xxHigh (TLogAvailabilityDown for `/healthz`), its own question not
judged (`context.result_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tlogcheck import spec
from tlogcheck.client import Response
from tlogcheck.errors import FormatError, Inconclusive, NoteError
from tlogcheck.exporter.context import Context, combine, guarded
from tlogcheck.exporter.state import Remembered
from tlogcheck.note import verify_checkpoint
from tlogcheck.spec import PATH_CHECKPOINT, PATH_HEALTH, PATH_ROOT
from tlogcheck.state import KnownTree
from tlogcheck.verify import (
    ServedRoot,
    Tree,
    answered_by,
    read_checkpoint,
    read_root,
    served_tree,
    verify_inclusions,
)
from tlogcheck.verify.cache import (
    MissRatio,
    cache_control_problems,
    immutable_paths,
    judge_miss_ratio,
    steady_miss_ratio,
)
from tlogcheck.verify.health import judge_health
from tlogcheck.verify.parity import judge_views
from tlogcheck.verify.sampling import uniform_indices
from tlogcheck.verify.served import Finding, Verdict, finding, finding_of, server_errors
from tlogcheck.verify.trees import judge_recorded, judge_root_and_checkpoint, judge_signer

__all__ = [
    "CACHE_INDICES",
    "CHECKS_V1",
    "NEWEST",
    "VIEWS",
    "cache_control",
    "hit_rate",
    "judge_misses",
    "newest_and_sample",
    "over_time",
    "read_tree",
]

NEWEST = 4  # the newest entries, verified in every probe: where a new release adds
CACHE_INDICES = 8  # sampled indices whose entry, proof and a consistency proof are read
VIEWS = ("edge", "origin")


def newest_and_sample(tree_size: int, sample: int, seed: int) -> list[int]:
    newest = {i for i in range(tree_size - NEWEST, tree_size) if i >= 0}
    return sorted(newest | set(uniform_indices(tree_size, sample, seed, exclude=newest)))


def read_tree(ctx: Context, path: str, view: str) -> tuple[Response, Tree]:
    """The root or checkpoint of a view, read once a probe; `ServerError` for a 5xx.

    One that is unusable is the root and checkpoint checks' finding (TLogInclusionProofFail);
    a check that only needed it to start is `Inconclusive`, never a finding of its own
    alert (a malformed root must not page TLogCacheMissHigh)."""
    key = f"{path}:{view}"
    if key not in ctx.trees:
        response = ctx.client.get(path, view=view, shared=True)
        try:
            ctx.trees[key] = (response, served_tree(response))
        except FormatError as exc:
            raise Inconclusive(
                f"the {view}'s {path} is unusable, which the root and checkpoint checks "
                f"judge: {exc}"
            ) from exc
    return ctx.trees[key]


def health(ctx: Context) -> Verdict:
    def one(view: str) -> Verdict:
        response = ctx.client.get(PATH_HEALTH, view=view)
        ctx.facts.healthz[view] = response.status
        return judge_health(response, ctx.client.timeout)

    return combine([guarded("health", f"{view} {PATH_HEALTH}", partial(one, view))
                    for view in VIEWS])  # fmt: skip


def root(ctx: Context) -> Verdict:
    def one(view: str) -> Verdict:
        response = ctx.client.get(PATH_ROOT, view=view, shared=True)
        try:
            served = read_root(response)  # ServerError for a 5xx: what was answered
        except FormatError as exc:
            return Verdict.failed(
                finding("root", expected=f"the {view}'s {PATH_ROOT}: 200 and well-formed "
                        "(spec: Endpoints)", served=f"{exc}; {response.describe()}",
                        response=response)
            )  # fmt: skip
        tree = ServedRoot(served, response).tree
        ctx.facts.tree_size[view] = tree.tree_size
        ctx.trees[f"{PATH_ROOT}:{view}"] = (response, tree)
        return Verdict.passed(f"{view}: {tree.describe()}")

    return combine([guarded("root", f"the {view}'s root", partial(one, view))
                    for view in VIEWS])  # fmt: skip


def checkpoint(ctx: Context, path: str = PATH_CHECKPOINT) -> Verdict:
    response = ctx.client.get(path, view="edge", shared=True)
    read_checkpoint(response)  # ServerError for a 5xx; FormatError: not a signed note
    try:
        cp = verify_checkpoint(response.body, ctx.module.verifiers)
    except NoteError as exc:
        keys = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in ctx.module.verifiers)
        return Verdict.failed(
            finding("checkpoint", expected=f"a signature that verifies with {keys}",
                    served=f"{exc}; {response.describe()}", how="proved", response=response)
        )  # fmt: skip
    tree = Tree(cp.tree_size, cp.root_hash, response.release)
    ctx.facts.signed = Remembered.served(cp.origin, tree, response, ctx.scrub)
    return Verdict.passed(f"{cp.origin}: {tree.describe()} signed")


def inclusion(ctx: Context) -> Verdict:
    _, tree = read_tree(ctx, PATH_ROOT, "edge")
    indices = newest_and_sample(tree.tree_size, ctx.module.sample, ctx.seed)
    ctx.say(f"inclusion: seed {ctx.seed}, indices {indices} of {tree.describe()}")
    results = verify_inclusions(ctx.client, indices, tree)
    # A proof or hash verdict needs a 200: indices a 5xx left unverified are what was
    # answered (Ingress5xxHigh), as the suite's inclusion check and triage say.
    wrong = [r for r in results if not r.ok and r.server_error is None]
    unanswered = [r.server_error for r in results if r.server_error is not None]
    ctx.facts.entries_verified = sum(r.ok for r in results)
    ctx.facts.entries_failed = len(wrong)
    found: list[Finding] = []
    if wrong:
        shown = "; ".join(f"index {r.index}: {r.problem}" for r in wrong[:3])
        found.append(
            finding("inclusion", expected=f"each index included in the served {tree.describe()}",
                    served=f"{len(wrong)} of {len(results)} failed: {shown}", how="proved")
        )  # fmt: skip
    unjudged = None
    if unanswered:
        answer = finding_of(server_errors(unanswered, len(results), "sampled entries"))
        assert answer is not None  # a ServerError always has one
        found.append(answer)
        unjudged = f"{len(unanswered)} of {len(results)} indices not verified: 5xx"
    if found:
        return Verdict.failed(*found, unjudged=unjudged)
    return Verdict.passed(f"{len(results)} entries in {tree.describe()}")


def parity(ctx: Context) -> Verdict:
    # The two views are compared whatever the edge probe says: an edge that leaves no
    # sign of itself may still serve another log (`verify.views.probe_edge`).
    verdicts = []
    for what, path in (("root", PATH_ROOT), ("checkpoint", PATH_CHECKPOINT)):
        edge, edge_tree = read_tree(ctx, path, "edge")
        origin, origin_tree = read_tree(ctx, path, "origin")
        verdicts.append(judge_views(ctx.client, what, edge, origin, edge_tree, origin_tree))
    return combine(verdicts)


def cache_control(
    ctx: Context, paths: list[str], problem_of: Callable[[str, str | None], str | None], table: str
) -> Verdict:
    """The Cache-Control of `paths` on both views, per `problem_of` (the API's table) and
    passed through by the edge (`verify.cache.cache_control_problems`, the suite's rule)."""
    asks = [(p, v) for p in paths for v in VIEWS]
    pairs = ctx.client.map(lambda pv: ctx.client.get(pv[0], view=pv[1], shared=True), asks)
    problems = cache_control_problems(pairs, problem_of)
    expected = f"Cache-Control per {table}, passed through by the edge"
    if problems:
        return Verdict.failed(
            finding("cache", expected=expected, served="\n          ".join(problems))
        )
    return Verdict.passed(expected)


def hit_rate(ctx: Context, headers: Verdict, release: str | None, reads: list[str]) -> Verdict:
    """After the Cache-Control (`headers`), the steady-state miss ratio of `reads` through
    the edge; no edge or no cache status: the headers' verdict, saying the ratio was not
    measured."""
    if headers.status == "failed":
        return headers
    if ctx.edge().has_edge is False or not reads:
        why = ctx.edge().evidence if reads else "nothing immutable to read yet"
        return Verdict.passed(f"{headers.summary}; {why}")
    ctx.client.map(lambda p: answered_by(ctx.client, p, release=release), reads)
    misses = judge_misses(ctx, steady_miss_ratio(ctx.client, reads))
    if misses.status == "skipped":
        return Verdict.passed(f"{headers.summary}; {misses.summary}")
    return misses


def cache(ctx: Context) -> Verdict:
    _, tree = read_tree(ctx, PATH_ROOT, "edge")
    n = tree.tree_size
    i = n - 1
    paths = [PATH_HEALTH, PATH_ROOT, PATH_CHECKPOINT, spec.entry_path(i),
             spec.proof_path(i, n), spec.proof_path(i), spec.consistency_path(1, n)]  # fmt: skip
    headers = cache_control(ctx, paths, spec.cache_control_problem, "the spec's table")
    indices = newest_and_sample(n, CACHE_INDICES, ctx.seed)[:CACHE_INDICES]
    return hit_rate(ctx, headers, tree.release, immutable_paths(indices, n))


def judge_misses(ctx: Context, found: MissRatio) -> Verdict:
    """`verify.cache.judge_miss_ratio`; the ratio is shown only when judged (no 5xx among
    the reads: those are what was answered, not the cache's rules)."""
    verdict = judge_miss_ratio(found)  # ServerError when a read answered 5xx
    if verdict.status != "skipped":
        ctx.facts.miss_ratio = found.ratio
    return verdict


def consistency(ctx: Context) -> Verdict:
    edge_root, _ = read_tree(ctx, PATH_ROOT, "edge")
    edge_checkpoint, _ = read_tree(ctx, PATH_CHECKPOINT, "edge")
    origin_root, _ = read_tree(ctx, PATH_ROOT, "origin")
    served = combine([
        judge_root_and_checkpoint(ctx.client, ServedRoot(read_root(edge_root), edge_root),
                                  edge_checkpoint),
        judge_signer(ctx.client, ServedRoot(read_root(origin_root), origin_root)),
    ])  # fmt: skip
    if served.status == "failed":
        return served

    def recorded(remembered: Tree, signed: Tree) -> Verdict:
        known = KnownTree(remembered.tree_size, remembered.root_hash, "remembered")
        return judge_recorded(ctx.client, [known], signed, "the tree remembered")

    return over_time(ctx, recorded)


def over_time(ctx: Context, judge: Callable[[Tree, Tree], Verdict]) -> Verdict:
    """The signed tree extends the one remembered for this target (or is proven a prefix
    of it, when an edge lags): `judge(remembered, signed)`, a rule of `verify`."""
    signed = ctx.facts.signed
    if signed is None:
        return Verdict.inconclusive("no verified checkpoint in this probe")
    track = ctx.state.get(ctx.module.name, ctx.target)
    if track is None:
        return Verdict.passed(f"first tree remembered: {signed.tree.describe()}")
    recorded = track.latest.tree
    verdict = judge(recorded, signed.tree)
    if verdict.status == "failed" and "consistency" in {f.check for f in verdict.findings}:
        why = "; ".join(f.served for f in verdict.findings if f.check == "consistency")
        ctx.facts.conflict = (
            track,
            f"the served {signed.tree.describe()} is not one log with the one remembered "
            f"({recorded.describe()}, verified {track.latest.verified_at}): {why}",
        )
    return verdict


CHECKS_V1: dict[str, Callable[[Context], Verdict]] = {
    "health": health,
    "root": root,
    "checkpoint": checkpoint,
    "inclusion": inclusion,
    "parity": parity,
    "cache": cache,
    "consistency": consistency,
}
