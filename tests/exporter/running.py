"""An exporter served on loopback for the tests: in this process (`serving`), or as the
`tlogcheck exporter` command (`ExporterProcess`), with the helpers that read its answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tlogcheck.exporter.app import Exporter, Settings
from tlogcheck.refstack.server import free_port, run_in_thread


@contextmanager
def serving(config: str, **settings: Any) -> Iterator[tuple[str, Exporter]]:
    """(base URL, exporter) of an exporter with this config file, until the block ends."""
    settings.setdefault("vantage", "test")
    exporter = Exporter(Settings(config=config, **settings))
    servers = run_in_thread({"exporter": exporter.app, "peers": exporter.peer_app})
    try:
        yield servers.urls["exporter"], exporter
    finally:
        servers.stop()
        exporter.close()


def probe(base: str, target: str, module: str, *, scrape_timeout: float | None = 10, **params: str
          ) -> httpx.Response:  # fmt: skip
    headers = {}
    if scrape_timeout is not None:
        headers["X-Prometheus-Scrape-Timeout-Seconds"] = str(scrape_timeout)
    return httpx.get(
        base + "/probe", params={"target": target, "module": module, **params},
        headers=headers, timeout=60,
    )  # fmt: skip


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text -> {(name, sorted labels): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    """The one sample of `name` whose labels include `labels` (None: none)."""
    found = [
        v for (n, ls), v in samples(text).items()
        if n == name and labels.items() <= dict(ls).items()
    ]  # fmt: skip
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def statuses(text: str) -> dict[str, str]:
    """check -> the status whose tlogcheck_probe_check_status is 1."""
    out = {}
    for (name, labels), v in samples(text).items():
        if name == "tlogcheck_probe_check_status" and v == 1:
            d = dict(labels)
            out[d["check"]] = d["status"]
    return out


class Silent:
    """A TCP server that accepts connections, reads, and never answers (a hung target);
    it counts the connections it accepted."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.received = b""
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._conns.append(conn)
            conn.settimeout(0.5)
            try:
                self.received += conn.recv(65536)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        for c in self._conns:
            c.close()
        self.sock.close()


class ExporterProcess:
    """`python -m tlogcheck exporter ...` as a child process, its stderr kept in a file."""

    def __init__(self, config: str, tmp: Path, *args: str, name: str = "exporter") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"{name}.log"
        self._fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tlogcheck", "exporter", "--config", config,
             "--listen", f"127.0.0.1:{self.port}", *args],
            stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exporter exited {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/-/healthy", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"exporter did not start: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._fh.close()
