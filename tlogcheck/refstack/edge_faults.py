"""Where the edge's answer comes from while a fault is on (faults documented in `faults.FAULTS`).

The edge reads the shared FaultSet on every request and never applies a fault to an
`X-Bypass` request:

- `stale-edge-root` / `edge-lag`: the short answers (root, checkpoint, a proof without
  tree_size) come from `lagging`, an older consistent tree, as cache hits whose `Age` is
  max-age + `STALE_BY` / max-age // 2.
- `edge-fewer-cosignatures` (healthy) / `edge-forged-cosignature`: the checkpoint comes
  from `current` (the release's log) as a hit within max-age, without the witness
  cosignature the origin now adds / with one the origin never sent;
- `split-view`: every answer comes from `split`, a forked tree, as a fresh hit;
  `ua-split-view`: the same, for every client whose User-Agent is not tlogcheck's;
  `go-split-view`, `curl-split-view`, `tiles-gzip-fork`: for Go's net/http, for a
  request without Accept-Encoding, for a tiled log's gzip readers (`forked_for`).
- `edge-lag-swr`: as `edge-lag`, past max-age by `SWR_PAST` seconds, within the
  `stale-while-revalidate` the (lagging) origin sends under that fault; the other
  `LAGS` likewise, each at its own Age (`edge-cache-control-rewrite` with the edge's own
  Cache-Control on what it keeps).
- `cache-always-miss`: nothing is looked up or stored; `edge-no-query-cache`: nothing
  with a query string (proofs, consistency proofs) is.
- `cdn-dialect:VENDOR` (healthy): the cache status is said in a CDN vendor's words
  (`DIALECTS`) instead of nginx's `X-Cache: HIT`, or only in the signs a cache leaves
  (`ats-via`: Traffic Server's Via codes and Age; `age-only`: the Age of a hit);
  `unknown` says it in words no vendor documents.
- `multi-node-edge:K` (healthy): the edge is K nodes behind one name, each with its own
  cache, taking requests in turn (the edge module keeps the K stores).
- `latency:MS` and `error-rate:PCT` (origin faults), `proof-slow` / `proof-5xx` on a
  proof: applied to the answers the edge makes itself (hits, stale, 304s, fault views);
  misses and bypasses already went through the origin's, so each response is delayed or
  failed once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

from tlogcheck.refstack.faults import DEFAULT_PROOF_DELAY_MS, RateGate
from tlogcheck.refstack.log import COSIGNED
from tlogcheck.refstack.server import Scope
from tlogcheck.refstack.store import (
    BYPASS,
    ERROR,
    HIT,
    MISS,
    STALE,
    Answer,
    Entry,
    error_entry,
    make_entry,
)
from tlogcheck.spec import PATH_PROOF_PREFIX

__all__ = ["DIALECTS", "STALE_BY", "EdgeFaults", "FaultView", "Responder", "status_headers"]

# The checkpoint of either API (the cosignature faults act on these).
CHECKPOINT_PATHS = frozenset({"/v1/log/checkpoint", "/checkpoint"})
# How far past max-age the `stale-edge-root` fault pretends its root was stored.
STALE_BY = 300
# How far past max-age `edge-lag-swr` serves, within the origin's stale-while-revalidate.
SWR_PAST = 60
# The Cache-Control `edge-cache-control-rewrite` gives the root and checkpoint it keeps.
REWRITTEN_CACHE_CONTROL = "public, max-age=300"
# Three days: how old the root `long-stale-while-revalidate` serves is.
THREE_DAYS = 3 * 86400

# The faults whose edge serves the short answers (root, checkpoint, a proof without
# tree_size) of an older tree, as cache hits of this Age (`ttl`: the lifetime the
# answer's own Cache-Control gives a shared cache).
LAGS: dict[str, Callable[[int], int]] = {
    "stale-edge-root": lambda ttl: ttl + STALE_BY,
    "edge-lag": lambda ttl: ttl // 2,
    "edge-lag-swr": lambda ttl: ttl + SWR_PAST,
    "edge-lag-s-maxage": lambda ttl: ttl * 3 // 4,
    "edge-cache-control-rewrite": lambda ttl: ttl * 2 // 3,
    "long-stale-while-revalidate": lambda ttl: THREE_DAYS,
    "long-s-maxage": lambda ttl: ttl * 2 // 3,
}

_AKAMAI_HOST = b" from a23-45-67-89.deploy.akamaitechnologies.com (AkamaiGHost/22.1.0.1-2c8d) (-)"
# Apache Traffic Server's Via (insert_response_via_str 2) with its cache codes.
_ATS_VIA = b"http/1.1 tlog-edge (ApacheTrafficServer/9.2.9 [%s])"
_ATS_CODES = {
    HIT: b"cHs f ",
    MISS: b"cMsSfW",
    BYPASS: b"c sSf ",
    STALE: b"cSs f ",
    ERROR: b"cMsEf ",
}
_ATS_WORDS = {
    HIT: b"hit-fresh",
    MISS: b"miss",
    BYPASS: b"skipped",
    STALE: b"hit-stale",
    ERROR: b"miss",
}
# Traffic Server sends Age on every answer: 0 on what it did not serve from its cache
# (the edge adds the age of what it did).
_ATS_AGE = {MISS: b"0", BYPASS: b"0", ERROR: b"0"}


def _one(name: bytes, words: dict[bytes, bytes]) -> dict[bytes, list[tuple[bytes, bytes]]]:
    return {label: [(name, word)] for label, word in words.items()}


def _ats(words: bool) -> dict[bytes, list[tuple[bytes, bytes]]]:
    out: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for label, codes in _ATS_CODES.items():
        headers = [(b"via", _ATS_VIA % codes)]
        if words:
            headers.append((b"x-cache", _ATS_WORDS[label]))
        if label in _ATS_AGE:
            headers.append((b"age", _ATS_AGE[label]))
        out[label] = headers
    return out


# Each vendor's headers for the edge's HIT / MISS / BYPASS / STALE / ERROR, as their
# documentation gives them (docs/cdn.md); a label a vendor does not list is said as
# `X-Cache: LABEL`. `ats`: Traffic Server with the X-Cache its operators add from
# %{CACHE}, `ats-via`: Traffic Server as it comes (Via cache codes and Age only),
# `age-only`: HAProxy's cache as it comes (the Age of a hit, nothing on a miss).
DIALECTS: dict[str, dict[bytes, list[tuple[bytes, bytes]]]] = {
    "cloudfront": _one(
        b"x-cache",
        {
            HIT: b"Hit from cloudfront",
            MISS: b"Miss from cloudfront",
            BYPASS: b"Miss from cloudfront",
            STALE: b"RefreshHit from cloudfront",
            ERROR: b"Error from cloudfront",
        },
    ),
    "akamai": _one(
        b"x-cache",
        {
            HIT: b"TCP_MEM_HIT" + _AKAMAI_HOST,
            MISS: b"TCP_MISS" + _AKAMAI_HOST,
            BYPASS: b"TCP_MISS" + _AKAMAI_HOST,
            STALE: b"TCP_REFRESH_FAIL_HIT" + _AKAMAI_HOST,
            ERROR: b"TCP_MISS" + _AKAMAI_HOST,
        },
    ),
    "fastly": _one(
        b"x-cache",
        {HIT: b"MISS, HIT", MISS: b"MISS, MISS", BYPASS: b"PASS", STALE: b"HIT-STALE"},
    ),
    "azure": _one(
        b"x-cache",
        {
            HIT: b"TCP_HIT",
            MISS: b"TCP_MISS",
            BYPASS: b"CONFIG_NOCACHE",
            STALE: b"TCP_REFRESH_FAIL_HIT",
            ERROR: b"TCP_MISS",
        },
    ),
    "rfc9211": _one(
        b"cache-status",
        {
            HIT: b"tlog-edge; hit",
            MISS: b"tlog-edge; fwd=miss; stored",
            BYPASS: b"tlog-edge; fwd=bypass",
            STALE: b"tlog-edge; hit; detail=stale",
            ERROR: b"tlog-edge; fwd=miss; detail=error",
        },
    ),
    "ats": _ats(words=True),
    "ats-via": _ats(words=False),
    "age-only": {label: [] for label in (HIT, MISS, BYPASS, STALE, ERROR)},
    "unknown": _one(b"x-cache", {HIT: b"WARM from tlog-edge", MISS: b"COLD from tlog-edge"}),
}


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _is_tlogcheck(scope: Scope) -> bool:
    return (_header(scope, b"user-agent") or b"").startswith(b"tlogcheck/")


def forked_for(scope: Scope, faults: Mapping[str, str]) -> bool:
    """Whether a split-view fault serves this request the forked log: everyone
    (`split-view`), every client but tlogcheck (`ua-split-view`), Go's net/http
    (`go-split-view`), a request without Accept-Encoding, as curl sends by default
    (`curl-split-view`), or a tiled log's gzip readers (`tiles-gzip-fork`)."""
    if "split-view" in faults or ("ua-split-view" in faults and not _is_tlogcheck(scope)):
        return True
    agent = _header(scope, b"user-agent") or b""
    coding = _header(scope, b"accept-encoding")
    if "go-split-view" in faults and agent.startswith(b"Go-http-client/"):
        return True
    if "curl-split-view" in faults and coding is None:
        return True
    tiled = scope["path"] == "/checkpoint" or scope["path"].startswith("/tile/")
    return "tiles-gzip-fork" in faults and tiled and b"gzip" in (coding or b"").lower()


def status_headers(label: bytes, faults: Mapping[str, str] | None) -> list[tuple[bytes, bytes]]:
    """The header that says the cache status `label`, in the dialect a fault asks for."""
    dialect = faults.get("cdn-dialect") if faults else None
    if not dialect:
        return [(b"x-cache", label)]
    return DIALECTS[dialect].get(label, [(b"x-cache", label)])


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
        current: Responder | None = None,
    ) -> None:
        self._lagging = lagging
        self._split = split
        # The release's own log as the origin serves it without a fault: what a cache kept.
        self._current = current
        self._clock = clock
        self._error_gate = RateGate()

    @staticmethod
    def uses_cache(faults: Mapping[str, str], key: bytes = b"") -> bool:
        """Whether the cache is looked up and filled for this request (`key`: path and
        query as the cache keys it)."""
        if "edge-no-query-cache" in faults and b"?" in key:
            return False
        return "cache-always-miss" not in faults

    def view(self, scope: Scope, faults: Mapping[str, str]) -> Answer | None:
        """The answer a faulted tree gives in place of the cache's; None: no fault says."""
        if forked_for(scope, faults):
            if self._split is None:
                return self._error("fault split-view needs a split log")
            entry = self._ask(self._split, scope)
            return Answer(entry, HIT, 0) if entry.ttl is not None else Answer(entry, MISS, None)
        if "origin-ahead" in faults:
            # The pods serve entries beyond their release; the edge still has the
            # release's own tree, within max-age.
            if self._current is None:
                return self._error("fault origin-ahead needs the release's log")
            entry = self._ask(self._current, scope)
            if entry.ttl is not None and not entry.immutable():
                return Answer(entry, HIT, entry.ttl // 2)
        cosigning = faults.keys() & {"edge-fewer-cosignatures", "edge-forged-cosignature"}
        if cosigning and scope["path"] in CHECKPOINT_PATHS:
            if self._current is None:
                return self._error("the cosignature faults need the release's log")
            # The copy the edge kept: without the witness's cosignature the origin now
            # has, or with one the edge made up.
            asked = {COSIGNED: ""} if "edge-forged-cosignature" in cosigning else {}
            entry = self._ask(self._current, scope, asked)
            return Answer(entry, HIT, entry.ttl // 2) if entry.ttl else None
        for name, age_of in LAGS.items():
            if name not in faults:
                continue
            if self._lagging is None:
                return self._error(f"fault {name} needs a lagging log")
            rewrite = REWRITTEN_CACHE_CONTROL if name == "edge-cache-control-rewrite" else None
            entry = self._ask(self._lagging, scope, {name: ""}, cache_control=rewrite)
            # Immutable answers are the same bytes in both trees; only short ones lag.
            if entry.ttl is None or entry.immutable():
                return None
            return Answer(entry, HIT, age_of(entry.ttl))
        return None

    async def delay_or_fail(
        self, answer: Answer, faults: Mapping[str, str], path: bytes = b""
    ) -> Answer:
        """Apply `latency` / `error-rate` (and `proof-slow` / `proof-5xx` to a proof) to an
        answer the edge makes without the origin."""
        latency = faults.get("latency")
        if latency:
            await asyncio.sleep(int(latency) / 1000)
        proof = path.startswith(PATH_PROOF_PREFIX.encode())
        slow = faults.get("proof-slow")
        if proof and slow is not None:
            await asyncio.sleep((int(slow) if slow else DEFAULT_PROOF_DELAY_MS) / 1000)
        if proof and "proof-5xx" in faults:
            return self._error("injected error (proof-5xx)")
        rate = faults.get("error-rate")
        if rate and self._error_gate.hit(rate):
            return self._error("injected error (error-rate)")
        return answer

    def _error(self, text: str) -> Answer:
        return Answer(error_entry(500, text, self._clock()), ERROR, None)

    def _ask(
        self,
        log: Responder,
        scope: Scope,
        faults: Mapping[str, str] | None = None,
        *,
        cache_control: str | None = None,
    ) -> Entry:
        """`log`'s answer to the request, as an entry; `cache_control`: the edge's own
        Cache-Control in place of a short answer's (a rewriting edge)."""
        headers = {
            n.decode("latin-1"): v.decode("latin-1")
            for n, v in scope["headers"]
            if n != b"if-none-match"
        }
        query = scope["query_string"].decode("latin-1")
        status, raw, body = log.respond("GET", scope["path"], query, headers, faults or {})
        short = any(
            n == "cache-control" and "max-age" in v and "immutable" not in v for n, v in raw
        )
        if cache_control is not None and short:
            raw = [(n, cache_control if n == "cache-control" else v) for n, v in raw]
        encoded = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in raw]
        return make_entry(status, encoded, body, self._clock())
