"""The builtin edge: a caching reverse proxy, as a raw ASGI app, that behaves like the CDN
in front of the origin.

This module handles the requests; what it keeps is `store`'s, which origin it asks is
`upstream`'s, how it asks is `fetch`'s, and the edge-side faults are `edge_faults`'.
What it does, in the words of the spec's "The edge (CDN)":

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
- An upstream body too big to store is passed through as it arrives and cut off once
  `deadline` has passed.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import random
import time
from collections.abc import Callable, Mapping, Sequence

import httpx

from tlogcheck.refstack.edge_faults import EdgeFaults, FaultView, Responder, status_headers
from tlogcheck.refstack.fetch import TOO_BIG, Failure, Fetched, Fetcher, Stream
from tlogcheck.refstack.server import Receive, Scope, Send
from tlogcheck.refstack.store import (
    BYPASS,
    ERROR,
    HOP_BY_HOP,
    MISS,
    STALE,
    Answer,
    Entry,
    RawHeaders,
    Store,
    error_entry,
)
from tlogcheck.refstack.upstream import Upstream, Upstreams

__all__ = ["Edge"]

UPSTREAM_STALE_STATUSES = frozenset({500, 502, 503, 504})
DROPPED_REQUEST = HOP_BY_HOP | {b"host", b"accept-encoding", b"content-length"}
DEFAULT_NODES = 3  # `multi-node-edge` without an argument

# Which node's cache a request uses (fault `multi-node-edge`); tasks a request starts
# (a coalesced fill) inherit it.
_node: contextvars.ContextVar[int] = contextvars.ContextVar("edge_node", default=0)


class Edge:
    """The caching edge as an ASGI app; see the module docstring for its behaviour."""

    def __init__(
        self,
        upstreams: Sequence[Upstream],
        *,
        faults: FaultView | None = None,
        lagging: Responder | None = None,
        split: Responder | None = None,
        current: Responder | None = None,
        max_bytes: int = 256 * 2**20,
        max_body: int = 16 * 2**20,
        timeout: float = 10.0,
        deadline: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        ca_file: str | None = None,
    ) -> None:
        self._upstreams = Upstreams(upstreams, rng)
        self._faults = faults
        self._fault_views = EdgeFaults(
            lagging=lagging, split=split, current=current, clock=clock
        )
        self._max_body = max_body
        self._deadline = deadline
        self._clock = clock
        self._max_bytes = max_bytes
        self._stores = [Store(max_bytes, clock)]
        self._turn = itertools.count()
        self._inflight: dict[bytes, asyncio.Task[Fetched]] = {}
        self._origin = Fetcher(
            self._upstreams,
            max_body=max_body,
            timeout=timeout,
            deadline=deadline,
            clock=clock,
            ca_file=ca_file,
        )

    # -- configuration ------------------------------------------------------------------

    @property
    def canary_weight(self) -> int:
        return self._upstreams.canary_weight

    def set_canary_weight(self, weight: int) -> None:
        """Move the canary step: `weight` % of origin requests go to the canary upstream."""
        self._upstreams.set_canary_weight(weight)

    def purge(self, prefix: str = "") -> int:
        """Drop cached answers whose path starts with `prefix` (all by default): the
        playbook's CDN invalidation. Call it on the loop the edge serves on."""
        return sum(store.purge(prefix.encode()) for store in self._stores)

    @property
    def cached_bytes(self) -> int:
        return sum(store.used_bytes for store in self._stores)

    def __len__(self) -> int:
        return sum(len(store) for store in self._stores)

    @property
    def _cache(self) -> Store:
        return self._stores[_node.get()]

    def _pick_node(self, faults: Mapping[str, str]) -> None:
        arg = faults.get("multi-node-edge")
        if arg is None:
            _node.set(0)
            return
        nodes = int(arg) if arg else DEFAULT_NODES
        while len(self._stores) < nodes:
            self._stores.append(Store(self._max_bytes, self._clock))
        _node.set(next(self._turn) % nodes)

    async def aclose(self) -> None:
        await self._origin.aclose()

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
            self._pick_node(faults)
            await self._faulted(scope, send, key, faults, gzip_ok, if_none_match, head)
            return
        hit = self._cache.hit(key)
        if hit is not None:
            await self._send(send, *hit, gzip_ok, if_none_match, head)
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
        entry: Entry,
        label: bytes,
        age: int | None,
        gzip_ok: bool,
        if_none_match: bytes | None,
        head: bool,
    ) -> None:
        status = self._status(label)
        tail = status if age is None else [(b"age", b"%d" % age), *status]
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
            headers, body = self._cache.gzipped(entry)
        else:
            headers, body = entry.head, entry.body
        await send(
            {"type": "http.response.start", "status": entry.status, "headers": headers + tail}
        )
        await send({"type": "http.response.body", "body": b"" if head else body})

    def _status(self, label: bytes) -> list[tuple[bytes, bytes]]:
        return status_headers(label, self._faults.snapshot() if self._faults is not None else None)

    # -- misses: coalesced, stale on error ------------------------------------------------

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
            result = await self._origin.fetch("GET", key, [], b"", stream=True)
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
                if isinstance(result, Entry) and not result.cached:
                    # Only a stored answer is shared; anything else each request fetches.
                    result = await self._origin.fetch("GET", key, [], b"", stream=True)
            if result is TOO_BIG:
                result = await self._origin.fetch("GET", key, [], b"", stream=True)
            if isinstance(result, Failure) or (
                isinstance(result, Entry) and result.status in UPSTREAM_STALE_STATUSES
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
        if isinstance(result, Stream):
            await self._pass_on(send, result, label, head)
        elif isinstance(result, Failure):
            failed = error_entry(result.status, result.reason, self._clock())
            await self._send(send, failed, ERROR, None, gzip_ok, None, head)
        else:
            await self._send(send, result, label, None, gzip_ok, if_none_match, head)

    async def _pass_on(self, send: Send, stream: Stream, label: bytes, head: bool) -> None:
        """Stream an oversized answer through, within the deadline; a body that has not
        arrived by then is cut off (the server closes the connection)."""
        end = time.monotonic() + self._deadline  # real time, whatever clock ages entries
        try:
            headers = [*stream.head, *self._status(label)]
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
        self, send: Send, entry: Entry, gzip_ok: bool, if_none_match: bytes | None, head: bool
    ) -> None:
        age = int(self._clock() - entry.stored_at)
        await self._send(send, entry, STALE, age, gzip_ok, if_none_match, head)

    async def _fill(self, key: bytes) -> Fetched:
        """Fetch `key` for the cache and keep the answer when its Cache-Control allows."""
        result = await self._origin.fetch("GET", key, [], b"", stream=False)
        if isinstance(result, Entry) and result.ttl is not None:
            self._cache.put(key, result)
        return result

    # -- bypass and faults ----------------------------------------------------------------

    async def _bypass(
        self, scope: Scope, receive: Receive, send: Send, key: bytes, gzip_ok: bool, head: bool
    ) -> None:
        method: str = scope["method"]
        body = b""
        if method not in ("GET", "HEAD"):
            read = await _read_body(receive, self._max_body)
            if read is None:
                too_big = error_entry(413, "request body over the edge's cap", self._clock())
                await self._send(send, too_big, ERROR, None, gzip_ok, None, head)
                return
            body = read
        forwarded: RawHeaders = [(n, v) for n, v in scope["headers"] if n not in DROPPED_REQUEST]
        forwarded.append((b"accept-encoding", b"identity"))
        # HEAD goes up as GET so the edge knows the length it reports.
        result = await self._origin.fetch(
            "GET" if head else method, key, forwarded, body, stream=True
        )
        await self._answer(send, result, BYPASS, gzip_ok, None, head)

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
        uses_cache = self._fault_views.uses_cache(faults, key)
        answer: Answer | None = self._fault_views.view(scope, faults)
        if answer is None and uses_cache:
            answer = self._cache.hit(key)
        if answer is None:
            await self._miss(send, key, gzip_ok, if_none_match, head, store=uses_cache)
            return
        answer = await self._fault_views.delay_or_fail(answer, faults, key)
        await self._send(send, *answer, gzip_ok, if_none_match, head)


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
