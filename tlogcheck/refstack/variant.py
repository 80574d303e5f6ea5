"""The `gzip-variant` fault: the edge's compressed copies are not the bytes it serves plain;
and `edge-brotli` (healthy): the edge serves br to clients that accept it, as CDNs do.

A CDN keeps one cached object per content coding (`Vary: Accept-Encoding`); a purge that
missed the gzip copy, or a bad transform, leaves clients that ask for gzip (every browser
and most HTTP libraries) reading other bytes than clients that ask for identity. While
the fault is on, `GzipVariant` answers an edge request that accepts gzip (not a bypass)
with the identity answer altered (one hex digit of the body changed, as `corrupt-entry`
does, so it stays well-formed) and then gzipped; ETag and every other header unchanged.
"""

from __future__ import annotations

import gzip

from tlogcheck.refstack.faults import FaultSet
from tlogcheck.refstack.server import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GzipVariant", "alter"]

_HEX_SWAP = bytes.maketrans(b"0123456789abcdef", b"123456789abcdef0")


def alter(body: bytes) -> bytes:
    """The body with its last hex digit changed (same length, same shape)."""
    for i in range(len(body) - 1, -1, -1):
        if body[i : i + 1] in b"0123456789abcdef" and body[i] != 0x20:
            return body[:i] + body[i : i + 1].translate(_HEX_SWAP) + body[i + 1 :]
    return body + b" "


def _wants(scope: Scope, coding: bytes) -> bool:
    bypass = wanted = False
    for name, value in scope["headers"]:
        if name == b"x-bypass":
            bypass = value.strip() not in (b"", b"0")
        elif name == b"accept-encoding":
            wanted = coding in [c.split(b";")[0].strip() for c in value.lower().split(b",")]
    return wanted and not bypass


def _brotli(body: bytes) -> bytes | None:
    try:
        import brotli
    except ImportError:  # the fault then changes nothing: identity, as before
        return None
    out: bytes = brotli.compress(body)
    return out


class GzipVariant:
    """ASGI middleware on the edge: the `gzip-variant` fault (see the module docstring)."""

    def __init__(self, app: ASGIApp, faults: FaultSet) -> None:
        self.app = app
        self._faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        spoil = self._faults.active("gzip-variant") is not None and _wants(scope, b"gzip")
        br = self._faults.active("edge-brotli") is not None and _wants(scope, b"br")
        if not (spoil or br):
            await self.app(scope, receive, send)
            return
        # The identity answer, whole (API bodies are small), then the altered gzip copy.
        headers = [(n, v) for n, v in scope["headers"] if n != b"accept-encoding"]
        plain = {**scope, "headers": [*headers, (b"accept-encoding", b"identity")]}
        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(plain, receive, keep)
        status = int(start.get("status", 500))
        body = b"".join(chunks)
        out = [
            (n, v)
            for n, v in start.get("headers", [])
            if n.lower() not in (b"content-length", b"content-encoding")
        ]
        if status == 200 and br and (coded := _brotli(body)) is not None:
            body = coded
            out.append((b"content-encoding", b"br"))
        elif status == 200 and spoil:
            body = gzip.compress(alter(body), mtime=0)
            out.append((b"content-encoding", b"gzip"))
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})
