"""§5 daily (within five minutes): health on both views, 5xx rate and p95 over a short
load phase, and the edge's cache hit ratio.

The load phase is locust through `tlogcheck.load.runner.run_load`, bounded in time
and requests; its thresholds are the playbook's §3.4 line (error rate > 1 %,
p95 > 300 ms). The hit ratio is measured, not read from a dashboard, as the suite's
cache check measures it (`cache.steady_miss_ratio`): immutable paths read round after
round until the miss ratio settles, in every CDN vendor's cache-status words; the
steady state must stay within `TLogCacheMissHigh`'s line (miss ratio <= 30 %).
"""

from __future__ import annotations

from dataclasses import dataclass

from tlogcheck import spec, verify
from tlogcheck.client import TLogClient
from tlogcheck.errors import TargetUnreachable, TLogCheckError
from tlogcheck.incident.checklist import Checklist, Item, TargetInfo, judge
from tlogcheck.verify import cache
from tlogcheck.verify.cache import MAX_MISS_RATIO

__all__ = ["DailySettings", "run_daily"]

HIT_SAMPLE = 16  # entries (and their proofs) in the hit-ratio sample


@dataclass(frozen=True)
class DailySettings:
    load_seconds: int = 10
    load_users: int = 10
    load_max_requests: int = 20_000
    max_error_rate: float = 0.01
    p95_ms: float = 300.0


def _health(client: TLogClient, view: str) -> Item:
    name = f"health ({view})"
    r = client.get(spec.PATH_HEALTH, view=view)
    if r.status == 200:
        release = f" (release {r.release})" if r.release else ""
        return Item(name, "pass", f"GET /healthz -> 200{release}")
    return Item(name, "fail", f"GET /healthz -> {r.status}: {r.describe()}")


def _load(t: TargetInfo, s: DailySettings) -> list[Item]:
    from tlogcheck.load.runner import LoadSettings, Thresholds, run_load

    settings = LoadSettings(
        duration=s.load_seconds, users=s.load_users, max_requests=s.load_max_requests
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
    p95 = total.percentile(95)
    latency = Item(
        "p95 (load)",
        "fail" if slow else "pass",
        (f"{'; '.join(slow)}" if slow else f"p95 {p95} ms <= {s.p95_ms:.0f} ms") + f"; {where}",
        "LatencyP95High",
    )
    return [rate, latency]


def _hit_ratio(client: TLogClient) -> Item:
    name = "cache hit ratio (edge)"
    root = verify.read_root(client.get(spec.PATH_ROOT))
    size = root.tree_size
    step = max(1, size // HIT_SAMPLE)
    # Immutable paths only: the root and checkpoint are meant to expire within minutes.
    paths = []
    for i in range(0, size, step)[:HIT_SAMPLE]:
        paths += [spec.entry_path(i), spec.proof_path(i, size)]
    client.map(client.get, paths)  # the first answer may be a MISS that fills the cache
    found = cache.steady_miss_ratio(client, paths)
    if not found.reported:
        return Item(name, "skip", "no cache-status header: no edge to measure")
    text = (
        f"{len(found.misses)} of {len(found.measured)} reads of {len(paths)} immutable paths "
        f"missed ({found.ratio:.0%}) after {found.rounds - cache.MEASURED_ROUNDS} warm-up "
        f"rounds; TLogCacheMissHigh fires at a miss ratio > {MAX_MISS_RATIO:.0%}"
    )
    if found.ratio > MAX_MISS_RATIO:
        return Item(name, "fail", text)
    if found.unknown:
        words = ", ".join(found.unknown_words()[:3])
        return Item(name, "inconclusive", f"{text}; cache statuses not known: {words}")
    return Item(name, "pass", text)


def run_daily(t: TargetInfo, settings: DailySettings | None = None) -> Checklist:
    s = settings or DailySettings()
    cl = Checklist("daily", t.description)
    with TLogClient(t.url, origin_url=t.origin_url, timeout=t.timeout) as client:
        judge(cl, "health (edge)", "TLogAvailabilityDown", lambda: _health(client, "edge"))
        judge(cl, "health (origin)", "TLogAvailabilityDown", lambda: _health(client, "origin"))
        judge(cl, "cache hit ratio (edge)", "TLogCacheMissHigh", lambda: _hit_ratio(client))
    if any(i.status == "inconclusive" for i in cl.items):
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
