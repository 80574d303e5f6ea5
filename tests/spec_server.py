"""A small HTTP server speaking API v1 from an in-memory log, with knobs for hostility.

A test fixture only (the reference deployment is `tlogcheck.refstack`): one
`http.server.ThreadingHTTPServer` on 127.0.0.1, a free port, a thread per connection,
HTTP/1.1 keep-alive. `SpecServer` is a context manager; `spec_server` is a pytest
fixture with a healthy 64-entry log. Set `server.knobs.<name>` to misbehave:

    trickle      seconds between body bytes (headers come at once)
    delay        seconds before the status line
    huge         "endless" (chunked, never ends) or "length" (Content-Length 1 GiB)
    gzip         Content-Encoding: gzip whatever was asked; `bomb` = N zero bytes instead
    failures     (status, headers) answered first, one per request (e.g. 503 + Retry-After)
    resets       that many requests get their connection reset (RST), nothing sent
    status       every answer has this status and an error body
    redirects    path -> Location answered with 302
    bodies       path -> bytes served with 200 instead of the real body
    headers      added to every answer (cache-status headers, ...)
    corrupt_entries, proof_extra_hash, proof_flip_bit, root_hash, checkpoint_size:
                 lies about the log

Every request is recorded in `server.seen` (path and lower-cased headers);
`server.max_in_flight` is the most requests handled at once, `server.connections`
the TCP connections accepted.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tlogcheck.merkle import StoredTree

TIMESTAMP = "2025-01-01T00:00:00Z"
LOG_ORIGIN = "tlog.example.com/log"
SHORT = "public, max-age=60"
IMMUTABLE = "public, max-age=31536000, immutable"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CHUNK = 64 * 1024


def make_entries(n: int) -> list[bytes]:
    """n distinct JSON-line entries (without their newline)."""
    return [
        json.dumps(
            {"i": i, "artifact": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()},
            separators=(",", ":"),
        ).encode()
        for i in range(n)
    ]


@dataclass
class Knobs:
    trickle: float = 0.0
    delay: float = 0.0
    huge: str | None = None
    gzip: bool = False
    bomb: int = 0
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    resets: int = 0
    status: int | None = None
    redirects: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    corrupt_entries: set[int] = field(default_factory=set)
    proof_extra_hash: bool = False
    proof_flip_bit: bool = False
    root_hash: bytes | None = None
    checkpoint_size: int | None = None


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]


class _Stop(Exception):
    """The client went away or the server is closing: stop writing."""


class SpecServer:
    def __init__(
        self,
        entries: Sequence[bytes],
        *,
        release: str = "v1.0.0",
        signer_key: str | None = None,
    ) -> None:
        self.entries = list(entries)
        self.tree = StoredTree.from_entries(self.entries)
        self.release = release
        self.signer_key = signer_key
        self.knobs = Knobs()
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.spec = self
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def size(self) -> int:
        return self.tree.size

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        return self._httpd.connections

    def paths(self) -> list[str]:
        with self.lock:
            return [s.path for s in self.seen]

    def close(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()  # joins the handler threads
        self._thread.join(timeout=10)

    def __enter__(self) -> SpecServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the API -----------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, bytes, str, str]:
        """(status, body, content type, cache-control) for a healthy GET, lies applied."""
        k = self.knobs
        n = self.size
        if path == "/healthz":
            return self._json(
                200, {"status": "ok", "tree_size": n, "release": self.release}, "no-store"
            )
        if path == "/v1/log/root":
            root = k.root_hash if k.root_hash is not None else self.tree.root()
            body = {
                "tree_size": n,
                "root_hash": root.hex(),
                "timestamp": TIMESTAMP,
                "release": self.release,
            }
            return self._json(200, body, SHORT)
        if path == "/v1/log/checkpoint":
            if self.signer_key is None:
                return self._error(404, "no signer configured")
            from tlogcheck.note import format_checkpoint, sign_note

            size = n if k.checkpoint_size is None else k.checkpoint_size
            text = format_checkpoint(LOG_ORIGIN, size, self.tree.root(size))
            return 200, sign_note(text, self.signer_key), "text/plain; charset=utf-8", SHORT
        m = re.fullmatch(r"/v1/log/entry/([^/]+)", path)
        if m:
            i = self._decimal(m.group(1))
            if i is None:
                return self._error(400, f"malformed index {m.group(1)!r}")
            if i >= n:
                return self._error(404, f"index {i} >= tree size {n}")
            entry = self.entries[i]
            if i in k.corrupt_entries:
                entry = entry.replace(b'"i":', b'"i": ', 1)
            return 200, entry, "application/json", IMMUTABLE
        m = re.fullmatch(r"/v1/log/proof/([^/]+)", path)
        if m:
            i = self._decimal(m.group(1))
            size = self._decimal(query["tree_size"]) if "tree_size" in query else n
            if i is None or size is None:
                return self._error(400, "malformed index or tree_size")
            if not (0 <= i < size <= n):
                return self._error(404, f"need 0 <= {i} < {size} <= {n}")
            proof = self.tree.inclusion_proof(i, size)
            if k.proof_flip_bit and proof:
                proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
            if k.proof_extra_hash:
                proof.append(hashlib.sha256(b"extra").digest())
            body = {
                "leaf_index": i,
                "tree_size": size,
                "leaf_hash": self.tree.leaf_hash(i).hex(),
                "audit_path": [p.hex() for p in proof],
            }
            return self._json(200, body, IMMUTABLE if "tree_size" in query else SHORT)
        if path == "/v1/log/consistency":
            first = self._decimal(query.get("first", ""))
            second = self._decimal(query.get("second", ""))
            if first is None or second is None:
                return self._error(400, "malformed first or second")
            if not (1 <= first <= second <= n):
                return self._error(404, f"need 1 <= {first} <= {second} <= {n}")
            path_ = self.tree.consistency_proof(first, second)
            body = {"first": first, "second": second, "consistency_path": [p.hex() for p in path_]}
            return self._json(200, body, IMMUTABLE)
        return self._error(404, f"no such path {path}")

    @staticmethod
    def _decimal(text: str) -> int | None:
        return int(text) if _DECIMAL.fullmatch(text) else None

    @staticmethod
    def _json(status: int, obj: Any, cache_control: str) -> tuple[int, bytes, str, str]:
        return status, json.dumps(obj).encode(), "application/json", cache_control

    @classmethod
    def _error(cls, status: int, text: str) -> tuple[int, bytes, str, str]:
        return cls._json(status, {"error": text}, "no-store")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins them: no thread outlives the fixture
    block_on_close = True
    spec: SpecServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.connections = 0
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
            self.connections += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections."""
        with self._open_lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        spec = self.server.spec
        with spec.lock:
            names = {k.lower() for k in self.headers}
            # Repeated header lines joined, so a test sees a header sent twice.
            headers = {n: ", ".join(self.headers.get_all(n) or []) for n in names}
            spec.seen.append(Seen(self.path, headers))
            spec.in_flight += 1
            spec.max_in_flight = max(spec.max_in_flight, spec.in_flight)
        try:
            self._serve(spec)
        except _Stop:
            self.close_connection = True
        except Exception as exc:  # a bug in the fixture: say so in the answer, not on stderr
            self._send(
                500, json.dumps({"error": repr(exc)}).encode(), "application/json", "no-store", {}
            )
        finally:
            with spec.lock:
                spec.in_flight -= 1

    def _serve(self, spec: SpecServer) -> None:
        k = spec.knobs
        with spec.lock:
            reset = k.resets > 0
            k.resets -= reset
            failure = k.failures.pop(0) if k.failures else None
        if reset:
            # SO_LINGER 0: close() sends RST, not FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            raise _Stop
        if k.delay and spec.stopping.wait(k.delay):
            raise _Stop
        url = urlsplit(self.path)
        if failure is not None:
            status, headers = failure
            self._send(status, b'{"error":"try later"}', "application/json", "no-store", headers)
            return
        if url.path in k.redirects:
            self._send(302, b"", "text/plain", "no-store", {"Location": k.redirects[url.path]})
            return
        if k.status is not None:
            self._send(k.status, b'{"error":"forced"}', "application/json", "no-store", {})
            return
        if k.huge is not None:
            self._send_huge(spec, k.huge)
            return
        status, body, ctype, cache_control = spec.answer(url.path, dict(parse_qsl(url.query)))
        if url.path in k.bodies:
            status, body = 200, k.bodies[url.path]
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        headers = {"ETag": etag} if status == 200 else {}
        if status == 200 and self.headers.get("If-None-Match") == etag:
            self._send(304, b"", None, cache_control, headers)
            return
        if k.gzip:
            body = _gzip_zeros(k.bomb) if k.bomb else _gzip(body)
            headers["Content-Encoding"] = "gzip"
        self._send(status, body, ctype, cache_control, headers)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        spec = self.server.spec
        self.send_response(status)
        self.send_header("X-TLog-Release", spec.release)
        for name, value in {**headers, **spec.knobs.headers}.items():
            self.send_header(name, value)
        self.end_headers()

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str | None,
        cache_control: str,
        headers: dict[str, str],
    ) -> None:
        base = {"Cache-Control": cache_control, "Content-Length": str(len(body))}
        if ctype:
            base["Content-Type"] = ctype
        self._head(status, {**base, **headers})
        trickle = self.server.spec.knobs.trickle
        if not trickle:
            self._write(body)
            return
        for i in range(len(body)):
            self._write(body[i : i + 1])
            if self.server.spec.stopping.wait(trickle):
                raise _Stop

    def _send_huge(self, spec: SpecServer, mode: str) -> None:
        zeros = b"0" * _CHUNK
        if mode == "length":
            self._head(200, {"Content-Length": str(2**30), "Content-Type": "application/json"})
            for _ in range(2**30 // _CHUNK):
                self._write(zeros)
                if spec.stopping.is_set():
                    raise _Stop
            return
        self._head(200, {"Transfer-Encoding": "chunked", "Content-Type": "application/json"})
        chunk = b"%x\r\n%s\r\n" % (len(zeros), zeros)
        while not spec.stopping.is_set():
            self._write(chunk)
        raise _Stop

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError:
            raise _Stop from None


def _gzip(data: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return z.compress(data) + z.flush()


def _gzip_zeros(n: int) -> bytes:
    """gzip of n zero bytes, made in 1 MiB steps so the server stays small too."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    step = b"\0" * 2**20
    out = [z.compress(step[: min(len(step), n - done)]) for done in range(0, n, len(step))]
    return b"".join(out) + z.flush()


@pytest.fixture
def spec_server() -> Iterator[SpecServer]:
    """A healthy 64-entry log on a free loopback port."""
    with SpecServer(make_entries(64)) as server:
        yield server
