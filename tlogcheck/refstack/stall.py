"""The faults of a target that takes a request and does not finish answering it.

- `hang:PATH`: a GET of PATH is accepted (TCP up, request read) and never answered; the
  connection is held until the client goes away (at most `HANG_LIMIT` s, then dropped).
- `trickle:PATH`: the status line and headers of PATH's real answer go at once, then its
  body one byte every `TRICKLE_INTERVAL` s (at most `TRICKLE_LIMIT` s, then the rest).

`Stalling(app, faults)` wraps an ASGI app (the edge, an origin) with them. The builtin
edge and the origin both wrap: a view through the edge stalls at the edge, an origin
reached directly stalls itself; requests of the builtin edge to its origin (`skip_agent`)
pass, so the edge is the one that stalls, as a CDN would with a hung origin behind it.

`RequireHeader` is the access gateway of `tlogcheck serve --require-header "Name: value"`.
"""

from __future__ import annotations

import asyncio

from tlogcheck.refstack.faults import FaultSet
from tlogcheck.refstack.server import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HANG_LIMIT", "TRICKLE_INTERVAL", "TRICKLE_LIMIT", "RequireHeader", "Stalling"]

HANG_LIMIT = 300.0
TRICKLE_INTERVAL = 1.0
TRICKLE_LIMIT = 300.0
_APPLIED = b"x-refstack-stalled"


class Stalling:
    """ASGI middleware: `hang:PATH` and `trickle:PATH` of the live fault set."""

    def __init__(
        self, app: ASGIApp, faults: FaultSet, *, skip_agent: bytes | None = None
    ) -> None:
        self.app = app
        self._faults = faults
        self._skip_agent = skip_agent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        hang, trickle = self._faults.active("hang"), self._faults.active("trickle")
        if path not in (hang, trickle) or self._from_edge(scope):
            await self.app(scope, receive, send)
            return
        if path == hang:
            await _hang(receive)
            return
        # The wrapped edge may ask its origin with the client's headers (a bypass): the
        # marker says this request's stall is taken care of, so the origin answers.
        scope = {**scope, "headers": [*scope["headers"], (_APPLIED, b"1")]}
        await self.app(scope, receive, _Trickler(send, receive))

    def _from_edge(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == _APPLIED or (name == b"user-agent" and value == self._skip_agent):
                return True
        return False


class RequireHeader:
    """ASGI middleware: an access gateway that answers 401 to a request without its header.

    `skip_agent`: the builtin edge's own fetches (its cache fills carry no client header).
    """

    def __init__(
        self, app: ASGIApp, name: str, value: str, *, skip_agent: bytes | None = None
    ) -> None:
        self.app = app
        self._name = name.lower().encode("latin-1")
        self._value = value.encode("latin-1")
        self._skip_agent = skip_agent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == self._name:
                given = value
            elif name == b"user-agent" and self._skip_agent and value == self._skip_agent:
                await self.app(scope, receive, send)
                return
        if given is not None and given.strip() == self._value:
            await self.app(scope, receive, send)
            return
        body = b'{"error":"missing or wrong access header"}'
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"www-authenticate", b"Bearer"),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _hang(receive: Receive) -> None:
    # Returning without a response makes uvicorn drop the connection (after a 500 it
    # writes for an app that never started one): only after HANG_LIMIT.
    try:
        await asyncio.wait_for(_until_disconnect(receive), HANG_LIMIT)
    except asyncio.TimeoutError:
        pass


class _Trickler:
    """A `send` that passes the response start at once and its body a byte at a time."""

    def __init__(self, send: Send, receive: Receive) -> None:
        self._send = send
        self._receive = receive
        self._gone = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._deadline: float | None = None

    async def __call__(self, message: Message) -> None:
        loop = asyncio.get_running_loop()
        if message["type"] == "http.response.start":
            self._deadline = loop.time() + TRICKLE_LIMIT
            self._watch = loop.create_task(self._watch_disconnect())
            await self._send(message)
            return
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        pos = 0
        while pos < len(body) and not self._gone.is_set():
            if self._deadline is not None and loop.time() >= self._deadline:
                break
            chunk = body[pos : pos + 1]
            await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
            pos += 1
            try:
                await asyncio.wait_for(self._gone.wait(), TRICKLE_INTERVAL)
            except asyncio.TimeoutError:
                pass
        if self._gone.is_set():
            return
        await self._send({"type": "http.response.body", "body": body[pos:], "more_body": more})
        if not more and self._watch is not None:
            self._watch.cancel()

    async def _watch_disconnect(self) -> None:
        await _until_disconnect(self._receive)
        self._gone.set()
