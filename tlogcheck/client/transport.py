"""The client's transport: every socket call bounded by the request's deadline; routes.

`DeadlineBackend` is httpcore's socket backend with each connect, read, write and TLS
handshake given min(its timeout, the time left before the calling thread's deadline),
which `deadline(end)` sets for the duration of one request. A server trickling a byte a
second so cannot hold a request past its deadline.

`Transport` is an httpx transport over connection pools on that backend: one direct
pool, and one per proxy (`proxy_for`: a given proxy, else the environment's as curl reads
it, NO_PROXY included). https through a proxy goes by CONNECT, http in absolute form;
proxy credentials go in `Proxy-Authorization` and `redact_url` hides them in any output.
`peer_certificate` fetches a server's certificate without verifying it, for the words
of a rejected one (`tlogcheck.client.tls`).
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
import urllib.request
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

__all__ = ["DeadlineBackend", "Transport", "deadline", "proxy_for", "redact_url"]

_local = threading.local()


@contextmanager
def deadline(end: float) -> Iterator[None]:
    """Every socket call of this thread ends by `end` (a `time.monotonic()` instant)."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = end
    try:
        yield
    finally:
        _local.deadline = previous


def _time_left(exc_type: type[Exception], timeout: float | None) -> float | None:
    """min(timeout, time left before this thread's deadline); raises once it has passed."""
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc_type("deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _time_left(httpcore.ReadTimeout, timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _time_left(httpcore.WriteTimeout, timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(
            ssl_context, server_hostname, _time_left(httpcore.ConnectTimeout, timeout)
        )
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with every blocking call bounded by the thread's deadline.

    The sync client runs each request in its caller's thread, so the deadline `get` sets
    in a thread-local is the one in force for every socket call that request makes.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[httpcore.NetworkStream] = weakref.WeakSet()

    def abort(self) -> None:
        """Shut every socket this backend opened: a read blocked in another thread returns
        at once (closing alone would leave it waiting out its timeout). For an interrupt."""
        with self._lock:
            streams = list(self._open)
        for stream in streams:
            sock = stream.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _time_left(httpcore.ConnectTimeout, timeout), local_address, socket_options
        )
        with self._lock:
            self._open.add(stream)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _time_left(httpcore.ConnectTimeout, timeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpcore's exceptions as httpx's, most specific first.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _HTTPCORE_TO_HTTPX:
            if isinstance(exc, core):
                raise mapped(str(exc) or type(exc).__name__) from exc
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


def redact_url(url: str) -> str:
    """A URL with its credentials (user:password@) replaced, fit for any output."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<unparseable URL>"
    if not parsed.userinfo:
        return url
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://<redacted>@{parsed.host}{port}{parsed.raw_path.decode('ascii')}"


def _proxy_pool(
    proxy: str,
    ssl_context: ssl.SSLContext,
    limits: httpx.Limits,
    backend: DeadlineBackend | None = None,
) -> httpcore.HTTPProxy:
    parsed = httpx.URL(proxy)
    headers = []
    if parsed.userinfo:
        # The credentials go in Proxy-Authorization; the URL httpcore keeps has none.
        token = base64.b64encode(parsed.userinfo).decode("ascii")
        headers.append((b"Proxy-Authorization", f"Basic {token}".encode("ascii")))
        parsed = parsed.copy_with(username=None, password=None)
    return httpcore.HTTPProxy(
        proxy_url=httpcore.URL(
            scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=b"/"
        ),
        proxy_headers=headers,
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend or DeadlineBackend(),
    )


def _no_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether NO_PROXY names this host, as curl reads it."""
    host = host.lower().strip("[]")
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and port is not None and entry_port != str(port):
            continue
        name = name.strip("[]").lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def proxy_for(url: str, proxy: str | None, trust_env: bool) -> str | None:
    """The proxy a request to `url` goes through: `proxy`, else the environment's, or None.

    The environment as curl reads it: `http_proxy` / `https_proxy` / `all_proxy` (lower
    case first, then upper), skipped for hosts NO_PROXY names (`*`, a host, a domain
    suffix with or without its leading dot, `host:port`).
    """
    if proxy:
        return proxy
    if not trust_env:
        return None
    parsed = httpx.URL(url)
    env = urllib.request.getproxies_environment()
    chosen = env.get(parsed.scheme) or env.get("all")
    if not chosen:
        return None
    if _no_proxy(parsed.host, parsed.port, env.get("no", "")):
        return None
    return chosen if "://" in chosen else f"http://{chosen}"


class Transport(httpx.BaseTransport):
    """Connection pools (keep-alive), direct and per proxy, on the deadline-enforcing backend."""

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self._limits = limits
        self._ssl = ssl_context
        self._proxy = proxy
        self._trust_env = trust_env
        self._lock = threading.Lock()
        self._routes: dict[tuple[bytes, bytes, int | None], str | None] = {}
        self._pools: dict[str | None, httpcore.ConnectionPool | httpcore.HTTPProxy] = {}
        self._backend = DeadlineBackend()

    def route(self, url: httpx.URL) -> str | None:
        """The proxy (None: direct) requests to this scheme, host and port take."""
        key = (url.raw_scheme, url.raw_host, url.port)
        with self._lock:
            if key not in self._routes:
                self._routes[key] = proxy_for(str(url), self._proxy, self._trust_env)
            return self._routes[key]

    def _pool(self, proxy: str | None) -> httpcore.ConnectionPool | httpcore.HTTPProxy:
        with self._lock:
            pool = self._pools.get(proxy)
            if pool is None:
                if proxy is None:
                    pool = httpcore.ConnectionPool(
                        ssl_context=self._ssl,
                        max_connections=self._limits.max_connections,
                        max_keepalive_connections=self._limits.max_keepalive_connections,
                        keepalive_expiry=self._limits.keepalive_expiry,
                        network_backend=self._backend,
                    )
                else:
                    pool = _proxy_pool(proxy, self._ssl, self._limits, self._backend)
                self._pools[proxy] = pool
            return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        pool = self._pool(self.route(request.url))
        with _as_httpx_errors():
            response = pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    def peer_certificate(self, url: httpx.URL, timeout: float) -> bytes | None:
        """The DER certificate `url`'s server presents, fetched without verifying it."""
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        proxy = self.route(url)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
        pool: httpcore.ConnectionPool | httpcore.HTTPProxy
        if proxy is None:
            pool = httpcore.ConnectionPool(ssl_context=insecure, network_backend=DeadlineBackend())
        else:
            pool = _proxy_pool(proxy, insecure, limits)
        t = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        with deadline(time.monotonic() + timeout), pool:
            with pool.stream("HEAD", str(url), extensions={"timeout": t}) as r:
                stream = r.extensions.get("network_stream")
                ssl_object = stream.get_extra_info("ssl_object") if stream else None
                if ssl_object is None:
                    return None
                der: bytes | None = ssl_object.getpeercert(True)
                return der

    def abort(self) -> None:
        """End every request in flight now (their threads get a read error): an interrupt."""
        self._backend.abort()

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()
