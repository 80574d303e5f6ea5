"""The exporter's HTTP side: a raw ASGI app on the project's uvicorn stack.

    GET  /probe?target=URL&module=NAME[&debug=true]   run a probe, answer Prometheus text
    GET  /metrics                                     the exporter's own metrics
    GET  /checkpoints                                 the latest verified signed checkpoints
    POST /-/reload                                    re-read the config (SIGHUP does too)
    GET  /-/healthy                                   200 while serving
    GET  /   and   /logs?id=N                         recent probes and their debug output

The probe handler owns everything around the probe, as blackbox_exporter's does: a
missing target or module, an unknown module or a target that is not an http(s) base
URL is 400; a target outside the module's `targets` is 403 and nothing is sent to it.
The budget is `X-Prometheus-Scrape-Timeout-Seconds` minus `--timeout-offset`, at most
the module's `timeout`. At most `max_concurrent` probes run at once, each in a worker
thread; a probe waiting for a slot spends its own budget waiting, and what is not
decided when the budget ends is answered inconclusive — a target that hangs holds one
slot until its probe's deadline, never the others. Every text sent out is scrubbed of
the config's secrets (`redact.Redactor`).

`peer_app` serves `/checkpoints` alone, for a listener peers in other regions may reach
(`--peer-listen`) while `/probe` stays where only Prometheus can.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import yaml

from tlogcheck.errors import ConfigError
from tlogcheck.exporter.clients import ClientPool
from tlogcheck.exporter.config import Config, load_config
from tlogcheck.exporter.evidence import EvidenceShelf
from tlogcheck.exporter.history import History
from tlogcheck.exporter.metrics import ExporterMetrics, probe_metrics
from tlogcheck.exporter.peers import PeerBook, checkpoints_document
from tlogcheck.exporter.probe import Env, Probe, ProbeResult
from tlogcheck.exporter.redact import Redactor
from tlogcheck.exporter.state import StateBook
from tlogcheck.exporter.targets import normalise
from tlogcheck.refstack.server import Receive, Scope, Send, handle_lifespan

__all__ = ["Exporter", "Settings"]

log = logging.getLogger("tlogcheck.exporter")
TEXT = "text/plain; charset=utf-8"
METRICS = "text/plain; version=0.0.4; charset=utf-8"
GRACE = 0.2  # seconds past a probe's budget its answer may take to be rendered
TIMEOUT_HEADER = b"x-prometheus-scrape-timeout-seconds"


@dataclass(frozen=True)
class Settings:
    config: str
    vantage: str
    state_dir: str | None = None
    peers: tuple[str, ...] = ()
    timeout_offset: float = 0.5
    max_concurrent: int = 8
    history_limit: int = 100
    max_targets: int = 1000


class _Answer(Exception):
    """An HTTP answer other than a probe's metrics (400, 403, ...): one line of text."""

    def __init__(self, status: int, text: str, reason: str) -> None:
        super().__init__(text)
        self.status, self.text, self.reason = status, text, reason


class Exporter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config: Config = load_config(settings.config)  # ConfigError: refuse to start
        self.redactor = Redactor(self.config.secrets())
        self.metrics = ExporterMetrics()
        self.metrics.reload_ok.set(1)
        self.metrics.reload_at.set(time.time())
        self.history = History(settings.history_limit)
        self.env = Env(
            vantage=settings.vantage,
            state=StateBook(settings.state_dir, max_targets=settings.max_targets),
            shelf=EvidenceShelf(settings.state_dir, self.redactor.scrub),
            pool=ClientPool(),
            redactor=self.redactor,
            peers=PeerBook(settings.peers) if settings.peers else None,
        )
        self.executor = ThreadPoolExecutor(
            settings.max_concurrent, thread_name_prefix="tlogcheck-probe"
        )
        self.max_waiting = 4 * settings.max_concurrent
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0

    # -- config ----------------------------------------------------------------------------

    def reload(self) -> str | None:
        """Re-read the config; on error keep the running one and say why."""
        try:
            config = load_config(self.settings.config)
        except ConfigError as exc:
            self.metrics.reload_ok.set(0)
            message = self.redactor.scrub(str(exc))
            log.error("config not reloaded, the running one stays: %s", message)
            return message
        self.redactor.update(config.secrets())
        self.config = config
        self.metrics.reload_ok.set(1)
        self.metrics.reload_at.set(time.time())
        log.info("config reloaded from %s: modules %s", config.path, ", ".join(config.modules))
        return None

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.env.pool.close()
        if self.env.peers is not None:
            self.env.peers.close()

    # -- ASGI ------------------------------------------------------------------------------

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await handle_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            if path == "/probe" and method == "GET":
                status, ctype, body = await self._probe(scope, query)
            elif path == "/metrics" and method == "GET":
                self._refresh_gauges()
                status, ctype, body = 200, METRICS, self.metrics.render()
            elif path == "/checkpoints" and method == "GET":
                status, ctype, body = 200, "application/json", self._checkpoints()
            elif path == "/-/reload":
                if method != "POST":
                    raise _Answer(405, "use POST to reload the config", "method")
                problem = self.reload()
                if problem is not None:
                    raise _Answer(500, f"config not reloaded: {problem}", "reload")
                status, ctype, body = 200, TEXT, b"config reloaded\n"
            elif path == "/-/healthy" and method in ("GET", "HEAD"):
                status, ctype, body = 200, TEXT, b"Healthy\n"
            elif path == "/" and method == "GET":
                status, ctype, body = 200, TEXT, self._status_page().encode()
            elif path == "/logs" and method == "GET":
                status, ctype, body = 200, TEXT, self._logs(query).encode()
            else:
                raise _Answer(404, f"no such page: {method} {path[:100]}", "not_found")
        except _Answer as answer:
            self.metrics.refused.labels(answer.reason).inc()
            status, ctype = answer.status, TEXT
            body = (self.redactor.scrub(answer.text) + "\n").encode()
        await _send(send, status, ctype, body)

    async def peer_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await handle_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/checkpoints" and scope["method"] == "GET":
            await _send(send, 200, "application/json", self._checkpoints())
        elif scope["path"] == "/-/healthy":
            await _send(send, 200, TEXT, b"Healthy\n")
        else:
            await _send(send, 404, TEXT, b"this listener serves /checkpoints only\n")

    # -- /probe ----------------------------------------------------------------------------

    def _budget(self, scope: Scope, module_timeout: float) -> float:
        header = dict(scope.get("headers") or []).get(TIMEOUT_HEADER)
        if header is None:
            return module_timeout
        try:
            scrape = float(header.decode("latin-1"))
        except ValueError:
            raise _Answer(400, "X-Prometheus-Scrape-Timeout-Seconds is not a number",
                          "bad_request") from None  # fmt: skip
        if not scrape > 0 or scrape != scrape or scrape == float("inf"):
            raise _Answer(400, "X-Prometheus-Scrape-Timeout-Seconds is not a positive number",
                          "bad_request")  # fmt: skip
        most = scrape - self.settings.timeout_offset
        if most <= 0:
            most = scrape / 2  # an offset as large as the timeout: still within the scrape
        return min(module_timeout, most)

    async def _probe(self, scope: Scope, query: str) -> tuple[int, str, bytes]:
        params = parse_qs(query, keep_blank_values=True)

        def one(name: str) -> str:
            values = params.get(name, [])
            if len(values) > 1:
                raise _Answer(400, f"{name} given {len(values)} times", "bad_request")
            return values[0] if values else ""

        target, name, debug = one("target"), one("module"), one("debug") == "true"
        if not target:
            raise _Answer(400, "target parameter is missing", "bad_request")
        if not name:
            raise _Answer(400, "module parameter is missing", "bad_request")
        config = self.config
        module = config.modules.get(name)
        if module is None:
            raise _Answer(400, f"unknown module {name[:64]!r} (known: "
                          f"{', '.join(sorted(config.modules))})", "unknown_module")  # fmt: skip
        try:
            place = normalise(target)
        except ValueError as exc:
            raise _Answer(400, f"target: {exc}", "bad_request") from None
        if not module.allows(place):
            raise _Answer(403, f"target {place.url} is not one of module {name}'s targets: "
                          "not probed, nothing sent", "forbidden")  # fmt: skip
        probe = Probe(module, place.url, self._budget(scope, module.timeout), self.env)
        result = await self._run(probe)
        metrics = probe_metrics(result, self.env.vantage)
        text = self._debug(result, metrics, module.describe())
        self.history.add(name, place.url, result.success, result.duration, text)
        self.metrics.probed(result)
        if not result.success:
            # The failed checks, and those whose findings page another alert (a 5xx).
            failed = "; ".join(f"{v.check}: {v.detail[:300]}" for v in result.verdicts
                               if v.status == "failed" or v.alerts)  # fmt: skip
            peers = "; ".join(f"peer {p.peer}: {p.detail[:300]}" for p in result.peers
                              if p.status == "failed")  # fmt: skip
            log.warning("probe module=%s target=%s failed: %s", name, place.url,
                        self.redactor.scrub(failed or peers or "inconclusive"))  # fmt: skip
        if debug:
            return 200, TEXT, text.encode()
        return 200, METRICS, metrics

    async def _run(self, probe: Probe) -> ProbeResult:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_concurrent)
        slots = self._slots
        if self._waiting >= self.max_waiting:
            raise _Answer(503, f"exporter busy: {self._waiting} probes waiting", "overloaded")
        self._waiting += 1
        try:
            acquire = asyncio.ensure_future(slots.acquire())
            got, _ = await asyncio.wait({acquire}, timeout=max(0.0, probe.left()))
        finally:
            self._waiting -= 1
        if not got:
            if not acquire.cancel():  # the slot came as the wait ended: give it back
                slots.release()
            probe.say(f"not started: {self.settings.max_concurrent} probes were running")
            return probe.snapshot()
        loop = asyncio.get_running_loop()
        self.metrics.in_flight.inc()
        future = loop.run_in_executor(self.executor, self._guarded, probe)

        def done(_: asyncio.Future[None]) -> None:
            slots.release()
            self.metrics.in_flight.dec()

        future.add_done_callback(done)
        await asyncio.wait({future}, timeout=max(0.0, probe.left()) + GRACE)
        return probe.snapshot()

    def _guarded(self, probe: Probe) -> None:
        try:
            probe.run()
        except Exception as exc:  # a bug must not take the worker down with it
            log.error("probe of %s raised %s: %s", probe.target, type(exc).__name__,
                      self.redactor.scrub(str(exc)))  # fmt: skip

    def _debug(self, result: ProbeResult, metrics: bytes, module: dict[str, Any]) -> str:
        verdicts = "\n".join(f"  {v.check}: {v.status}" + (f": {v.detail}" if v.detail else "")
                             for v in result.verdicts)  # fmt: skip
        text = (
            f"Probe of {result.target} with module {result.module} (vantage "
            f"{self.env.vantage}): {'success' if result.success else 'failure'} in "
            f"{result.duration:.3f}s of {result.timeout:.2f}s\n\nVerdicts:\n{verdicts}\n\n"
            "Logs for the probe:\n" + "\n".join(result.lines) + "\n\n"
            "Metrics that would have been returned:\n" + metrics.decode() + "\n"
            "Module configuration:\n" + yaml.safe_dump(module, sort_keys=False)
        )
        return self.redactor.scrub(text)

    # -- the other pages -------------------------------------------------------------------

    def _checkpoints(self) -> bytes:
        return checkpoints_document(self.env.vantage, self.env.state.latest())

    def _refresh_gauges(self) -> None:
        self.metrics.targets.set(len(self.env.state))
        self.metrics.bundles.labels("written").set(self.env.shelf.written)
        self.metrics.bundles.labels("dropped").set(self.env.shelf.dropped)
        if self.env.peers is not None:
            for url, up in self.env.peers.up().items():
                self.metrics.peer_up.labels(url).set(1 if up else 0)

    def _status_page(self) -> str:
        lines = [
            f"tlogcheck exporter, vantage {self.env.vantage}",
            f"config {self.config.path}: modules {', '.join(sorted(self.config.modules))}",
            f"state: {self.settings.state_dir or 'in memory only'}, "
            f"{len(self.env.state)} targets remembered",
            "",
            "recent probes (the debug output of each at /logs?id=N):",
        ]
        for e in reversed(self.history.entries()):
            outcome = "success" if e.success else "FAILURE"
            lines.append(f"  {e.id:6d} {outcome:8s} {e.duration:7.3f}s {e.module} {e.target}")
        return self.redactor.scrub("\n".join(lines) + "\n")

    def _logs(self, query: str) -> str:
        wanted = parse_qs(query).get("id", [""])[0]
        if not wanted.isdigit():
            raise _Answer(400, "id parameter is missing or not a number", "bad_request")
        entry = self.history.get(int(wanted))
        if entry is None:
            raise _Answer(404, f"no probe {wanted} in the history", "not_found")
        return entry.text


async def _send(send: Send, status: int, ctype: str, body: bytes) -> None:
    headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
