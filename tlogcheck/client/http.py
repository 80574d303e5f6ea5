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
  `redirect_allowed` narrows that further: a same-origin 3xx is followed only when it
  says yes for the new URL (the exporter keeps a module's headers within its targets).

What each outcome means (the design's fail vs inconclusive):

- `TargetUnreachable`: we could not ask: DNS, refused, reset, a connect (or TLS
  handshake) that timed out, after the retries. `RunBudgetSpent` (a subclass) when the
  run's budget (`run_end`) passed first.
- `TargetStalled`: we asked (connected, request sent) and no complete answer came within
  the deadline: `started=False` when not even the status line came back, `started=True`
  when a response began and its body trickled. The target is failing its users.
- `TargetCertificateError`: the TLS certificate does not verify (`tlogcheck.client.tls` words
  why). Real clients are refused too; never retried.
- `FormatError`: the target answered but the answer cannot be used: the body is over the
  cap, or it came in a content coding we did not ask for and cannot decode.
- Any other status (404, 500, 304, a 503 still there after the retries, a cross-host
  3xx) is returned as a `Response`: the check decides.

Sharing (`memo`, one `tlogcheck.client.memo.ResponseMemo` per run, given to every client): a GET
asked with `shared=True` is fetched once per view and URL and its response, or its
failure, is handed to every later asker; any GET that stalled is not asked again in the
run (its `TargetStalled` is raised again at once). A hung root so costs one deadline per
view, not one per test.

Deployment: `headers` go on every request (an access gateway's token: the values never
appear in a message); `ca_bundle` / SSL_CERT_FILE / SSL_CERT_DIR / the system store
(`tlogcheck.client.tls`); `proxy`, else HTTP_PROXY / HTTPS_PROXY / ALL_PROXY and NO_PROXY as
curl reads them (`trust_env`). Every route, proxied or not, goes through the one
deadline-enforcing socket layer (`tlogcheck.client.transport`). Bodies are read with
`Accept-Encoding: identity`, or with the coding a caller asks for
(`accept_encoding="gzip"`) and decoded under the cap.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from tlogcheck import __version__, spec
from tlogcheck.client import tls
from tlogcheck.client.coding import DECODABLE as _DECODABLE
from tlogcheck.client.coding import decoder_for
from tlogcheck.client.memo import Key, ResponseMemo, again
from tlogcheck.client.profiles import ClientProfile
from tlogcheck.client.purpose import CLIENT_IDENTITY, Purpose, of_request
from tlogcheck.client.response import Response
from tlogcheck.client.transport import Transport, deadline, redact_url
from tlogcheck.errors import (
    ConfigError,
    FormatError,
    RunBudgetSpent,
    TargetCertificateError,
    TargetStalled,
    TargetUnreachable,
)
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
    "DEFAULT_MAX_BODY",
    "RETRY_STATUSES",
    "USER_AGENT",
    "VIEWS",
    "TLogClient",
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


def _purpose_of(
    stated: Purpose | None,
    headers: Mapping[str, str],
    accept_encoding: str,
    as_client: ClientProfile | None,
) -> Purpose | None:
    """What a request is recorded as asking (`purpose.of_request`). As another client it
    is never the log's word on the log, whatever was stated: its identity, or (tlogcheck's
    own identity asking for a coding) its content coding."""
    if as_client is None:
        return of_request(stated, headers, accept_encoding)
    own = {"user-agent": USER_AGENT, "accept": "*/*"}
    differs = {k: v for k, v in as_client.headers if own.get(k.lower()) != v}
    coding = next((v for k, v in differs.items() if k.lower() == "accept-encoding"), "identity")
    why = of_request(stated, {**differs, **headers}, coding)
    if why is not None and not why.claim:
        return why
    return Purpose(CLIENT_IDENTITY, why.what if why else "", why.check if why else None)


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n % 2**16 == 0 else f"{n} bytes"


class _Stalled(Exception):
    """Internal: the body was still arriving when the deadline passed."""


class _BodyTimeout(httpx.ReadTimeout):
    """Internal: a read of the body timed out before the deadline (retried, `started`)."""


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
        headers: Iterable[tuple[str, str]] = (),
        ca_bundle: str | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        memo: ResponseMemo | None = None,
        run_end: float | None = None,
        run_budget: float | None = None,
        recorder: Callable[[Response], None] | None = None,
        redirect_allowed: Callable[[str], bool] | None = None,
        ssl_context: ssl.SSLContext | None = None,
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
        if proxy is not None:
            _base_url(proxy, "proxy URL")
        self.timeout = float(timeout)
        self.deadline = float(deadline)
        self.max_body = max_body
        self.retries = retries
        self.concurrency = concurrency
        self.backoff = backoff
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        self.memo = memo
        # Sees every answer the target gave (an evidence bundle keeps them).
        self.recorder = recorder
        self.redirect_allowed = redirect_allowed
        # The run's budget: a monotonic instant after which no request is asked or waited
        # for (`RunBudgetSpent`), and its length in seconds for the message.
        self.run_end = run_end
        self.run_budget = run_budget
        self._extra = dict(headers)
        self.ca_bundle = ca_bundle
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        # A caller making many clients may share one context (each loads the trust store:
        # about 0.8 MiB and 17 ms); it must trust what `ca_bundle` says.
        context = ssl_context if ssl_context is not None else tls.ssl_context(ca_bundle)
        self._transport = Transport(
            limits=limits, ssl_context=context, proxy=proxy, trust_env=trust_env
        )
        self._http = httpx.Client(
            transport=self._transport,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **self._extra},
        )
        self._lock = threading.Lock()
        self._aborted = False
        self._releases: Counter[str] = Counter()
        self._views: Counter[str] = Counter()
        self._cache: Counter[str] = Counter()

    def proxy_of(self, view: str = "edge") -> str | None:
        """The proxy a view's requests go through (credentials redacted), or None: direct."""
        base = self.origin_url if view == "origin" else self._edge
        proxy = self._transport.route(httpx.URL(base))
        return redact_url(proxy) if proxy else None

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
        self,
        path: str,
        *,
        view: str = "edge",
        headers: Mapping[str, str] | None = None,
        shared: bool = False,
        accept_encoding: str = "identity",
        purpose: Purpose | None = None,
        as_client: ClientProfile | None = None,
    ) -> Response:
        """GET `path` (e.g. "/v1/log/root") through a view, within the deadline.

        `shared`: the run's one answer for this view, URL and headers (see `ResponseMemo`).
        `accept_encoding`: "identity" (what hashes are taken of), or "gzip" / "deflate" to
        read the compressed variant an edge keeps; decoded either way.
        `purpose`: why it is asked, recorded with the response; by default the one in
        force (`tlogcheck.client.purpose.asking`); a conditional request, one as another
        client or with a content coding is recorded as such whatever was stated.
        `as_client`: send that client's whole request instead (`client.profiles`): its
        headers and no other of tlogcheck's (`headers` still added, the deployment's
        `--tlog-header`s kept); the body decoded from whatever coding comes back.
        """
        if view not in VIEWS:
            raise ConfigError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        if not path.startswith("/"):
            raise ConfigError(f"path must start with '/', got {path!r}")
        codings = {c.strip().lower() for c in accept_encoding.split(",")}
        if not codings <= {"identity", *_DECODABLE}:
            raise ConfigError(f"accept_encoding: cannot decode {accept_encoding!r}")
        url = (self.origin_url if view == "origin" else self._edge) + path
        # Hashed bodies must be the bytes as sent with no content coding (spec, Headers),
        # whatever spelling of Accept-Encoding a caller passed.
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "accept-encoding"}
        if as_client is None:
            sent["Accept-Encoding"] = accept_encoding
        else:
            sent = {**dict(as_client.headers), **sent}
        if view == "origin" and self._origin is None:
            sent["X-Bypass"] = "1"
        why = _purpose_of(purpose, headers or {}, accept_encoding, as_client)
        key: Key = (url, tuple(sorted((k.lower(), v) for k, v in sent.items())))
        stall_key: Key = (url, (("x-bypass", sent.get("X-Bypass", "")),))
        if self.memo is not None:
            stalled = self.memo.stalled(stall_key)
            if stalled is not None:
                raise again(stalled)

        def fetch() -> Response:
            try:
                response = self._get(path, view, url, sent, why, exact=as_client is not None)
            except TargetStalled as exc:
                if self.memo is not None:
                    self.memo.record_stall(stall_key, exc)
                raise
            if self.recorder is not None:
                self.recorder(response)
            return response

        if shared and self.memo is not None:
            return self.memo.fetch(key, fetch)
        return fetch()

    def _budget_spent(self, what: str) -> RunBudgetSpent:
        return RunBudgetSpent(f"{what}: run budget of {self.run_budget or 0:g} s spent")

    def _get(
        self,
        path: str,
        view: str,
        url: str,
        sent: dict[str, str],
        purpose: Purpose | None,
        *,
        exact: bool = False,
    ) -> Response:
        start = time.monotonic()
        end = start + self.deadline
        if self.run_end is not None:
            if start >= self.run_end:
                raise self._budget_spent(f"{view} GET {url} not asked")
            end = min(end, self.run_end)

        def over_budget() -> bool:
            return self.run_end is not None and time.monotonic() >= self.run_end - 0.05

        attempt = 0
        asked = started = False
        while True:
            if self._aborted:
                raise TargetUnreachable(f"{view} GET {url}: not asked (interrupted)")
            attempt += 1
            try:
                final_url, status, resp_headers, body, hops = self._fetch(url, sent, end, exact)
            except _Stalled as exc:
                if over_budget():
                    raise self._budget_spent(f"{view} GET {url} abandoned") from None
                raise TargetStalled(
                    f"{view} GET {url}: the response began but its body did not complete "
                    f"within the {self.deadline:g}s deadline ({exc})",
                    started=True,
                ) from None
            except httpx.TransportError as exc:
                cert = tls.find_cert_error(exc)
                if cert is not None:
                    reason = tls.explain(
                        cert,
                        httpx.URL(url).host,
                        lambda: self._transport.peer_certificate(httpx.URL(url), self.timeout),
                    )
                    raise TargetCertificateError(
                        f"{view} GET {url}: {reason}; {tls.CA_HINT}"
                    ) from None
                if isinstance(exc, httpx.ReadTimeout):
                    # Connected and the request written: the target took it and kept silent.
                    asked = True
                    started = started or isinstance(exc, _BodyTimeout)
                wait = self.backoff * 2 ** (attempt - 1)
                if attempt > self.retries or time.monotonic() + wait >= end:
                    spent = time.monotonic() - start
                    if over_budget():
                        raise self._budget_spent(f"{view} GET {url} abandoned") from None
                    if asked:
                        what = (
                            "the response began but its body stopped"
                            if started
                            else "connected and asked, no response"
                        )
                        raise TargetStalled(
                            f"{view} GET {url}: {what} after {attempt} attempt(s) in "
                            f"{spent:.1f}s (deadline {self.deadline:g}s): {_cause(exc)}",
                            started=started,
                        ) from None
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
        base = str(httpx.URL(url[: len(url) - len(path)]))
        moved = hops > 0 and final_url.startswith(base + "/")
        response = Response(
            url=final_url,
            path=path,
            view=view,
            status=status,
            headers=resp_headers,
            body=body,
            elapsed=time.monotonic() - start,
            attempts=attempt,
            purpose=purpose,
            redirected_to=final_url[len(base) :] if moved else None,
        )
        with self._lock:
            self._views[view] += 1
            if response.release is not None:
                self._releases[response.release] += 1
            if view == "edge":
                self._cache[(response.cache_status or "none").upper()] += 1
        return response

    def _request(
        self, url: str, headers: dict[str, str], timeout: httpx.Timeout, exact: bool
    ) -> httpx.Request:
        request = self._http.build_request("GET", url, headers=headers, timeout=timeout)
        if exact:
            # Only what the client being imitated sends: none of tlogcheck's defaults.
            keep = {k.lower() for k in (*headers, *self._extra)} | {"host"}
            for name in [n for n in request.headers if n.lower() not in keep]:
                del request.headers[name]
        return request

    def _fetch(
        self, url: str, headers: dict[str, str], end: float, exact: bool = False
    ) -> tuple[str, int, httpx.Headers, bytes, int]:
        """One attempt: same-origin redirects followed (how many: the last item), the body
        read under cap and deadline. `exact`: send `headers` (and the deployment's) only."""
        with deadline(end):
            for hop in range(MAX_REDIRECTS + 1):
                left = max(end - time.monotonic(), 0.001)
                timeout = httpx.Timeout(self.timeout, pool=min(self.timeout, left))
                try:
                    request = self._request(url, headers, timeout, exact)
                    with contextlib.closing(self._http.send(request, stream=True)) as r:
                        location = r.headers.get("location")
                        if r.status_code in REDIRECT_STATUSES and location:
                            target = r.url.join(location)
                            if (
                                _same_origin(r.url, target)
                                and hop < MAX_REDIRECTS
                                and (
                                    self.redirect_allowed is None
                                    or self.redirect_allowed(str(target))
                                )
                            ):
                                url = str(target)
                                continue
                        asked = headers.get("Accept-Encoding", "(none)")
                        body = self._read_body(r, end, asked)
                        return str(r.url), r.status_code, r.headers, body, hop
                except httpx.InvalidURL as exc:
                    raise ConfigError(f"GET {url}: {exc}") from None
            raise AssertionError("unreachable: the last redirect is returned")

    def _read_body(self, r: httpx.Response, end: float, asked: str = "identity") -> bytes:
        cap = self.max_body
        where = f"GET {r.url}"
        length = r.headers.get("content-length")
        if length is not None and _DIGITS.fullmatch(length.strip()) and int(length) > cap:
            raise FormatError(
                f"{where}: response body over the {_mib(cap)} cap "
                f"(Content-Length {int(length)}); not read"
            )
        coding = r.headers.get("content-encoding", "identity").strip().lower()
        decoder = None if coding in ("", "identity") else decoder_for(coding, asked)
        if decoder is None and coding not in ("", "identity"):
            raise FormatError(
                f"{where}: body in Content-Encoding {coding!r} although "
                f"Accept-Encoding: {asked} was asked"
            )
        body = bytearray()
        received = 0
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
                    raise _Stalled(f"HTTP {r.status_code}, {received} bytes read")
        except httpx.TimeoutException:
            # The socket layer gives each read at most the time left, so a timeout at or
            # after the deadline is the deadline; an earlier one is a stalled read, retried.
            if time.monotonic() < end:
                raise _BodyTimeout(f"body read timed out ({received} bytes read)") from None
            raise _Stalled(f"HTTP {r.status_code}, {received} bytes read") from None
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
        return self.get(spec.entry_path(_index(index, "index")), view=view)

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

    def next_wait(self, response: Response) -> float:
        """How long to wait before asking again after `response`, a 502/503/504 that used
        up the retries: its Retry-After (capped), else the next step of the backoff."""
        wait = _retry_after(response.headers.get("retry-after"), self.retry_after_cap)
        return self.backoff * 2**self.retries if wait is None else wait

    def sleep(self, seconds: float) -> None:
        """Wait on the client's clock (a test gives it its own)."""
        self._sleep(seconds)

    # -- concurrency and bookkeeping ---------------------------------------------------

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """fn over items on at most `concurrency` threads; results in order, first error raised.

        Each call runs in a copy of the caller's context, so the purpose and check in
        force (`tlogcheck.client.purpose`) travel with the requests it makes."""
        todo = list(items)
        if not todo:
            return []
        pool = ThreadPoolExecutor(
            max_workers=min(self.concurrency, len(todo)), thread_name_prefix="tlogcheck"
        )
        futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in todo]
        try:
            results = [f.result() for f in futures]
        except Exception:
            for f in futures:
                f.cancel()
            pool.shutdown(wait=True)
            raise
        except BaseException:
            # Ctrl-C: do not wait for the requests in flight (each is bounded by its
            # deadline, and closing the client ends them); the caller says what it found.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return results

    def releases_seen(self) -> dict[str, int]:
        """Responses per `X-TLog-Release` value so far (the release mix during a canary)."""
        with self._lock:
            return dict(self._releases)

    def cache_seen(self) -> dict[str, int]:
        """Edge responses per cache status (HIT, MISS, ...; "NONE" without the header)."""
        with self._lock:
            return dict(self._cache)

    def responses_seen(self) -> dict[str, int]:
        """Responses per view ("edge", "origin") so far."""
        with self._lock:
            return dict(self._views)

    def reset_counts(self) -> None:
        """Forget the releases, views and cache statuses counted so far: a client kept
        for many probes (the exporter's) counts each probe's alone, in bounded memory."""
        with self._lock:
            self._releases.clear()
            self._views.clear()
            self._cache.clear()

    def abort(self) -> None:
        """End the requests in flight at once (Ctrl-C): their threads see a read error
        instead of waiting out their deadline, and none is asked again."""
        self._aborted = True
        self._transport.abort()

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
