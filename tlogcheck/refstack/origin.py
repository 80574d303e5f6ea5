"""The origin pod: a raw ASGI app serving one release's `Log`, with the origin's faults.

With no fault on, a request is one `Log.respond` call and two `send`s. With faults,
the transport ones are applied here, around the answer:

- `latency:MS`: `asyncio.sleep` before answering (the loop keeps serving others);
- `error-rate:PCT`: a deterministic share of 500s (`faults.RateGate`);
- `proof-5xx` / `proof-slow[:MS]`: every inclusion proof a 500, or MS ms late;
- `oversize-body[:MB]`: entry bodies of MB MiB, streamed from one reused chunk;
- `slow-body`: the body trickled a byte per 100 ms, for at most 60 s;

and the release ones pick the log served (`history-rewrite`, `truncated`,
`origin-behind`, `origin-ahead`) when this origin is the one serving the release under
test (`release_faults=True`). `origin-proofs-wrong` spoils the proofs of every request
but the builtin edge's own fetches: pods gone bad behind a warm cache.
The content faults (wrong-root, bad-proof, ...) are `Log.respond`'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable, Iterator, Mapping

from tlogcheck.refstack.data import demo_entries
from tlogcheck.refstack.faults import (
    BLIP_AFTER,
    DEFAULT_AHEAD,
    DEFAULT_BEHIND,
    DEFAULT_OVERSIZE_MIB,
    DEFAULT_PROOF_DELAY_MS,
    DEFAULT_TRUNCATED_EXTRA,
    SLOW_BODY_INTERVAL,
    SLOW_BODY_LIMIT,
    FaultSet,
    RateGate,
)
from tlogcheck.refstack.log import NO_STORE, Headers, Log
from tlogcheck.refstack.server import Receive, Scope, Send, handle_lifespan
from tlogcheck.spec import PATH_ENTRY_PREFIX, PATH_PROOF_PREFIX

__all__ = ["Origin"]

_MIB = 1 << 20
_PAD = b" " * _MIB
_NO_HEADERS: Mapping[str, str] = {}
# Looked up here at call time, so a test can watch what is slept without patching asyncio.
_sleep = asyncio.sleep


def _encode(headers: Headers) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


_CONDITIONAL = (b"if-none-match", b"if-modified-since")


def _request_headers(scope: Scope) -> Mapping[str, str]:
    found = {
        name.decode(): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _CONDITIONAL
    }
    return found or _NO_HEADERS


# The builtin edge's own fetches say so (`fetch.py`): what a cache filled itself with.
_EDGE_AGENT = b"tlogcheck-edge"


def _from_edge(scope: Scope) -> bool:
    return any(n == b"user-agent" and v == _EDGE_AGENT for n, v in scope["headers"])


class Origin:
    """ASGI app: one origin pod of `log.release`."""

    def __init__(
        self, log: Log, faults: FaultSet | None = None, *, release_faults: bool = True
    ) -> None:
        self.log = log
        self.faults = faults if faults is not None else FaultSet()
        self.release_faults = release_faults
        self._errors = RateGate()
        self._variants: dict[tuple[str | None, ...], Log] = {}
        self._pad_hash: dict[int, hashlib._Hash] = {}
        self._seen = 0
        self._blip_until: float | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await handle_lifespan(receive, send)
            return
        faults = self.faults.snapshot()
        if faults:
            await self._faulty(scope, receive, send, faults)
            return
        query: bytes = scope["query_string"]
        status, headers, body = self.log.respond(
            scope["method"], scope["path"], query.decode("latin-1"), _request_headers(scope)
        )
        await send({"type": "http.response.start", "status": status, "headers": _encode(headers)})
        await send({"type": "http.response.body", "body": body})

    def _blipping(self, arg: str) -> bool:
        """Whether this request falls in the one `blip` window (after BLIP_AFTER requests)."""
        self._seen += 1
        now = time.monotonic()
        if self._blip_until is None and self._seen > BLIP_AFTER:
            self._blip_until = now + (int(arg) if arg else 1)
        return self._blip_until is not None and now < self._blip_until

    def served_log(self, faults: Mapping[str, str]) -> Log:
        """The log this origin serves under the release faults on now."""
        if not self.release_faults:
            return self.log
        rewrite = faults.get("history-rewrite")
        truncated = faults.get("truncated")
        behind = faults.get("origin-behind")
        ahead = faults.get("origin-ahead")
        if rewrite is None and truncated is None and behind is None and ahead is None:
            return self.log
        key = (rewrite, truncated, behind, ahead)
        log = self._variants.get(key)
        if log is None:
            log = self.log
            if behind is not None:
                log = log.prefix(max(1, log.size - (int(behind) if behind else DEFAULT_BEHIND)))
            if ahead is not None:
                n = log.size
                log = log.extended(demo_entries(n, n + (int(ahead) if ahead else DEFAULT_AHEAD)))
            if rewrite is not None:
                # Entry 1 (0 in a one-entry log): early, so every later tree differs.
                log = log.forked(1 if log.size > 1 else 0)
            if truncated is not None:
                log = log.truncated(int(truncated) if truncated else DEFAULT_TRUNCATED_EXTRA)
            self._variants[key] = log.warm()
        return log

    async def _faulty(
        self, scope: Scope, receive: Receive, send: Send, faults: Mapping[str, str]
    ) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        latency = faults.get("latency")
        if latency:
            await _sleep(int(latency) / 1000)
        proof = path.startswith(PATH_PROOF_PREFIX)
        slow = faults.get("proof-slow")
        if slow is not None and proof:
            await _sleep((int(slow) if slow else DEFAULT_PROOF_DELAY_MS) / 1000)
        rate = faults.get("error-rate")
        blip = faults.get("blip")
        by_rate = rate is not None and self._errors.hit(rate)
        failing = by_rate or (proof and "proof-5xx" in faults)
        if failing or (blip is not None and self._blipping(blip)):
            body = (
                b'{"error":"internal error (fault error-rate)"}'
                if by_rate
                else b'{"error":"internal error (fault proof-5xx)"}'
                if failing
                else b'{"error":"unavailable (fault blip)"}'
            )
            headers: Headers = [
                ("content-type", "application/json"),
                ("content-length", str(len(body))),
                ("cache-control", NO_STORE),
                ("x-tlog-release", self.log.release),
            ]
            await self._send(
                send, receive, 500 if failing else 503, headers,
                [body] if method != "HEAD" else [], faults,
            )  # fmt: skip
            return
        log = self.served_log(faults)
        query = scope["query_string"].decode("latin-1")
        oversize = faults.get("oversize-body")
        if oversize is not None and path.startswith(PATH_ENTRY_PREFIX):
            status, headers, body = log.respond("GET", path, query, _NO_HEADERS, faults)
            if status == 200:
                mib = int(oversize) if oversize else DEFAULT_OVERSIZE_MIB
                headers, chunks = self._oversize(headers, body, mib)
                await self._send(
                    send, receive, 200, headers, chunks if method != "HEAD" else [], faults
                )
                return
        asked = faults
        if "origin-proofs-wrong" in faults and not _from_edge(scope):
            # The pods went bad after the edge cached their proofs: only what reaches the
            # pods now (a bypass, the origin URL) gets the spoiled ones.
            asked = {**faults, "bad-proof": ""}
        status, headers, body = log.respond(method, path, query, _request_headers(scope), asked)
        await self._send(send, receive, status, headers, [body], faults)

    def _oversize(
        self, headers: Headers, entry: bytes, mib: int
    ) -> tuple[Headers, Iterable[bytes]]:
        # Whitespace first, then the entry: still one JSON value, and the padding's
        # hash state is computed once per size, so the ETag stays right for free.
        state = self._pad_hash.get(mib)
        if state is None:
            state = hashlib.sha256()
            for _ in range(mib):
                state.update(_PAD)
            self._pad_hash[mib] = state
        digest = state.copy()
        digest.update(entry)
        size = mib * _MIB + len(entry)
        out = [(k, v) for k, v in headers if k not in ("content-length", "etag")]
        out += [("content-length", str(size)), ("etag", f'"{digest.hexdigest()}"')]

        def chunks() -> Iterator[bytes]:
            for _ in range(mib):
                yield _PAD
            yield entry

        return out, chunks()

    async def _send(
        self,
        send: Send,
        receive: Receive,
        status: int,
        headers: Headers,
        chunks: Iterable[bytes],
        faults: Mapping[str, str],
    ) -> None:
        await send({"type": "http.response.start", "status": status, "headers": _encode(headers)})
        if "slow-body" in faults:
            await _trickle(send, receive, chunks)
            return
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _trickle(send: Send, receive: Receive, chunks: Iterable[bytes]) -> None:
    """One byte per SLOW_BODY_INTERVAL; after SLOW_BODY_LIMIT the rest at once, so a
    client that waits long enough still gets a whole response and a server never holds
    a connection forever. Stops early when the client goes away."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.get_running_loop().create_task(watch())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SLOW_BODY_LIMIT
    try:
        for chunk in chunks:
            pos = 0
            while pos < len(chunk) and loop.time() < deadline:
                if gone.is_set():
                    return
                await send(
                    {"type": "http.response.body", "body": chunk[pos : pos + 1], "more_body": True}
                )
                pos += 1
                await _sleep(SLOW_BODY_INTERVAL)
            if pos < len(chunk):
                await send({"type": "http.response.body", "body": chunk[pos:], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.cancel()
