"""Where the edge's answer comes from while a fault is on (faults documented in `faults.FAULTS`).

The edge reads the shared FaultSet on every request and never applies a fault to an
`X-Bypass` request:

- `stale-edge-root` / `edge-lag`: the short answers (root, checkpoint, a proof without
  tree_size) come from `lagging`, an older consistent tree, as cache hits whose `Age` is
  max-age + `STALE_BY` / max-age // 2.
- `split-view`: every answer comes from `split`, a forked tree, as a fresh hit.
- `cache-always-miss`: nothing is looked up or stored.
- `latency:MS` and `error-rate:PCT` (origin faults): applied to the answers the edge makes
  itself (hits, stale, 304s, fault views); misses and bypasses already went through the
  origin's, so each response is delayed or failed once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

from tlogcheck.refstack.faults import RateGate
from tlogcheck.refstack.server import Scope
from tlogcheck.refstack.store import ERROR, HIT, MISS, Answer, Entry, error_entry, make_entry

__all__ = ["STALE_BY", "EdgeFaults", "FaultView", "Responder"]

# How far past max-age the `stale-edge-root` fault pretends its root was stored.
STALE_BY = 300


class FaultView(Protocol):
    def snapshot(self) -> Mapping[str, str]: ...


class Responder(Protocol):
    """A Log that answers a request of the API itself (`log.Log.respond`)."""

    def respond(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        faults: Mapping[str, str],
    ) -> tuple[int, list[tuple[str, str]], bytes]: ...


class EdgeFaults:
    """The edge-side faults: the trees they answer from and how they bend an answer."""

    def __init__(
        self,
        *,
        lagging: Responder | None,
        split: Responder | None,
        clock: Callable[[], float],
    ) -> None:
        self._lagging = lagging
        self._split = split
        self._clock = clock
        self._error_gate = RateGate()

    @staticmethod
    def uses_cache(faults: Mapping[str, str]) -> bool:
        return "cache-always-miss" not in faults

    def view(self, scope: Scope, faults: Mapping[str, str]) -> Answer | None:
        """The answer a faulted tree gives in place of the cache's; None: no fault says."""
        if "split-view" in faults:
            if self._split is None:
                return self._error("fault split-view needs a split log")
            entry = self._ask(self._split, scope)
            return Answer(entry, HIT, 0) if entry.ttl is not None else Answer(entry, MISS, None)
        for name in ("stale-edge-root", "edge-lag"):
            if name not in faults:
                continue
            if self._lagging is None:
                return self._error(f"fault {name} needs a lagging log")
            entry = self._ask(self._lagging, scope)
            # Immutable answers are the same bytes in both trees; only short ones lag.
            if entry.ttl is None or entry.immutable():
                return None
            age = entry.ttl + STALE_BY if name == "stale-edge-root" else entry.ttl // 2
            return Answer(entry, HIT, age)
        return None

    async def delay_or_fail(self, answer: Answer, faults: Mapping[str, str]) -> Answer:
        """Apply `latency` / `error-rate` to an answer the edge makes without the origin."""
        latency = faults.get("latency")
        if latency:
            await asyncio.sleep(int(latency) / 1000)
        rate = faults.get("error-rate")
        if rate and self._error_gate.hit(rate):
            return self._error("injected error (error-rate)")
        return answer

    def _error(self, text: str) -> Answer:
        return Answer(error_entry(500, text, self._clock()), ERROR, None)

    def _ask(self, log: Responder, scope: Scope) -> Entry:
        headers = {
            n.decode("latin-1"): v.decode("latin-1")
            for n, v in scope["headers"]
            if n != b"if-none-match"
        }
        query = scope["query_string"].decode("latin-1")
        status, raw, body = log.respond("GET", scope["path"], query, headers, {})
        encoded = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in raw]
        return make_entry(status, encoded, body, self._clock())
