"""A transient fault — one 503, one reset connection — fails no check.

A small HTTP proxy in front of the reference deployment answers the first checkpoint
request it gets with 503 and resets the connection of the second; everything else it
passes through. (The checkpoint: a path the checks ask and the suite's start-of-run
probe of the target does not, so the faults meet a check.) The whole functional suite
must still pass: the client retries both.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tlogcheck.refstack.stack import RunningStack
from tlogcheck.runs import run_suite

MakeRefstack = Callable[..., RunningStack]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class FlakyProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.client = httpx.Client(timeout=10, trust_env=False)
        self.lock = threading.Lock()
        self.count = 0
        self.injected: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_number(self) -> int:
        with self.lock:
            self.count += 1
            return self.count


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FlakyProxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        n = self.server.next_number() if self.path == "/v1/log/checkpoint" else 0
        if n == 1:
            self.server.injected.append(f"503 {self.path}")
            body = b'{"error":"transient"}'
            self.send_response(503)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if n == 2:
            self.server.injected.append(f"reset {self.path}")
            # SO_LINGER 0: close() sends a RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        upstream = self.server.client.get(self.server.upstream + self.path, headers=headers)
        self.send_response(upstream.status_code)
        for name, value in upstream.headers.items():
            # httpx decoded a gzip body (the suite's compressed reads): passed on plain.
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-encoding":
                self.send_header(name, value)
        self.send_header("content-length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)


@pytest.fixture
def flaky(make_refstack: MakeRefstack) -> Iterator[tuple[FlakyProxy, RunningStack]]:
    stack = make_refstack(entries=256)
    proxy = FlakyProxy(stack.info.edge_url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy, stack
    finally:
        proxy.shutdown()
        proxy.server_close()
        proxy.client.close()
        thread.join()


def test_one_503_and_one_reset_fail_no_check(flaky: tuple[FlakyProxy, RunningStack]) -> None:
    proxy, stack = flaky
    info = stack.info
    run = run_suite(
        [
            f"--tlog-url={proxy.url}",
            f"--tlog-vkey={info.vkey}",
            f"--tlog-db={info.db_path}",
            f"--tlog-db-sha256={info.db_sha256_path}",
            "--tlog-sample=16",
            "-m",
            "not load",
        ]
    )
    assert [i.split()[0] for i in proxy.injected] == ["503", "reset"]
    assert run.exitstatus == 0, run.output
    assert run.report["summary"]["counts"]["failed"] == 0
    # The canary check has nothing to compare without its options: skipped, with why.
    verdicts = run.check_verdicts()
    assert verdicts.pop("canary") == "skipped"
    assert set(verdicts.values()) == {"passed"}
