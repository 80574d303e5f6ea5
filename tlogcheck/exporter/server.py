"""Running the exporter: its listeners on uvicorn, its signals, its log.

SIGTERM and SIGINT stop it (in-flight answers get a moment to finish); SIGHUP re-reads
the config, keeping the running one when the new one is bad. The log goes to stderr,
one line an event, every line scrubbed of the config's secrets.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from tlogcheck.errors import ConfigError
from tlogcheck.exporter.app import Exporter, Settings
from tlogcheck.exporter.redact import ScrubFilter
from tlogcheck.refstack.server import Listener, ServerGroup, new_event_loop

__all__ = ["parse_listen", "serve"]

log = logging.getLogger("tlogcheck.exporter")


def parse_listen(text: str, what: str = "--listen") -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9115` for IPv6) -> (host, port); ConfigError if not."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{what}: {text!r} is not HOST:PORT")
    return host, int(port)


def _logging(exporter: Exporter) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(ScrubFilter(exporter.redactor))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


def serve(
    settings: Settings,
    listen: tuple[str, int],
    peer_listen: tuple[str, int] | None = None,
    *,
    started: Callable[[dict[str, str]], None] | None = None,
) -> int:
    """Serve until SIGTERM / SIGINT. ConfigError (bad config, port taken) before serving."""
    exporter = Exporter(settings)
    _logging(exporter)
    listeners = [Listener("exporter", exporter.app, port=listen[1], host=listen[0])]
    if peer_listen is not None:
        listeners.append(
            Listener("peers", exporter.peer_app, port=peer_listen[1], host=peer_listen[0])
        )
    group = ServerGroup(listeners)
    loop = new_event_loop()

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, exporter.reload)

        def ready() -> None:
            log.info(
                "serving %s (vantage %s, modules %s, state %s)",
                ", ".join(f"{n} {u}" for n, u in group.urls.items()),
                settings.vantage,
                ", ".join(sorted(exporter.config.modules)),
                settings.state_dir or "in memory only",
            )
            if started is not None:
                started(dict(group.urls))

        await group.run_until(stop, ready)

    try:
        loop.run_until_complete(main())
    finally:
        exporter.close()
        loop.close()
    return 0
