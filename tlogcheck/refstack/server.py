"""Several raw ASGI apps on uvicorn servers, in one asyncio loop, in one process.

Each app gets its own `uvicorn.Server` on a loopback socket that is bound here (port 0
gives a free port, known before anything serves). The servers are driven through
uvicorn's `startup` / `main_loop` / `shutdown` rather than `serve`, which would take
over SIGINT / SIGTERM and re-raise them at exit: the stack owns its signals.

Per-request overhead is what bounds the edge's cached throughput, so every server is
set up lean: httptools parser, no access log, no proxy-header middleware, no websockets,
lifespan only for apps that ask for it, uvloop when it is installed.

    group = ServerGroup([Listener("origin", app)])
    with BackgroundServers(group) as bg:      # a daemon thread runs the loop
        httpx.get(bg.urls["origin"] + "/healthz")

or, in the main thread: `await group.run_until(stop_event)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

import uvicorn

from tlogcheck.errors import ConfigError

__all__ = [
    "ASGIApp",
    "BackgroundServers",
    "Listener",
    "Receive",
    "Runnable",
    "Scope",
    "Send",
    "ServerGroup",
    "bind_socket",
    "free_port",
    "handle_lifespan",
    "log_tail",
    "new_event_loop",
    "run_in_thread",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK = "127.0.0.1"
# In-flight responses (a trickled body) get this long at shutdown before being cancelled.
GRACEFUL_SHUTDOWN = 1
_T = TypeVar("_T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (faster per request), else asyncio's."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def bind_socket(port: int = 0, host: str = LOOPBACK) -> socket.socket:
    """A TCP socket bound to host:port (0: a free port), not yet listening."""
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when
    # the protocol says TCP, and without it the headers-then-body writes of every answer
    # wait out the client's delayed ACK (~40 ms a request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(False)
    return sock


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago, for a listener we cannot hand a socket to
    (nginx). The small race is the price of a separate process."""
    with contextlib.closing(bind_socket(0, host)) as sock:
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int) -> str:
    """The end of a child process's log, to say why it did not start ("" if unreadable)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def handle_lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol for an app with nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


@dataclass
class Listener:
    """One app on one loopback port; `lifespan=True` for apps with startup/shutdown work."""

    name: str
    app: ASGIApp
    port: int = 0
    host: str = LOOPBACK
    lifespan: bool = False
    # HTTPS: the certificate chain and key files (None: plain HTTP).
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_certfile else "http"


class _Running:
    def __init__(self, listener: Listener, sock: socket.socket) -> None:
        self.listener = listener
        self.sock = sock
        config = uvicorn.Config(
            listener.app,
            host=listener.host,
            port=sock.getsockname()[1],
            http="httptools",
            ws="none",
            lifespan="on" if listener.lifespan else "off",
            interface="asgi3",
            access_log=False,
            log_config=None,
            log_level="warning",
            proxy_headers=False,
            server_header=False,
            date_header=True,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
            timeout_keep_alive=30,
            ssl_certfile=listener.ssl_certfile,
            ssl_keyfile=listener.ssl_keyfile,
        )
        config.load()
        self.server = uvicorn.Server(config)
        self.server.lifespan = config.lifespan_class(config)
        self.ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.server.startup(sockets=[self.sock])
        if not self.server.started:
            raise ConfigError(f"{self.listener.name}: server did not start")
        self.ticker = asyncio.get_running_loop().create_task(self.server.main_loop())

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.ticker is not None:
            await self.ticker
        if self.server.started:
            await self.server.shutdown(sockets=[self.sock])
        self.sock.close()


class ServerGroup:
    """The listeners of one process, bound at construction, served in one loop."""

    def __init__(self, listeners: Sequence[Listener]) -> None:
        names = [lst.name for lst in listeners]
        if len(set(names)) != len(names):
            raise ConfigError(f"listener names must be unique: {names}")
        self._pending: list[tuple[Listener, socket.socket]] = []
        try:
            for lst in listeners:
                self._pending.append((lst, bind_socket(lst.port, lst.host)))
        except BaseException:
            for _, sock in self._pending:
                sock.close()
            raise
        self.ports = {lst.name: sock.getsockname()[1] for lst, sock in self._pending}
        self.urls = {
            lst.name: f"{lst.scheme}://{lst.host}:{self.ports[lst.name]}"
            for lst, _ in self._pending
        }
        self._running: list[_Running] = []

    def add(self, listener: Listener) -> str:
        """Bind one more listener (before `start`); its URL."""
        if listener.name in self.urls:
            raise ConfigError(f"listener names must be unique: {listener.name!r} twice")
        sock = bind_socket(listener.port, listener.host)
        self._pending.append((listener, sock))
        self.ports[listener.name] = port = sock.getsockname()[1]
        self.urls[listener.name] = url = f"{listener.scheme}://{listener.host}:{port}"
        return url

    def close(self) -> None:
        """Release the sockets of a group that will not be started."""
        for _, sock in self._pending:
            sock.close()

    async def start(self) -> None:
        """Listen and serve every app; returns once all accept connections."""
        # uvicorn's loggers: warnings and errors only, whatever the host's logging says.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            for lst, sock in self._pending:
                running = _Running(lst, sock)
                self._running.append(running)
                await running.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop accepting, let in-flight responses finish (bounded), close the sockets."""
        running, self._running = self._running, []
        await asyncio.gather(*(r.stop() for r in running), return_exceptions=True)
        for _, sock in self._pending:
            sock.close()

    async def run_until(
        self, stop: asyncio.Event, started: Callable[[], None] | None = None
    ) -> None:
        await self.start()
        try:
            if started is not None:
                started()
            await stop.wait()
        finally:
            await self.stop()


class Runnable(Protocol):
    """Something served until an event is set: a ServerGroup, or a whole stack."""

    async def run_until(
        self, stop: asyncio.Event, started: Callable[[], None] | None = None
    ) -> None: ...


class BackgroundServers:
    """A `ServerGroup` (or any `Runnable`) served by a daemon thread with its own loop."""

    def __init__(self, group: Runnable, *, start_timeout: float = 30.0) -> None:
        self.group = group
        self.urls: dict[str, str] = getattr(group, "urls", {})
        self.ports: dict[str, int] = getattr(group, "ports", {})
        self._start_timeout = start_timeout
        self._loop = new_event_loop()
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tlogcheck-refstack", daemon=True)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            self._stop = asyncio.Event()
            loop.run_until_complete(self.group.run_until(self._stop, self._started.set))
        except BaseException as exc:  # handed to the thread that waits in start()
            self._error = exc
        finally:
            try:
                _cancel_leftovers(loop)
            finally:
                loop.close()
                self._started.set()

    def start(self) -> BackgroundServers:
        self._thread.start()
        if not self._started.wait(self._start_timeout):
            raise ConfigError(f"servers did not start within {self._start_timeout} s")
        if self._error is not None:
            raise self._error
        return self

    def call(self, fn: Callable[[], Coroutine[Any, Any, _T]], timeout: float = 30.0) -> _T:
        """Run a coroutine on the servers' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        if self._thread.is_alive() and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.ident is not None:
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise ConfigError(f"servers did not stop within {timeout} s")

    def __enter__(self) -> BackgroundServers:
        # run_in_thread hands back a started one.
        return self if self._thread.ident is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


def run_in_thread(apps: dict[str, ASGIApp], *, lifespan: Sequence[str] = ()) -> BackgroundServers:
    """Serve each app on its own free loopback port in a background thread; started.

    `bg.urls[name]` is the app's base URL; `bg.stop()` (or a `with` block) stops them all.
    """
    group = ServerGroup(
        [Listener(name, app, lifespan=name in lifespan) for name, app in apps.items()]
    )
    return BackgroundServers(group).start()
