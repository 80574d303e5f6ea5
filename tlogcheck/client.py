"""httpx client for the TLog read-only API v1: an edge view and an origin view, bounded.

Views. The edge view is the URL as given. The origin view is the same URL with
`X-Bypass: 1` (the playbook's way past the CDN), or `origin_url` when one is given.

Bounds, so a broken or hostile target cannot hang or exhaust a run:

- `timeout`: each connect, read, write and wait for a pooled connection.
- `deadline` (default 3 x `timeout`): the total wall time of one `get`, every attempt,
  retry wait and body byte included. It is enforced in the socket layer: every connect,
  read and write is given min(its timeout, time left), so a server trickling one byte a
  second cannot hold a call past its deadline by more than scheduling jitter.
- `max_body` (default 16 MiB): a declared `Content-Length` above it is refused before
  reading; a body is read chunk by chunk and dropped once it passes the cap, so at most
  `max_body` + one socket read (64 KiB) is held. A gzip/deflate body (served although
  `Accept-Encoding: identity` was asked) is decoded under the same cap.
- `retries` (default 2): transport errors and 502/503/504 only, waiting `Retry-After`
  (seconds or HTTP date, capped at `retry_after_cap`, 5 s) or a backoff of
  0.2 s, 0.4 s, ...; a wait that would pass the deadline is not started.
- Redirects: a 3xx to the same scheme, host and port is followed (at most 3 times);
  any other 3xx is returned as it is, so a check sees it and no request leaves the target.

What each outcome means (the design's fail vs inconclusive):

- `TargetUnreachable`: no HTTP answer after the retries (DNS, refused, reset, timed out
  before or while answering, the deadline passed before an answer). We could not ask.
- `FormatError`: the target answered but the answer cannot be used: the body is over the
  cap, the body was still arriving when the deadline passed (answering, too slowly), or it
  came in a content coding we did not ask for and cannot decode. The target proved wrong.
- Any other status (404, 500, 304, a 503 still there after the retries, a cross-host
  3xx) is returned as a `Response`: the check decides.

Proxies from the environment are not used: every request goes through the one
deadline-enforcing transport.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpcore
import httpx

from tlogcheck import __version__, spec
from tlogcheck.errors import ConfigError, FormatError, TargetUnreachable
from tlogcheck.spec import (
    ConsistencyProof,
    Health,
    InclusionProof,
    Root,
    parse_consistency,
    parse_health,
    parse_inclusion,
    parse_root,
)

__all__ = [
    "CACHE_STATUS_HEADERS",
    "DEFAULT_MAX_BODY",
    "HIT_STATUSES",
    "USER_AGENT",
    "Response",
    "TLogClient",
    "cache_status_of",
    "is_hit",
    "normalize_cache_status",
]

USER_AGENT = f"tlogcheck/{__version__}"
DEFAULT_MAX_BODY = 16 * 2**20
RETRY_STATUSES = frozenset({502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3
VIEWS = ("edge", "origin")
_DIGITS = re.compile(r"[0-9]+")

T = TypeVar("T")
R = TypeVar("R")

# ---------------------------------------------------------------------------------------
# Cache status

# Where edges report their cache status, read in this order.
CACHE_STATUS_HEADERS = ("X-Cache", "CF-Cache-Status", "X-Cache-Status")
# Statuses whose body came out of the edge's cache (a revalidated or stale copy included).
HIT_STATUSES = frozenset({"HIT", "REFRESHHIT", "STALE", "UPDATING", "REVALIDATED"})


def normalize_cache_status(value: str) -> str | None:
    """One cache-status header value -> an upper-case word: HIT, MISS, REFRESHHIT, ...

    CloudFront's "Hit from cloudfront" gives HIT (the first word). With shielding, Fastly
    and Varnish append one value per cache ("MISS, HIT": shield, then the delivering
    edge); the last one is the cache closest to the client, the one this check is about.
    """
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        return None
    return parts[-1].split()[0].upper()


def cache_status_of(headers: httpx.Headers) -> str | None:
    """The normalized cache status from X-Cache, CF-Cache-Status or X-Cache-Status."""
    for name in CACHE_STATUS_HEADERS:
        # httpx joins repeated header lines with ", ", which the last-value rule expects.
        value = headers.get(name)
        if value is not None:
            status = normalize_cache_status(value)
            if status is not None:
                return status
    return None


def is_hit(status: str | None) -> bool:
    """Whether a normalized cache status means the edge served its cached copy."""
    return status in HIT_STATUSES


# ---------------------------------------------------------------------------------------
# Response


@dataclass(frozen=True)
class Response:
    """One answer of the target: the status, headers and the whole (capped) body."""

    url: str
    path: str
    view: str
    status: int
    headers: httpx.Headers
    body: bytes
    # Wall time of the whole `get`, retry waits included: what the check waited.
    elapsed: float
    attempts: int = 1

    def header(self, name: str) -> str | None:
        """A response header (repeated lines joined with ", "), or None."""
        value: str | None = self.headers.get(name)
        return value

    @property
    def cache_status(self) -> str | None:
        return cache_status_of(self.headers)

    @property
    def release(self) -> str | None:
        return self.header("x-tlog-release")

    @property
    def etag(self) -> str | None:
        return self.header("etag")

    @property
    def cache_control(self) -> str | None:
        return self.header("cache-control")

    @property
    def age(self) -> int | None:
        value = (self.header("age") or "").strip()
        return int(value) if _DIGITS.fullmatch(value) else None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def describe(self) -> str:
        """One line of evidence: view, path, status, the headers checks read, body hash."""
        parts = [f"{self.view} GET {self.path} -> HTTP {self.status}"]
        names = ("etag", "cache-control", "x-tlog-release", "content-encoding", "age")
        for name in (*names, *(h.lower() for h in CACHE_STATUS_HEADERS), "location"):
            value = self.header(name)
            if value is not None:
                parts.append(f"{name}: {value}")
        parts.append(f"body {len(self.body)} bytes sha256 {self.sha256}")
        if self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        return ", ".join(parts)


# ---------------------------------------------------------------------------------------
# The deadline-enforcing transport

_local = threading.local()


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


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with every blocking call bounded by the thread's deadline.

    The sync client runs each request in its caller's thread, so the deadline `get` sets
    in a thread-local is the one in force for every socket call that request makes.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

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


class _Transport(httpx.BaseTransport):
    """A connection pool (keep-alive) on the deadline-enforcing socket backend."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )

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
        with _as_httpx_errors():
            response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


# ---------------------------------------------------------------------------------------
# The client


def _base_url(url: str, what: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigError(f"{what} {url!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{what} {url!r} must be an http:// or https:// URL with a host")
    if parsed.query or parsed.fragment:
        raise ConfigError(f"{what} {url!r} must not carry a query or fragment")
    return str(parsed).rstrip("/")


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _retry_after(value: str | None, cap: float) -> float | None:
    """Seconds a `Retry-After` asks for (delta-seconds or HTTP date), at most `cap`."""
    if value is None:
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text):
        seconds = float(int(text))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), cap)


def _cause(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n % 2**16 == 0 else f"{n} bytes"


class _Decoder:
    """Bounded gzip/deflate decoding: never yields more than it is allowed to."""

    def __init__(self, coding: str) -> None:
        wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}.get(
            coding, zlib.MAX_WBITS
        )
        self.coding = coding
        self._z = zlib.decompressobj(wbits)

    def decode(self, data: bytes, limit: int) -> bytes:
        try:
            # max_length keeps a compression bomb from expanding past `limit` in one go.
            return self._z.decompress(data, limit)
        except zlib.error as exc:
            raise FormatError(f"body is not valid {self.coding}: {exc}") from None

    def finish(self) -> None:
        if not self._z.eof:
            raise FormatError(f"{self.coding} body is truncated")


class TLogClient:
    """The target's edge and origin views, with timeouts, a deadline, a size cap, retries.

    Thread-safe: one instance serves every thread of a run (`map` uses a thread pool).
    """

    def __init__(
        self,
        url: str,
        *,
        origin_url: str | None = None,
        timeout: float = 10.0,
        deadline: float | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        retries: int = 2,
        concurrency: int = 16,
        backoff: float = 0.2,
        retry_after_cap: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        recorder: Callable[[Response], None] | None = None,
    ) -> None:
        self._edge = _base_url(url, "URL")
        self._origin = _base_url(origin_url, "origin URL") if origin_url else None
        if not timeout > 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        deadline = 3 * timeout if deadline is None else deadline
        if not deadline > 0:
            raise ConfigError(f"deadline must be positive, got {deadline}")
        if max_body < 1:
            raise ConfigError(f"max_body must be positive, got {max_body}")
        if retries < 0:
            raise ConfigError(f"retries must be >= 0, got {retries}")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        self.timeout = float(timeout)
        self.deadline = float(deadline)
        self.max_body = max_body
        self.retries = retries
        self.concurrency = concurrency
        self.backoff = backoff
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._http = httpx.Client(
            transport=_Transport(limits=limits),
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        )
        self._lock = threading.Lock()
        self._releases: Counter[str] = Counter()
        self._views: Counter[str] = Counter()
        # Opt-in: every final response is handed over as served (evidence bundles keep
        # what was served, not what a later re-fetch would see).
        self._recorder = recorder

    # -- views -------------------------------------------------------------------------

    @property
    def edge_url(self) -> str:
        return self._edge

    @property
    def origin_url(self) -> str:
        """Where the origin view goes: `origin_url`, or the edge URL (with X-Bypass: 1)."""
        return self._origin or self._edge

    @property
    def has_separate_origin(self) -> bool:
        return self._origin is not None

    # -- requests ----------------------------------------------------------------------

    def get(
        self, path: str, *, view: str = "edge", headers: Mapping[str, str] | None = None
    ) -> Response:
        """GET `path` (e.g. "/v1/log/root") through a view, within the deadline."""
        if view not in VIEWS:
            raise ConfigError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        if not path.startswith("/"):
            raise ConfigError(f"path must start with '/', got {path!r}")
        url = (self.origin_url if view == "origin" else self._edge) + path
        # Hashed bodies must be the bytes as sent with no content coding (spec, Headers),
        # whatever spelling of Accept-Encoding a caller passed.
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "accept-encoding"}
        sent["Accept-Encoding"] = "identity"
        if view == "origin" and self._origin is None:
            sent["X-Bypass"] = "1"
        start = time.monotonic()
        end = start + self.deadline
        attempt = 0
        while True:
            attempt += 1
            try:
                final_url, status, resp_headers, body = self._fetch(url, sent, end)
            except httpx.TransportError as exc:
                wait = self.backoff * 2 ** (attempt - 1)
                if attempt > self.retries or time.monotonic() + wait >= end:
                    spent = time.monotonic() - start
                    raise TargetUnreachable(
                        f"{view} GET {url}: no answer after {attempt} attempt(s) in "
                        f"{spent:.1f}s (deadline {self.deadline:g}s): {_cause(exc)}"
                    ) from None
                self._sleep(wait)
                continue
            if status in RETRY_STATUSES and attempt <= self.retries:
                wait = _retry_after(resp_headers.get("retry-after"), self.retry_after_cap)
                if wait is None:
                    wait = self.backoff * 2 ** (attempt - 1)
                if time.monotonic() + wait < end:
                    self._sleep(wait)
                    continue
            break
        response = Response(
            url=final_url,
            path=path,
            view=view,
            status=status,
            headers=resp_headers,
            body=body,
            elapsed=time.monotonic() - start,
            attempts=attempt,
        )
        with self._lock:
            self._views[view] += 1
            if response.release is not None:
                self._releases[response.release] += 1
        if self._recorder is not None:
            self._recorder(response)
        return response

    def _fetch(
        self, url: str, headers: dict[str, str], end: float
    ) -> tuple[str, int, httpx.Headers, bytes]:
        """One attempt: same-origin redirects followed, the body read under cap and deadline."""
        previous = getattr(_local, "deadline", None)
        _local.deadline = end
        try:
            for hop in range(MAX_REDIRECTS + 1):
                left = max(end - time.monotonic(), 0.001)
                timeout = httpx.Timeout(self.timeout, pool=min(self.timeout, left))
                try:
                    with self._http.stream("GET", url, headers=headers, timeout=timeout) as r:
                        location = r.headers.get("location")
                        if r.status_code in REDIRECT_STATUSES and location:
                            target = r.url.join(location)
                            if _same_origin(r.url, target) and hop < MAX_REDIRECTS:
                                url = str(target)
                                continue
                        return str(r.url), r.status_code, r.headers, self._read_body(r, end)
                except httpx.InvalidURL as exc:
                    raise ConfigError(f"GET {url}: {exc}") from None
            raise AssertionError("unreachable: the last redirect is returned")
        finally:
            _local.deadline = previous

    def _read_body(self, r: httpx.Response, end: float) -> bytes:
        cap = self.max_body
        where = f"GET {r.url}"
        length = r.headers.get("content-length")
        if length is not None and _DIGITS.fullmatch(length.strip()) and int(length) > cap:
            raise FormatError(
                f"{where}: response body over the {_mib(cap)} cap "
                f"(Content-Length {int(length)}); not read"
            )
        coding = r.headers.get("content-encoding", "identity").strip().lower()
        decoder: _Decoder | None = None
        if coding in ("gzip", "x-gzip", "deflate"):
            decoder = _Decoder(coding)
        elif coding not in ("", "identity"):
            raise FormatError(
                f"{where}: body in Content-Encoding {coding!r} although "
                "Accept-Encoding: identity was asked"
            )
        body = bytearray()
        received = 0

        def too_slow() -> FormatError:
            return FormatError(
                f"{where}: HTTP {r.status_code} body not complete within the "
                f"{self.deadline:g}s deadline ({received} bytes read)"
            )

        try:
            for chunk in r.iter_raw():
                received += len(chunk)
                if decoder is not None:
                    chunk = decoder.decode(chunk, cap + 1 - len(body))
                body += chunk
                if len(body) > cap:
                    raise FormatError(
                        f"{where}: response body over the {_mib(cap)} cap "
                        f"({received} bytes read, stopped)"
                    )
                if time.monotonic() >= end:
                    raise too_slow()
        except httpx.TimeoutException:
            # The socket layer gives each read at most the time left, so a timeout at or
            # after the deadline is the deadline; an earlier one is a stalled read, retried.
            if time.monotonic() < end:
                raise
            raise too_slow() from None
        if decoder is not None:
            decoder.finish()
        return bytes(body)

    # -- the spec's endpoints ----------------------------------------------------------

    def _ok(self, response: Response) -> Response:
        if response.status != 200:
            raise FormatError(
                f"{response.path}: HTTP {response.status}, expected 200 ({response.describe()})"
            )
        return response

    def health(self, view: str = "edge") -> tuple[Health, Response]:
        response = self._ok(self.get(spec.PATH_HEALTH, view=view))
        return parse_health(response.body), response

    def root(self, view: str = "edge") -> tuple[Root, Response]:
        response = self._ok(self.get(spec.PATH_ROOT, view=view))
        return parse_root(response.body), response

    def checkpoint(self, view: str = "edge") -> Response:
        return self.get(spec.PATH_CHECKPOINT, view=view)

    def entry(self, index: int, view: str = "edge") -> Response:
        return self.get(spec.entry_path(_index(index, 'index')), view=view)

    def inclusion_proof(
        self, index: int, tree_size: int, view: str = "edge"
    ) -> tuple[InclusionProof, Response]:
        path = spec.proof_path(_index(index, "index"), _index(tree_size, "size"))
        response = self._ok(self.get(path, view=view))
        return parse_inclusion(response.body), response

    def consistency_proof(
        self, first: int, second: int, view: str = "edge"
    ) -> tuple[ConsistencyProof, Response]:
        path = spec.consistency_path(_index(first, "first"), _index(second, "second"))
        response = self._ok(self.get(path, view=view))
        return parse_consistency(response.body), response

    # -- concurrency and bookkeeping ---------------------------------------------------

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """fn over items on at most `concurrency` threads; results in order, first error raised."""
        todo = list(items)
        if not todo:
            return []
        with ThreadPoolExecutor(
            max_workers=min(self.concurrency, len(todo)), thread_name_prefix="tlogcheck"
        ) as pool:
            futures = [pool.submit(fn, item) for item in todo]
            try:
                return [f.result() for f in futures]
            finally:
                for f in futures:
                    f.cancel()

    def releases_seen(self) -> dict[str, int]:
        """Responses per `X-TLog-Release` value so far (the release mix during a canary)."""
        with self._lock:
            return dict(self._releases)

    def responses_seen(self) -> dict[str, int]:
        """Responses per view ("edge", "origin") so far."""
        with self._lock:
            return dict(self._views)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TLogClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _index(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{what} must be a non-negative integer, got {value!r}")
    return value
