"""Cached entry reads through the edge on loopback: the builtin edge beside nginx.

The edge (with its origin) runs in a child process pinned to CPU 0; the load generator
runs here, pinned to CPU 1: `wrk` when installed, else a small asyncio HTTP/1.1 client
with keep-alive connections (one request in flight per connection, no pipelining).
Entries are read once to fill the cache, then read in a loop for a fixed time (and at
most a fixed count), so what is measured is the edge's hit path. nginx runs with one
worker on the same CPU. Prints figures, asserts nothing.

    python benchmarks/bench_edge.py [--seconds 5] [--connections 32] [--load auto|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EDGE_CPU, LOAD_CPU = 0, 1
TARGET = 2000  # requests/s of the builtin edge on one core
ENTRIES = 2048
HOT = 256  # entries read in the loop, all cached


@dataclass
class Result:
    edge: str
    requests: int
    seconds: float
    errors: int
    hits: int  # with wrk: estimated from a sample read right after it
    p50_ms: float | None
    p99_ms: float | None
    cpu_seconds: float  # CPU time the edge's processes used while measured

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Requests per CPU-second of the edge: its one-core capacity, whatever else runs."""
        return self.requests / self.cpu_seconds if self.cpu_seconds else 0.0


def _cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of these processes (all their threads), from /proc."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _pin(cpu: int) -> bool:
    """Pin this process to one CPU when the machine has it; False when it cannot."""
    if not hasattr(os, "sched_setaffinity") or cpu not in os.sched_getaffinity(0):
        return False
    os.sched_setaffinity(0, {cpu})
    return True


# -- the served side (child process) ------------------------------------------------------


def serve(kind: str) -> None:
    """Origin + edge in this process, pinned to EDGE_CPU; prints the edge URL, then
    serves until stdin closes."""
    from tlogcheck.refstack.data import demo_entries, demo_signer
    from tlogcheck.refstack.edge import Edge
    from tlogcheck.refstack.faults import FaultSet
    from tlogcheck.refstack.log import Log
    from tlogcheck.refstack.nginx import NginxEdge
    from tlogcheck.refstack.origin import Origin
    from tlogcheck.refstack.server import Listener, ServerGroup
    from tlogcheck.refstack.upstream import Upstream

    _pin(EDGE_CPU)
    log = Log(list(demo_entries(0, ENTRIES)), "v1.0.0", demo_signer()[0]).warm()
    faults = FaultSet()
    origin_group = ServerGroup([Listener("origin", Origin(log, faults))])
    upstream = Upstream(origin_group.urls["origin"], 100)
    edge_app = Edge([upstream], faults=faults)
    listeners = [Listener("edge", edge_app, lifespan=True)] if kind == "builtin" else []
    edge_group = ServerGroup(listeners)

    async def main() -> None:
        await origin_group.start()
        await edge_group.start()
        nginx: NginxEdge | None = None
        try:
            if kind == "nginx":
                nginx = NginxEdge([upstream], worker_processes="1").start()
                pids = sorted({nginx.pid or 0, *nginx.child_pids()} - {0})
                for pid in pids:
                    os.sched_setaffinity(pid, {EDGE_CPU})
                url = nginx.url
            else:
                pids = [os.getpid()]
                url = edge_group.urls["edge"]
            print(json.dumps({"url": url, "pids": pids}), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        finally:
            if nginx is not None:
                nginx.stop()
            await edge_group.stop()
            await origin_group.stop()

    asyncio.run(main())


# -- load generators -------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send a GET, read its answer whole, send the next."""

    def __init__(self, load: _PythonLoad) -> None:
        self.load = load
        self.buf = b""
        self.need: int | None = None
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        request = self.load.next_request()
        if request is None or self.transport is None:
            if self.transport is not None:
                self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                length = re.search(rb"\r\ncontent-length: *(\d+)", head)
                self.need = end + 4 + (int(length.group(1)) if length else 0)
                self.load.record_head(head)
            if len(self.buf) < self.need:
                return
            self.buf = self.buf[self.need :]
            self.need = None
            self.load.latencies.append(time.perf_counter() - self.sent_at)
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _PythonLoad:
    def __init__(self, host: str, port: int, paths: Sequence[str], seconds: float, limit: int):
        self.host, self.port = host, port
        self.requests = [
            f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept-Encoding: identity\r\n\r\n".encode()
            for p in paths
        ]
        self.seconds, self.limit = seconds, limit
        self.issued = 0
        self.deadline = 0.0
        self.latencies: list[float] = []
        self.errors = 0
        self.hits = 0

    def next_request(self) -> bytes | None:
        if self.issued >= self.limit or time.perf_counter() >= self.deadline:
            return None
        request = self.requests[self.issued % len(self.requests)]
        self.issued += 1
        return request

    def record_head(self, head: bytes) -> None:
        if not head.startswith(b"http/1.1 200"):
            self.errors += 1
        if re.search(rb"\r\nx-cache(-status)?: *hit", head):
            self.hits += 1

    async def run(self, connections: int) -> float:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        self.deadline = start + self.seconds
        conns = []
        for _ in range(connections):
            _, protocol = await loop.create_connection(
                lambda: _Connection(self), self.host, self.port
            )
            conns.append(protocol)
        await asyncio.gather(*(c.closed for c in conns))
        return time.perf_counter() - start


def _python_load(
    url: str, paths: Sequence[str], seconds: float, connections: int, limit: int
) -> tuple[int, float, int, int, list[float]]:
    host, port = url.removeprefix("http://").split(":")
    load = _PythonLoad(host, int(port), paths, seconds, limit)
    elapsed = asyncio.run(load.run(connections))
    return len(load.latencies), elapsed, load.errors, load.hits, load.latencies


WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "identity"})
end
"""


def _wrk_load(
    wrk: str, url: str, paths: Sequence[str], seconds: float, connections: int
) -> tuple[int, float, int, float | None, float | None]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % ", ".join(f'"{p}"' for p in paths))
    try:
        done = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        )
    finally:
        os.unlink(script.name)
    out = done.stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    elapsed = float(total.group(2)) * (0.001 if total.group(3) == "ms" else 1.0)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))

    def pct(label: str) -> float | None:
        found = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if found is None:
            return None
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return float(found.group(1)) * scale

    return int(total.group(1)), elapsed, errors, pct("50"), pct("99")


# -- one run -------------------------------------------------------------------------------


def measure(kind: str, args: argparse.Namespace, wrk: str | None) -> Result:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"the {kind} edge did not start")
        started = json.loads(line)
        url, pids = started["url"], started["pids"]
        paths = [f"/v1/log/entry/{i}" for i in range(HOT)]
        # Fill the cache: every hot entry once (misses), then the loop reads hits only.
        _python_load(url, paths, 30.0, 8, len(paths))
        cpu_before = _cpu_seconds(pids)
        if wrk is not None:
            n, elapsed, errors, p50, p99 = _wrk_load(
                wrk, url, paths, args.seconds, args.connections
            )
            cpu = _cpu_seconds(pids) - cpu_before
            # wrk does not read headers: a short sample after it says whether reads hit.
            sampled, _, _, hits, _ = _python_load(url, paths, 5.0, 4, len(paths))
            hit_share = hits * n // max(1, sampled)
            return Result(kind, n, elapsed, errors, hit_share, p50, p99, cpu)
        n, elapsed, errors, hits, latencies = _python_load(
            url, paths, args.seconds, args.connections, args.max_requests
        )
        cpu = _cpu_seconds(pids) - cpu_before
        latencies.sort()

        def pct(q: float) -> float | None:
            if not latencies:
                return None
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

        return Result(kind, n, elapsed, errors, hits, pct(0.50), pct(0.99), cpu)
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per edge")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=500_000, help="cap per edge")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--edges", default="builtin,nginx", help="comma-separated")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # The repo's tlogcheck, also when the distribution is not installed.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.serve:
        serve(args.serve)
        return 0

    from tlogcheck.refstack.nginx import nginx_available

    wrk = shutil.which("wrk") if args.load in ("auto", "wrk") else None
    if args.load == "wrk" and wrk is None:
        print("wrk is not installed; using the Python load generator")
    pinned = _pin(LOAD_CPU)
    command = " ".join(["python", "benchmarks/bench_edge.py", *(argv or sys.argv[1:])])
    print(f"command: {command}")
    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load1:.2f} (1 min) {load5:.2f} (5 min)")
    print(
        f"cached reads of {HOT} entries (of {ENTRIES}) on loopback; "
        + (
            f"edge pinned to CPU {EDGE_CPU}, load to CPU {LOAD_CPU}; "
            if pinned
            else "no CPU pinning (fewer than 2 CPUs); "
        )
        + f"{args.connections} keep-alive connections, {args.seconds:g} s per edge; "
        + ("load: wrk" if wrk else "load: Python asyncio client")
    )
    results: list[Result] = []
    for kind in args.edges.split(","):
        if kind == "nginx" and nginx_available() is None:
            print("nginx: skipped, nginx is not installed (apt-get install nginx)")
            continue
        results.append(measure(kind, args, wrk))

    def ms(value: float | None) -> str:
        return f"{value:.2f}" if value is not None else "-"

    print(
        f"{'edge':<8} {'requests':>9} {'seconds':>8} {'req/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'errors':>6} {'hit %':>6} {'edge cpu s':>10} {'req/cpu-s':>9}"
    )
    for r in results:
        hit = f"{100 * r.hits / r.requests:.1f}" if r.requests else "-"
        print(
            f"{r.edge:<8} {r.requests:>9} {r.seconds:>8.2f} {r.rate:>8.0f} "
            f"{ms(r.p50_ms):>7} {ms(r.p99_ms):>7} {r.errors:>6} {hit:>6} "
            f"{r.cpu_seconds:>10.2f} {r.per_cpu_second:>9.0f}"
        )
    builtin = next((r for r in results if r.edge == "builtin"), None)
    if builtin is not None:
        verdict = "meets" if builtin.rate >= TARGET else "misses"
        print(
            f"builtin edge {verdict} the target of {TARGET} req/s on one core: "
            f"{builtin.rate:.0f} req/s, {builtin.per_cpu_second:.0f} per CPU-second of the edge"
        )
    if wrk is None and any(r.edge == "nginx" for r in results):
        print(
            "note: the Python load generator (one core) bounds the nginx figure; "
            "install wrk for nginx's own"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
