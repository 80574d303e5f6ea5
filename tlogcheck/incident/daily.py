"""§5 daily (within five minutes): health on both views, the edge's cache hit ratio, and
5xx rate and p95 over a short load phase — each judged by the rule the suite's check
judges by.

- health: `verify.health.judge_health` (200 within the timeout, body `{"status": "ok"}`);
- cache: immutable paths of every class (entries, proofs, consistency proofs:
  `verify.cache.immutable_paths`) read round after round until the miss ratio settles,
  judged by `verify.cache.judge_miss_ratio` (TLogCacheMissHigh above 30 % in any class);
- load: locust through `tlogcheck.load.runner.run_load`, bounded in time and requests,
  judged by the §3.4 line of `verify.probe` (error rate > 1 %, p95 > 300 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

from tlogcheck import spec, verify
from tlogcheck.client import TLogClient
from tlogcheck.errors import TargetUnreachable, TLogCheckError
from tlogcheck.incident.checklist import Checklist, Item, TargetInfo, judge
from tlogcheck.verify.cache import immutable_paths, judge_miss_ratio, steady_miss_ratio
from tlogcheck.verify.health import judge_health
from tlogcheck.verify.probe import MAX_ERROR_RATE, MAX_P95_MS
from tlogcheck.verify.served import Verdict

__all__ = ["DailySettings", "run_daily"]

HIT_SAMPLE = 16  # entries (and their proofs) in the hit-ratio sample
MARK = {"passed": "pass", "failed": "fail", "skipped": "skip", "inconclusive": "inconclusive"}


@dataclass(frozen=True)
class DailySettings:
    load_seconds: int = 10
    load_users: int = 10
    load_max_requests: int = 20_000
    max_error_rate: float = MAX_ERROR_RATE
    p95_ms: float = MAX_P95_MS


def item_of(name: str, verdict: Verdict) -> Item:
    """A rule's verdict as a checklist item: its first finding's alert and served line."""
    if verdict.findings:
        first = verdict.findings[0]
        return Item(name, "fail", first.served.replace("\n", " "), first.alert)
    return Item(name, MARK[verdict.status], verdict.summary)


def _health(client: TLogClient, view: str) -> Item:
    name = f"health ({view})"
    return item_of(name, judge_health(client.get(spec.PATH_HEALTH, view=view), client.timeout))


def _load(t: TargetInfo, s: DailySettings) -> list[Item]:
    from tlogcheck.load.runner import LoadSettings, Thresholds, run_load

    reach = t.reach
    settings = LoadSettings(
        duration=s.load_seconds,
        users=s.load_users,
        max_requests=s.load_max_requests,
        # Asked as the other items ask: the org's CAs, the gateway's headers (secret).
        profile_env={"TLOG_LOAD_CA_BUNDLE": reach.ca_bundle} if reach.ca_bundle else {},
        secret_env=(
            {"TLOG_LOAD_HEADERS": "\n".join(f"{n}: {v}" for n, v in reach.headers)}
            if reach.headers
            else {}
        ),
    )
    result = run_load(t.url, settings)
    total = result.total
    if not total.requests:
        raise TLogCheckError("the load phase sent no request")
    limits = Thresholds(max_error_rate=s.max_error_rate, p95_ms=s.p95_ms)
    found = result.violations(limits)
    err = [str(v) for v in found if v.kind == "error-rate"]
    slow = [str(v) for v in found if v.kind == "p95"]
    where = f"{total.requests} requests in {result.elapsed_s:.1f} s ({settings.describe()})"
    rate = Item(
        "5xx rate (load)",
        "fail" if err else "pass",
        (
            f"{'; '.join(err)}"
            if err
            else f"error rate {total.error_rate:.2%} <= {s.max_error_rate:.0%}"
        )
        + f"; {where}",
        "Ingress5xxHigh",
    )
    p95 = total.percentile(0.95)
    latency = Item(
        "p95 (load)",
        "fail" if slow else "pass",
        (f"{'; '.join(slow)}" if slow else f"p95 {p95} ms <= {s.p95_ms:.0f} ms") + f"; {where}",
        "LatencyP95High",
    )
    return [rate, latency]


def _hit_ratio(client: TLogClient, indices: tuple[int, ...]) -> Item:
    name = "cache hit ratio (edge)"
    root = verify.read_root(client.get(spec.PATH_ROOT))
    size = root.tree_size
    step = max(1, size // HIT_SAMPLE)
    chosen = [i for i in indices if i < size] or list(range(0, size, step))[:HIT_SAMPLE]
    # Immutable paths only (the root and checkpoint are meant to expire within minutes),
    # of every class a client reads: entries, proofs and consistency proofs.
    paths = immutable_paths(chosen, size)
    client.map(client.get, paths)  # the first answer may be a MISS that fills the cache
    return item_of(name, judge_miss_ratio(steady_miss_ratio(client, paths)))


def run_daily(
    t: TargetInfo, settings: DailySettings | None = None, cl: Checklist | None = None
) -> Checklist:
    """The daily items, added to `cl` (a new checklist by default) as each is decided."""
    s = settings or DailySettings()
    cl = cl or Checklist("daily", t.description)
    with t.client() as client:
        judge(cl, "health (edge)", "TLogAvailabilityDown", lambda: _health(client, "edge"))
        judge(cl, "health (origin)", "TLogAvailabilityDown", lambda: _health(client, "origin"))
        judge(
            cl,
            "cache hit ratio (edge)",
            "TLogCacheMissHigh",
            lambda: _hit_ratio(client, t.reach.indices),
        )
    if any(i.reason.startswith("could not ask") for i in cl.items):
        # Load against a target that does not answer measures only connection errors.
        cl.add(
            Item(
                "5xx rate and p95 (load)", "inconclusive", "not run: the target could not be asked"
            )
        )
        return cl
    try:
        for item in _load(t, s):
            cl.add(item)
    except TargetUnreachable as exc:
        cl.add(Item("5xx rate and p95 (load)", "inconclusive", f"load phase killed: {exc}"))
    except TLogCheckError as exc:
        cl.add(Item("5xx rate and p95 (load)", "fail", f"the load phase did not run: {exc}"))
    return cl
