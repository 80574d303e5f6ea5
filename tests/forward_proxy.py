"""A forward proxy on loopback for the proxy tests: CONNECT for https, absolute-form for http.

It resolves made-up host names itself (`hosts`, e.g. `tlog.internal.test` -> 127.0.0.1),
so a target under such a name is reachable only through it, as behind a corporate proxy.
With `credentials` it answers 407 unless `Proxy-Authorization: Basic ...` matches. Every
request line it handles is recorded in `requests` (method, target, headers).
"""

from __future__ import annotations

import base64
import select
import socket
import threading
from dataclasses import dataclass, field
from socketserver import StreamRequestHandler, ThreadingTCPServer
from urllib.parse import urlsplit

__all__ = ["ForwardProxy"]


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: ForwardProxy


def _pipe(a: socket.socket, b: socket.socket, limit: float = 30.0) -> None:
    socks = [a, b]
    while True:
        ready, _, _ = select.select(socks, [], [], limit)
        if not ready:
            return
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            (b if s is a else a).sendall(data)


class _Handler(StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        line = self.rfile.readline(8192).decode("latin-1").strip()
        if not line:
            return
        method, target, _version = line.split(" ", 2)
        headers: dict[str, str] = {}
        raw: list[str] = []
        while True:
            h = self.rfile.readline(8192).decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
            raw.append(h.rstrip("\r\n"))
        with proxy.lock:
            proxy.requests.append(Seen(method, target, headers))
        if proxy.credentials is not None:
            expected = "Basic " + base64.b64encode(proxy.credentials.encode()).decode()
            if headers.get("proxy-authorization") != expected:
                self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
                self.wfile.write(b"Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
                return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = self._connect(host, int(port))
            if upstream is None:
                return
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            with upstream:
                _pipe(self.connection, upstream)
            return
        parts = urlsplit(target)
        upstream = self._connect(parts.hostname or "", parts.port or 80)
        if upstream is None:
            return
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        kept = [
            h
            for h in raw
            if h.partition(":")[0].strip().lower()
            not in ("proxy-authorization", "proxy-connection", "connection")
        ]
        # One request per connection keeps the relay simple; the client reconnects.
        head = [f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""]
        with upstream:
            upstream.sendall("\r\n".join(head).encode("latin-1"))
            _pipe(self.connection, upstream)

    def _connect(self, host: str, port: int) -> socket.socket | None:
        address = self.server.proxy.hosts.get(host)
        if address is None:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return None
        return socket.create_connection((address, port), timeout=10)


class ForwardProxy:
    def __init__(self, hosts: dict[str, str], credentials: str | None = None) -> None:
        self.hosts = hosts
        self.credentials = credentials  # "user:password"
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> ForwardProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
