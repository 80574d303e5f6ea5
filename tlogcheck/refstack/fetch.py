"""Asking the origin: one upstream request of the edge, bounded in bytes and time.

Upstream bodies up to `max_body` bytes are read whole within `deadline` seconds (slower:
a `504` failure). A bigger body is, for a request that can stream, handed on as it
arrives and never stored, as a CDN passes on what the origin sends (the suite's client
cap is what refuses it); the cache's own fetches get `TOO_BIG` instead. Memory and time
stay bounded.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable

import httpx

from tlogcheck.refstack.store import DROPPED_RESPONSE, Entry, RawHeaders, make_entry
from tlogcheck.refstack.upstream import Upstreams

__all__ = ["TOO_BIG", "Failure", "Fetched", "Fetcher", "Stream"]


class Failure:
    """The origin could not be asked: the status the edge answers and why."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


class Stream:
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
TOO_BIG = Failure(502, "origin body over the edge's cap")
Fetched = Entry | Failure | Stream


class Fetcher:
    """The edge's HTTP client to its upstreams, one of which each request goes to."""

    def __init__(
        self,
        upstreams: Upstreams,
        *,
        max_body: int,
        timeout: float,
        deadline: float,
        clock: Callable[[], float],
        ca_file: str | None = None,
    ) -> None:
        self._upstreams = upstreams
        # HTTPS origins of the reference deployment: certificates of its own CA.
        self._verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ca_file) if ca_file else True
        )
        self._max_body = max_body
        self._timeout = timeout
        self._deadline = deadline
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 3.0)),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
                headers={"user-agent": "tlogcheck-edge", "accept-encoding": "identity"},
                # Loopback and staging origins are reached directly, never through a proxy.
                trust_env=False,
                verify=self._verify,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def fetch(
        self, method: str, target: bytes, headers: RawHeaders, body: bytes, *, stream: bool
    ) -> Fetched:
        """One upstream request. A body over `max_body` is TOO_BIG, or with `stream` a
        Stream the caller must pass on (it holds the upstream response open)."""
        upstream = self._upstreams.pick()
        url = upstream.url + target.decode("latin-1")
        try:
            return await asyncio.wait_for(
                self._read(method, url, headers, body, stream), timeout=self._deadline
            )
        except asyncio.TimeoutError:
            return Failure(504, f"origin {upstream.url} did not answer within {self._deadline} s")
        except httpx.HTTPError as exc:
            return Failure(502, f"origin {upstream.url} failed: {type(exc).__name__}: {exc}")

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
                return Stream(response, rest, chunks)
        finally:
            if not handed_on:
                await response.aclose()
        return make_entry(
            response.status_code, response.headers.raw, b"".join(chunks), self._clock()
        )
