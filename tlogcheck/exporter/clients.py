"""HTTP clients kept between probes, one pair per (module, target), bounded.

Making a `TLogClient` loads a trust store (about 17 ms of CPU and 0.8 MiB); a target
scraped every 15 s would pay that twice a probe. Clients share one TLS context per CA
bundle (`TrustStores`), and the pool keeps each (module, target)'s clients and
their keep-alive connections: the checks' client (the suite's retries) and a raw one
(no retries: the errors and latency sample, where a 5xx the checks would retry is what
a user saw). A client serves one probe at a time; a probe sets its own deadline, shared
answers and byte budget on checkout. At most `limit` client pairs are kept, the least
recently used closed first.

Every client of a module with `targets:` follows a redirect only to a URL within them
(`TLogClient.redirect_allowed`); a redirect to another origin is never followed at all
(`TLogClient`): the module's headers go nowhere else.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tlogcheck.client import Response, ResponseMemo, TLogClient, tls
from tlogcheck.errors import FormatError
from tlogcheck.exporter.config import Module
from tlogcheck.exporter.targets import normalise

__all__ = [
    "CLIENT_CONCURRENCY",
    "PROBE_BYTES",
    "SAMPLE_CONCURRENCY",
    "ClientPool",
    "Clients",
    "TrustStores",
]

CLIENT_CONCURRENCY = 4  # requests in flight per probe for its checks
SAMPLE_CONCURRENCY = 2  # and for its errors and latency sample
PROBE_BYTES = 8 * 2**20  # bytes of answers one probe may hold, whatever a target serves
RAW_RETRIES = 0


class ByteBudget:
    """A client's `recorder`: counts the bytes a probe was served and refuses more than
    its budget (a FormatError, as for one answer over the body cap)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def __call__(self, response: Response) -> None:
        with self._lock:
            self.used += len(response.body)
            over = self.used > self.limit
        if over:
            raise FormatError(
                f"the probe was served over {self.limit // 2**20} MiB in all: stopped reading"
            )


@dataclass
class Clients:
    key: tuple[Module, str]
    checks: TLogClient
    raw: TLogClient

    def prepare(self, *, end: float, budget: float, deadline: float, timeout: float) -> ByteBudget:
        """Set this probe's end (`budget` seconds after its start), each read's deadline
        and timeout, and fresh shared answers, on both clients."""
        spent = ByteBudget(PROBE_BYTES)
        for client in (self.checks, self.raw):
            client.reset_counts()
            client.run_end = end
            client.run_budget = budget
            client.deadline = deadline
            client.timeout = timeout
            client.memo = ResponseMemo()
            client.recorder = spent
        return spent

    def release(self) -> None:
        """Drop what the last probe read (its shared answers): an idle pair holds none."""
        for client in (self.checks, self.raw):
            client.memo = None
            client.recorder = None
            client.reset_counts()

    def close(self) -> None:
        self.checks.close()
        self.raw.close()


def _redirect_rule(module: Module) -> Callable[[str], bool] | None:
    if not module.targets:
        return None

    def allowed(url: str) -> bool:
        try:
            return module.allows(normalise(url.partition("?")[0]))
        except ValueError:
            return False

    return allowed


class TrustStores:
    """One TLS context per CA bundle, shared by every client that trusts it (a context
    holds the loaded trust store: about 0.8 MiB and 17 ms of CPU each). A bundle file
    that changed (a reload after rotating it) gets a new context."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str | None, int, int], ssl.SSLContext] = {}

    def context(self, ca_bundle: str | None) -> ssl.SSLContext:
        try:
            st = os.stat(ca_bundle) if ca_bundle else None
        except OSError:
            st = None
        key = (ca_bundle, st.st_mtime_ns if st else 0, st.st_size if st else 0)
        with self._lock:
            found = self._contexts.get(key)
            if found is None:
                found = self._contexts[key] = tls.ssl_context(ca_bundle)
            return found


def make_clients(module: Module, target: str, stores: TrustStores | None = None) -> Clients:
    rule = _redirect_rule(module)
    context = (stores or TrustStores()).context(module.ca_bundle)

    def one(retries: int, concurrency: int) -> TLogClient:
        return TLogClient(
            target,
            origin_url=module.origin_url,
            timeout=module.timeout,
            max_body=module.max_body,
            retries=retries,
            concurrency=concurrency,
            headers=module.headers,
            ca_bundle=module.ca_bundle,
            proxy=module.proxy,
            redirect_allowed=rule,
            ssl_context=context,
        )

    return Clients(
        (module, target), one(2, CLIENT_CONCURRENCY), one(RAW_RETRIES, SAMPLE_CONCURRENCY)
    )


class ClientPool:
    """Idle client pairs by (module, target); at most `limit` kept."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._idle: OrderedDict[tuple[Module, str], list[Clients]] = OrderedDict()
        self._count = 0
        self.stores = TrustStores()

    def checkout(self, module: Module, target: str) -> Clients:
        key = (module, target)
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                self._count -= 1
                clients = idle.pop()
                if not idle:
                    del self._idle[key]
                return clients
        return make_clients(module, target, self.stores)

    def checkin(self, clients: Clients) -> None:
        clients.release()
        closing: list[Clients] = []
        with self._lock:
            self._idle.setdefault(clients.key, []).append(clients)
            self._idle.move_to_end(clients.key)
            self._count += 1
            while self._count > self.limit:
                oldest_key, oldest = next(iter(self._idle.items()))
                closing.append(oldest.pop(0))
                self._count -= 1
                if not oldest:
                    del self._idle[oldest_key]
        for c in closing:
            c.close()

    def close(self) -> None:
        with self._lock:
            pairs = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
            self._count = 0
        for c in pairs:
            c.close()

    def __len__(self) -> int:
        with self._lock:
            return self._count
