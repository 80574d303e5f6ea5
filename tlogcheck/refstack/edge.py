"""The builtin edge: a caching reverse proxy that behaves like the CDN in front of the origin.

A raw ASGI app. What it does, in the words of the spec's "The edge (CDN)":

- Caches `200` answers to GET/HEAD by their `Cache-Control` as a shared cache does:
  `s-maxage`/`max-age` is the lifetime (`immutable` adds nothing to it), `no-store`,
  `no-cache` and `private` are never stored. One entry per path+query holds the identity
  body; a gzip copy is made the first time a client asks for it (`Accept-Encoding: gzip`),
  and both carry `Vary: Accept-Encoding` and the origin's `ETag` unchanged (the spec
  defines the ETag over the identity body). Bounded: least recently used entries go once
  the bodies exceed `max_bytes`.
- Says `X-Cache: HIT | MISS | BYPASS | STALE` (and `ERROR` on an answer the edge made up
  because the origin could not be asked), and `Age` on every answer from its cache.
- `X-Bypass: 1` (any value but empty or `0`, as nginx reads it) goes straight to the origin
  and stores nothing: the playbook compares the two views, so a bypass must not repaint
  the edge's.
- When the origin fails (connect error, timeout, 500/502/503/504) an expired entry is
  served `STALE`; so is a request that arrives while another one refreshes the entry.
- Concurrent misses of one path wait for one upstream fetch (request coalescing).
- `If-None-Match` matching the entry's ETag gets `304`; HEAD gets the GET's headers.
- Canary: each request that reaches the origin (bypasses too: the origin Service is a mix)
  goes to one of the weighted upstreams, `[stable, canary]` like an Argo canary step. The
  cache keeps whatever answered, as a CDN does: immutable answers are the same bytes on
  both releases for what both have, the short root/checkpoint may come from either for up
  to max-age, and `purge()` is the invalidation the playbook runs after a rollback.

Edge-side faults (documented in `faults.FAULTS`), read from the shared FaultSet on every
request and never applied to `X-Bypass` requests:

- `stale-edge-root` / `edge-lag`: the short answers (root, checkpoint, a proof without
  tree_size) come from `lagging`, an older consistent tree, as cache hits whose `Age` is
  max-age + `STALE_BY` / max-age // 2.
- `split-view`: every answer comes from `split`, a forked tree, as a fresh hit.
- `cache-always-miss`: nothing is looked up or stored.
- `latency:MS` and `error-rate:PCT` (origin faults): applied to the answers the edge makes
  itself (hits, stale, 304s, fault views); misses and bypasses already went through the
  origin's, so each response is delayed or failed once.

Upstream bodies up to `max_body` bytes are read whole within `deadline` seconds (slower:
`504`, or `STALE` when an older copy is cached). A bigger body is passed through as it
arrives and never stored, as a CDN passes on what the origin sends (the suite's client cap
is what refuses it); it is cut off once `deadline` has passed. Memory and time stay bounded.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
from collections import OrderedDict
from collections.abc import (
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from tlogcheck.errors import ConfigError
from tlogcheck.refstack.faults import RateGate
from tlogcheck.refstack.server import Receive, Scope, Send

__all__ = [
    "STALE_BY",
    "Edge",
    "FaultView",
    "Responder",
    "Upstream",
    "canary_step",
    "canary_weight_of",
    "freshness",
]

RawHeaders = list[tuple[bytes, bytes]]

# How far past max-age the `stale-edge-root` fault pretends its root was stored.
STALE_BY = 300

GZIP_TYPES = frozenset({b"application/json", b"text/plain"})
GZIP_MIN_LENGTH = 20  # nginx's gzip_min_length default: tiny bodies are not worth coding
UPSTREAM_STALE_STATUSES = frozenset({500, 502, 503, 504})
# Bytes charged per entry beyond its body and headers: key, object, bookkeeping.
ENTRY_OVERHEAD = 128

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Besides hop-by-hop: the edge recodes the body, its own server writes Date and Server,
# and Age / X-Cache describe this cache, not one upstream of it.
DROPPED_RESPONSE = HOP_BY_HOP | {
    b"content-length",
    b"content-encoding",
    b"date",
    b"server",
    b"age",
    b"x-cache",
    b"vary",
}
DROPPED_REQUEST = HOP_BY_HOP | {b"host", b"accept-encoding", b"content-length"}

HIT, MISS, BYPASS, STALE, ERROR = b"HIT", b"MISS", b"BYPASS", b"STALE", b"ERROR"


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


@dataclass(frozen=True)
class Upstream:
    """One origin the edge forwards to, e.g. the stable or the canary Service."""

    url: str
    weight: int

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"upstream {self.url!r} is not an http(s) URL")
        if self.weight < 0:
            raise ConfigError(f"upstream {self.url} has a negative weight {self.weight}")
        object.__setattr__(self, "url", self.url.rstrip("/"))


def canary_step(upstreams: Sequence[Upstream], weight: int) -> tuple[Upstream, Upstream]:
    """`[stable, canary]` with `weight` % of requests to the canary: one Argo canary step."""
    if not 0 <= weight <= 100:
        raise ConfigError(f"canary weight {weight} is not within 0..100")
    if len(upstreams) != 2:
        raise ConfigError("a canary weight needs two upstreams: [stable, canary]")
    stable, canary = upstreams
    return Upstream(stable.url, 100 - weight), Upstream(canary.url, weight)


def canary_weight_of(upstreams: Sequence[Upstream]) -> int:
    """The canary's share of `[stable, canary]`, 0 with a single upstream."""
    return upstreams[1].weight if len(upstreams) == 2 else 0


def freshness(cache_control: str | bytes | None) -> int | None:
    """Seconds a shared cache may keep an answer with this Cache-Control; None: not at all."""
    if not cache_control:
        return None
    text = cache_control.decode("latin-1") if isinstance(cache_control, bytes) else cache_control
    directives: dict[str, str] = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if directives.keys() & {"no-store", "no-cache", "private"}:
        return None
    for name in ("s-maxage", "max-age"):
        if name in directives:
            value = directives[name]
            return int(value) if value.isdigit() and int(value) > 0 else None
    return None


def _accepts_gzip(value: bytes) -> bool:
    for coding in value.lower().split(b","):
        name, _, params = coding.strip().partition(b";")
        if name.strip() != b"gzip":
            continue
        q = params.strip()
        if q.startswith(b"q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 §13.1.2: weak comparison, a list of tags or `*`."""
    if if_none_match.strip() == b"*":
        return True
    ours = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == ours for tag in if_none_match.split(b","))


@dataclass(eq=False)
class _Entry:
    """One answer, ready to send: the identity body and, made on demand, its gzip copy."""

    status: int
    head: RawHeaders  # passed-through headers + content-length, without Age / X-Cache
    bare: RawHeaders  # the same without content-type / content-length: for 304
    body: bytes
    etag: bytes | None
    compressible: bool
    stored_at: float  # clock time the answer was made, corrected by an upstream Age
    expires: float  # stored_at + lifetime; an entry past it is served only STALE
    ttl: int | None
    gzip_head: RawHeaders | None = None
    gzip_body: bytes | None = None
    size: int = 0
    cached: bool = field(default=False)

    def gzipped(self) -> tuple[RawHeaders, bytes]:
        if self.gzip_body is None or self.gzip_head is None:
            # mtime=0: the same identity body always codes to the same bytes.
            self.gzip_body = gzip.compress(self.body, compresslevel=6, mtime=0)
            self.gzip_head = [
                *self.bare,
                *((n, v) for n, v in self.head if n == b"content-type"),
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(self.gzip_body)).encode()),
            ]
        return self.gzip_head, self.gzip_body


def _entry(status: int, raw: Iterable[tuple[bytes, bytes]], body: bytes, now: float) -> _Entry:
    """Turn an upstream answer into an entry: drop what is not passed on, note what caches."""
    kept: RawHeaders = []
    cache_control: bytes | None = None
    etag: bytes | None = None
    ctype = b""
    vary: list[bytes] = []
    age = 0
    for name, value in raw:
        name = name.lower()
        if name in DROPPED_RESPONSE:
            if name == b"age" and value.strip().isdigit():
                age = int(value)
            elif name == b"vary":
                vary.extend(v.strip().lower() for v in value.split(b",") if v.strip())
            continue
        if name == b"cache-control":
            cache_control = value
        elif name == b"etag":
            etag = value
        elif name == b"content-type":
            ctype = value.split(b";")[0].strip().lower()
        kept.append((name, value))
    compressible = ctype in GZIP_TYPES and len(body) >= GZIP_MIN_LENGTH
    if compressible and b"accept-encoding" not in vary:
        vary.append(b"accept-encoding")
    # The edge answers every Accept-Encoding itself; any other Vary it cannot honour.
    ttl = freshness(cache_control) if status == 200 and set(vary) <= {b"accept-encoding"} else None
    if vary:
        kept.append((b"vary", b", ".join(vary)))
    bare = [(n, v) for n, v in kept if n != b"content-type"]
    head = kept if status in (204, 304) else [*kept, (b"content-length", str(len(body)).encode())]
    stored_at = now - age
    return _Entry(
        status=status,
        head=head,
        bare=bare,
        body=body,
        etag=etag,
        compressible=compressible,
        stored_at=stored_at,
        expires=stored_at + (ttl or 0),
        ttl=ttl,
        size=len(body) + sum(len(n) + len(v) for n, v in head) + ENTRY_OVERHEAD,
    )


def _error(status: int, text: str, now: float) -> _Entry:
    body = json.dumps({"error": text}).encode()
    raw = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    return _entry(status, raw, body, now)


class _Failure:
    """The origin could not be asked: the status the edge answers and why."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


class _Stream:
    """An upstream answer too big to hold: passed on as it arrives, never stored."""

    def __init__(
        self, response: httpx.Response, rest: AsyncIterator[bytes], first: list[bytes]
    ) -> None:
        self.response = response
        self.rest = rest
        self.first = first
        head = [
            (n.lower(), v) for n, v in response.headers.raw if n.lower() not in DROPPED_RESPONSE
        ]
        length = response.headers.get("content-length")
        if length is not None and length.isdigit():
            # The origin was asked for identity: its length is the one passed on.
            head.append((b"content-length", length.encode()))
        self.head = head


# The cache's fetches never stream: a body over the cap is fetched again by the request
# that needs it, which streams it (only pathological origins pay twice).
TOO_BIG = _Failure(502, "origin body over the edge's cap")
Fetched = _Entry | _Failure | _Stream


class Edge:
    """The caching edge as an ASGI app; see the module docstring for its behaviour."""

    def __init__(
        self,
        upstreams: Sequence[Upstream],
        *,
        faults: FaultView | None = None,
        lagging: Responder | None = None,
        split: Responder | None = None,
        max_bytes: int = 256 * 2**20,
        max_body: int = 16 * 2**20,
        timeout: float = 10.0,
        deadline: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._set_upstreams(upstreams)
        self._faults = faults
        self._lagging = lagging
        self._split = split
        self._max_bytes = max_bytes
        self._max_body = max_body
        self._timeout = timeout
        self._deadline = deadline
        self._clock = clock
        self._rng = rng or random.Random()
        self._cache: OrderedDict[bytes, _Entry] = OrderedDict()
        self._bytes = 0
        self._inflight: dict[bytes, asyncio.Task[Fetched]] = {}
        self._client: httpx.AsyncClient | None = None
        self._error_gate = RateGate()

    # -- configuration ------------------------------------------------------------------

    def _set_upstreams(self, upstreams: Sequence[Upstream]) -> None:
        chosen = tuple(upstreams)
        if not chosen or sum(u.weight for u in chosen) <= 0:
            raise ConfigError("the edge needs at least one upstream with a positive weight")
        # One tuple replaced whole: a request in flight sees the old or the new split.
        self._upstreams = chosen

    @property
    def canary_weight(self) -> int:
        return canary_weight_of(self._upstreams)

    def set_canary_weight(self, weight: int) -> None:
        """Move the canary step: `weight` % of origin requests go to the canary upstream."""
        self._set_upstreams(canary_step(self._upstreams, weight))

    def purge(self, prefix: str = "") -> int:
        """Drop cached answers whose path starts with `prefix` (all by default): the
        playbook's CDN invalidation. Call it on the loop the edge serves on."""
        wanted = prefix.encode()
        gone = [key for key in self._cache if key.startswith(wanted)]
        for key in gone:
            self._forget(key)
        return len(gone)

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._cache)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # -- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        method: str = scope["method"]
        path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope["query_string"]
        key = path + b"?" + query if query else path
        bypass = gzip_ok = False
        if_none_match: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-bypass":
                bypass = value.strip() not in (b"", b"0")
            elif name == b"accept-encoding":
                gzip_ok = _accepts_gzip(value)
            elif name == b"if-none-match":
                if_none_match = value
        head = method == "HEAD"
        if bypass or not (head or method == "GET"):
            await self._bypass(scope, receive, send, key, gzip_ok, head)
            return
        faults = self._faults.snapshot() if self._faults is not None else None
        if faults:
            await self._faulted(scope, send, key, faults, gzip_ok, if_none_match, head)
            return
        entry = self._cache.get(key)
        if entry is not None:
            now = self._clock()
            if now < entry.expires:
                self._cache.move_to_end(key)
                await self._send(
                    send, entry, HIT, int(now - entry.stored_at), gzip_ok, if_none_match, head
                )
                return
        await self._miss(send, key, gzip_ok, if_none_match, head, store=True)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _send(
        self,
        send: Send,
        entry: _Entry,
        label: bytes,
        age: int | None,
        gzip_ok: bool,
        if_none_match: bytes | None,
        head: bool,
    ) -> None:
        tail = (
            [(b"x-cache", label)] if age is None else [(b"age", b"%d" % age), (b"x-cache", label)]
        )
        if (
            if_none_match is not None
            and entry.status == 200
            and entry.etag is not None
            and _etag_matches(if_none_match, entry.etag)
        ):
            await send({"type": "http.response.start", "status": 304, "headers": entry.bare + tail})
            await send({"type": "http.response.body", "body": b""})
            return
        if gzip_ok and entry.compressible:
            had_copy = entry.gzip_body is not None
            headers, body = entry.gzipped()
            if entry.cached and not had_copy:
                self._charge(len(body))
        else:
            headers, body = entry.head, entry.body
        await send(
            {"type": "http.response.start", "status": entry.status, "headers": headers + tail}
        )
        await send({"type": "http.response.body", "body": b"" if head else body})

    # -- the cache ----------------------------------------------------------------------

    def _store(self, key: bytes, entry: _Entry) -> None:
        self._forget(key)
        if entry.size > self._max_bytes:
            return
        entry.cached = True
        self._cache[key] = entry
        self._charge(entry.size)

    def _charge(self, size: int) -> None:
        self._bytes += size
        while self._bytes > self._max_bytes and self._cache:
            self._forget(next(iter(self._cache)))

    def _forget(self, key: bytes) -> None:
        old = self._cache.pop(key, None)
        if old is not None:
            old.cached = False
            self._bytes -= old.size + (len(old.gzip_body) if old.gzip_body is not None else 0)

    async def _miss(
        self,
        send: Send,
        key: bytes,
        gzip_ok: bool,
        if_none_match: bytes | None,
        head: bool,
        *,
        store: bool,
    ) -> None:
        result: Fetched
        if not store:
            result = await self._fetch("GET", key, [], b"", stream=True)
        else:
            stale = self._cache.get(key)
            task = self._inflight.get(key)
            if task is not None and stale is not None:
                # nginx's `proxy_cache_use_stale updating`: one request refreshes, the rest
                # are not held up by it.
                await self._send_stale(send, stale, gzip_ok, if_none_match, head)
                return
            if task is None:
                task = asyncio.get_running_loop().create_task(self._fill(key))
                self._inflight[key] = task
                task.add_done_callback(lambda _: self._inflight.pop(key, None))
                result = await asyncio.shield(task)
            else:
                result = await asyncio.shield(task)
                if isinstance(result, _Entry) and not result.cached:
                    # Only a stored answer is shared; anything else each request fetches.
                    result = await self._fetch("GET", key, [], b"", stream=True)
            if result is TOO_BIG:
                result = await self._fetch("GET", key, [], b"", stream=True)
            if isinstance(result, _Failure) or (
                isinstance(result, _Entry) and result.status in UPSTREAM_STALE_STATUSES
            ):
                stale = self._cache.get(key)
                if stale is not None:
                    await self._send_stale(send, stale, gzip_ok, if_none_match, head)
                    return
        await self._answer(send, result, MISS, gzip_ok, if_none_match, head)

    async def _answer(
        self,
        send: Send,
        result: Fetched,
        label: bytes,
        gzip_ok: bool,
        if_none_match: bytes | None,
        head: bool,
    ) -> None:
        """Send what the origin answered (or why it could not), labelled MISS or BYPASS."""
        if isinstance(result, _Stream):
            await self._pass_on(send, result, label, head)
        elif isinstance(result, _Failure):
            failed = _error(result.status, result.reason, self._clock())
            await self._send(send, failed, ERROR, None, gzip_ok, None, head)
        else:
            await self._send(send, result, label, None, gzip_ok, if_none_match, head)

    async def _pass_on(self, send: Send, stream: _Stream, label: bytes, head: bool) -> None:
        """Stream an oversized answer through, within the deadline; a body that has not
        arrived by then is cut off (the server closes the connection)."""
        end = time.monotonic() + self._deadline  # real time, whatever clock ages entries
        try:
            headers = [*stream.head, (b"x-cache", label)]
            await send(
                {
                    "type": "http.response.start",
                    "status": stream.response.status_code,
                    "headers": headers,
                }
            )
            if not head:
                for chunk in stream.first:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                async for chunk in stream.rest:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    if time.monotonic() > end:
                        return
            await send({"type": "http.response.body", "body": b""})
        except httpx.HTTPError:
            return  # the origin broke off mid-body: so does the answer
        finally:
            await stream.response.aclose()

    async def _send_stale(
        self, send: Send, entry: _Entry, gzip_ok: bool, if_none_match: bytes | None, head: bool
    ) -> None:
        age = int(self._clock() - entry.stored_at)
        await self._send(send, entry, STALE, age, gzip_ok, if_none_match, head)

    async def _fill(self, key: bytes) -> Fetched:
        """Fetch `key` for the cache and keep the answer when its Cache-Control allows."""
        result = await self._fetch("GET", key, [], b"", stream=False)
        if isinstance(result, _Entry) and result.ttl is not None:
            self._store(key, result)
        return result

    # -- upstream -----------------------------------------------------------------------

    def _pick(self) -> Upstream:
        upstreams = self._upstreams
        if len(upstreams) == 1:
            return upstreams[0]
        point = self._rng.random() * sum(u.weight for u in upstreams)
        for upstream in upstreams:
            point -= upstream.weight
            if point < 0:
                return upstream
        return upstreams[-1]

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 3.0)),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
                headers={"user-agent": "tlogcheck-edge", "accept-encoding": "identity"},
                # Loopback and staging origins are reached directly, never through a proxy.
                trust_env=False,
            )
        return self._client

    async def _fetch(
        self, method: str, target: bytes, headers: RawHeaders, body: bytes, *, stream: bool
    ) -> Fetched:
        """One upstream request. A body over `max_body` is TOO_BIG, or with `stream` a
        _Stream the caller must pass on (it holds the upstream response open)."""
        upstream = self._pick()
        url = upstream.url + target.decode("latin-1")
        try:
            return await asyncio.wait_for(
                self._read(method, url, headers, body, stream), timeout=self._deadline
            )
        except asyncio.TimeoutError:
            return _Failure(504, f"origin {upstream.url} did not answer within {self._deadline} s")
        except httpx.HTTPError as exc:
            return _Failure(502, f"origin {upstream.url} failed: {type(exc).__name__}: {exc}")

    async def _read(
        self, method: str, url: str, headers: RawHeaders, body: bytes, stream: bool
    ) -> Fetched:
        request = self._http().build_request(method, url, headers=headers, content=body or None)
        response = await self._http().send(request, stream=True)
        handed_on = False
        try:
            chunks: list[bytes] = []
            rest = response.aiter_bytes()
            declared = response.headers.get("content-length", "")
            too_big = declared.isdigit() and int(declared) > self._max_body
            if not too_big:
                total = 0
                async for chunk in rest:
                    chunks.append(chunk)
                    total += len(chunk)
                    if total > self._max_body:
                        too_big = True
                        break
            if too_big:
                if not stream:
                    return TOO_BIG
                handed_on = True
                return _Stream(response, rest, chunks)
        finally:
            if not handed_on:
                await response.aclose()
        return _entry(response.status_code, response.headers.raw, b"".join(chunks), self._clock())

    async def _bypass(
        self, scope: Scope, receive: Receive, send: Send, key: bytes, gzip_ok: bool, head: bool
    ) -> None:
        method: str = scope["method"]
        body = b""
        if method not in ("GET", "HEAD"):
            read = await _read_body(receive, self._max_body)
            if read is None:
                too_big = _error(413, "request body over the edge's cap", self._clock())
                await self._send(send, too_big, ERROR, None, gzip_ok, None, head)
                return
            body = read
        forwarded: RawHeaders = [(n, v) for n, v in scope["headers"] if n not in DROPPED_REQUEST]
        forwarded.append((b"accept-encoding", b"identity"))
        # HEAD goes up as GET so the edge knows the length it reports.
        result = await self._fetch("GET" if head else method, key, forwarded, body, stream=True)
        await self._answer(send, result, BYPASS, gzip_ok, None, head)

    # -- faults -------------------------------------------------------------------------

    async def _faulted(
        self,
        scope: Scope,
        send: Send,
        key: bytes,
        faults: Mapping[str, str],
        gzip_ok: bool,
        if_none_match: bytes | None,
        head: bool,
    ) -> None:
        """A request while some fault is on: the edge-side ones change where the answer
        comes from; latency / error-rate apply to what the edge answers by itself."""
        answer = self._fault_view(scope, faults)
        if answer is None and "cache-always-miss" not in faults:
            entry = self._cache.get(key)
            now = self._clock()
            if entry is not None and now < entry.expires:
                self._cache.move_to_end(key)
                answer = entry, HIT, int(now - entry.stored_at)
        if answer is None:
            await self._miss(
                send, key, gzip_ok, if_none_match, head, store="cache-always-miss" not in faults
            )
            return
        entry, label, age = answer
        latency = faults.get("latency")
        if latency:
            await asyncio.sleep(int(latency) / 1000)
        rate = faults.get("error-rate")
        if rate and self._error_gate.hit(rate):
            entry, label, age = (
                _error(500, "injected error (error-rate)", self._clock()),
                ERROR,
                None,
            )
            if_none_match = None
        await self._send(send, entry, label, age, gzip_ok, if_none_match, head)

    def _fault_view(
        self, scope: Scope, faults: Mapping[str, str]
    ) -> tuple[_Entry, bytes, int | None] | None:
        if "split-view" in faults:
            if self._split is None:
                return _error(500, "fault split-view needs a split log", self._clock()), ERROR, None
            entry = self._ask(self._split, scope)
            return (entry, HIT, 0) if entry.ttl is not None else (entry, MISS, None)
        for name in ("stale-edge-root", "edge-lag"):
            if name not in faults:
                continue
            if self._lagging is None:
                return _error(500, f"fault {name} needs a lagging log", self._clock()), ERROR, None
            entry = self._ask(self._lagging, scope)
            # Immutable answers are the same bytes in both trees; only short ones lag.
            if entry.ttl is None or _immutable(entry):
                return None
            age = entry.ttl + STALE_BY if name == "stale-edge-root" else entry.ttl // 2
            return entry, HIT, age
        return None

    def _ask(self, log: Responder, scope: Scope) -> _Entry:
        headers = {
            n.decode("latin-1"): v.decode("latin-1")
            for n, v in scope["headers"]
            if n != b"if-none-match"
        }
        query = scope["query_string"].decode("latin-1")
        status, raw, body = log.respond("GET", scope["path"], query, headers, {})
        encoded = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in raw]
        return _entry(status, encoded, body, self._clock())


def _immutable(entry: _Entry) -> bool:
    return any(n == b"cache-control" and b"immutable" in v.lower() for n, v in entry.head)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk: bytes = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
