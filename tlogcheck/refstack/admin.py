"""The admin endpoint of the reference stack: switch faults and the canary at runtime.

Bound to loopback only (its own port). JSON in, JSON out:

    GET  /faults               {"faults": ["latency:400", ...], "known": [...]}
    PUT  /faults               {"faults": [...]} -> the new set; 400 on an unknown fault
    GET  /canary               {"weight": W}
    PUT  /canary               {"weight": W}  (0..100) -> the edge's canary weight
    POST /purge                {"prefix": "/v1/log/root"} (optional) -> {"purged": n}
    GET  /info                 the stack's StackInfo

PUT /canary and POST /purge are the Argo canary step and the playbook's
`invalidate.sh`; they need an edge that has `set_canary_weight` / `purge`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection
from typing import Any, Protocol, TypeVar

from tlogcheck.errors import ConfigError
from tlogcheck.refstack.faults import FAULTS, FaultSet, parse_spec
from tlogcheck.refstack.server import Receive, Scope, Send, handle_lifespan

__all__ = ["Admin", "EdgeControl"]

_MAX_BODY = 64 * 1024
_A = TypeVar("_A")
_R = TypeVar("_R")


class EdgeControl(Protocol):
    """What the admin endpoint drives on an edge (builtin or nginx)."""

    def set_canary_weight(self, weight: int) -> None: ...
    def purge(self, prefix: str = "") -> int: ...


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Admin:
    """ASGI app over the stack's FaultSet (and edge, when it can be driven)."""

    def __init__(
        self,
        faults: FaultSet,
        *,
        edge: EdgeControl | None = None,
        canary: bool = False,
        weight: int | None = None,
        info: Callable[[], dict[str, Any]] | None = None,
        unsupported: Collection[str] = (),
        edge_blocks: bool = False,
    ) -> None:
        self.faults = faults
        self.edge = edge
        self.canary = canary
        self.weight = weight
        self.info = info
        # Faults this stack cannot show (edge-side ones with the nginx edge).
        self.unsupported = frozenset(unsupported)
        # The nginx edge reloads (and waits for it) in set_canary_weight / purge: run those
        # off the loop. The builtin edge's must run on it.
        self.edge_blocks = edge_blocks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await handle_lifespan(receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        try:
            status, answer = await self._route(method, path, receive)
        except _Reject as exc:
            status, answer = exc.status, {"error": str(exc)}
        body = json.dumps(answer, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _route(self, method: str, path: str, receive: Receive) -> tuple[int, Any]:
        if path == "/faults":
            if method == "GET":
                return 200, self._faults_answer()
            if method == "PUT":
                specs = (await _read_json(receive)).get("faults")
                if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
                    raise _Reject(400, 'expected {"faults": ["NAME[:ARG]", ...]}')
                try:
                    names = [parse_spec(s)[0] for s in specs]
                    bad = sorted(set(names) & self.unsupported)
                    if bad:
                        raise ConfigError(f"this stack cannot show {', '.join(bad)}")
                    self.faults.set(specs)
                except ConfigError as exc:
                    raise _Reject(400, str(exc)) from None
                return 200, self._faults_answer()
            raise _Reject(405, "GET or PUT")
        if path == "/canary":
            edge = self._edge("a canary")
            if method == "GET":
                return 200, {"weight": self.weight}
            if method == "PUT":
                weight = (await _read_json(receive)).get("weight")
                if (
                    not isinstance(weight, int)
                    or isinstance(weight, bool)
                    or not 0 <= weight <= 100
                ):
                    raise _Reject(400, 'expected {"weight": 0..100}')
                try:
                    await self._call(edge.set_canary_weight, weight)
                except (ConfigError, ValueError) as exc:
                    raise _Reject(400, str(exc)) from None
                self.weight = weight
                return 200, {"weight": weight}
            raise _Reject(405, "GET or PUT")
        if path == "/purge":
            if method != "POST":
                raise _Reject(405, "POST")
            edge = self._edge(None)
            prefix = (await _read_json(receive, empty_ok=True)).get("prefix", "")
            if not isinstance(prefix, str):
                raise _Reject(400, 'expected {"prefix": "/path"}')
            return 200, {"purged": await self._call(edge.purge, prefix)}
        if path == "/info":
            if method != "GET":
                raise _Reject(405, "GET")
            if self.info is None:
                raise _Reject(404, "no stack info")
            return 200, self.info()
        raise _Reject(404, "unknown path: /faults, /canary, /purge, /info")

    def _edge(self, needs: str | None) -> EdgeControl:
        if self.edge is None:
            raise _Reject(404, "this stack's edge cannot be driven")
        if needs is not None and not self.canary:
            raise _Reject(404, f"this stack runs no canary: start it with {needs}")
        return self.edge

    async def _call(self, fn: Callable[[_A], _R], arg: _A) -> _R:
        if self.edge_blocks:
            return await asyncio.to_thread(fn, arg)
        return fn(arg)

    def _faults_answer(self) -> dict[str, Any]:
        return {"faults": self.faults.specs(), "known": sorted(FAULTS)}


async def _read_json(receive: Receive, *, empty_ok: bool = False) -> dict[str, Any]:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if len(body) > _MAX_BODY:
            raise _Reject(413, f"body over {_MAX_BODY} bytes")
        if not message.get("more_body", False):
            break
    if not body and empty_ok:
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        raise _Reject(400, "body is not JSON") from None
    if not isinstance(value, dict):
        raise _Reject(400, "body must be a JSON object")
    return value
