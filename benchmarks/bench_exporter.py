"""The exporter's cost: a default probe's time, CPU per probe at 100 targets scraped every
15 s on one core, and memory whatever the targets serve; each beside a baseline measured
in the same run.

    .venv/bin/python benchmarks/bench_exporter.py [--seconds 60] [--targets 100]

The reference deployment runs in subprocesses (4 stacks of 1,024 entries, builtin edge)
and the exporter in another, pinned to one CPU, so each CPU figure is the exporter's own
(read from /proc). A "target" is a (module, target) pair: 25 modules of the same settings
on each of the 4 stacks, so each pair has its own clients, connections and remembered
tree, as 100 deployments would.

1. a default probe (health, root, checkpoint, inclusion of the 4 newest entries and a
   sample of 8, parity, cache, consistency, and the 16-read errors sample): wall time
   of 20 warm probes, one at a time; baseline: the same number of plain GETs of the
   deployment, sequential, with a bare httpx client (what reading alone costs);
2. 100 targets, each probed every 15 s (spread evenly) for `--seconds`, as Prometheus
   would: the exporter's CPU per probe and its share of one core; baseline: the
   exporter idle for the same time;
3. memory: the exporter's resident set after start, after the run above, and its peak
   after 3 rounds of 16 concurrent probes of a target answering 1 MiB entries, with the
   default body cap (1 MiB: every entry refused) and then a module whose cap is 1.06 MiB
   (every entry read whole: the worst a target can do under a cap; each probe stops at
   its 8 MiB budget).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tlogcheck.refstack.server import free_port
from tlogcheck.refstack.stack import RunningStack, start_stack

MODULES_PER_STACK = 25
STACKS = 4
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def memory(pid: int, key: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1)) / 1024  # type: ignore[union-attr]


def write_config(path: Path, vkey: str) -> None:
    lines = ["modules:"]
    for n in range(MODULES_PER_STACK):
        lines += [f"  m{n}:", f"    vkey: ['{vkey}']"]
    lines += ["  big:", f"    vkey: ['{vkey}']", "    max_body: 1114112"]
    path.write_text("\n".join(lines) + "\n")


def start_exporter(config: Path, state: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlogcheck", "exporter", "--config", str(config), "--listen",
         f"127.0.0.1:{port}", "--state-dir", str(state), "--vantage", "bench",
         "--max-concurrent-probes", "8"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/-/healthy", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"the exporter did not start: {log.read_text()}")


def probe(url: str, target: str, module: str, debug: bool = False) -> httpx.Response:
    params = {"target": target, "module": module, **({"debug": "true"} if debug else {})}
    return httpx.get(url + "/probe", params=params, timeout=30,
                     headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})  # fmt: skip


def default_probe(url: str, target: str) -> None:
    probe(url, target, "m0")  # cold: connections, first tree remembered
    walls, reads = [], []
    for _ in range(20):
        text = probe(url, target, "m0", debug=True).text
        assert ": success in " in text, text[:2000]
        walls.append(float(re.search(r"success in ([0-9.]+)s", text).group(1)))  # type: ignore[union-attr]
        reads.append(int(re.search(r"(\d+) answers read", text).group(1)))  # type: ignore[union-attr]
    n = int(statistics.median(reads))
    paths = ["/healthz", "/v1/log/root", "/v1/log/checkpoint"] + [
        f"/v1/log/entry/{i % 1024}" for i in range(n - 3)
    ]
    with httpx.Client(base_url=target) as plain:
        plain.get(paths[0])
        start = time.perf_counter()
        for p in paths:
            plain.get(p)
        bare = time.perf_counter() - start
    print(f"default probe, warm, 20 probes: median {statistics.median(walls) * 1000:.0f} ms, "
          f"max {max(walls) * 1000:.0f} ms, {n} answers read")  # fmt: skip
    print(f"  baseline: {n} plain sequential GETs of the same deployment, bare httpx: "
          f"{bare * 1000:.0f} ms")  # fmt: skip


def hundred_targets(url: str, pid: int, stacks: list[RunningStack], seconds: float,
                    count: int) -> None:  # fmt: skip
    pairs = [(s.info.edge_url, f"m{n}") for s in stacks for n in range(MODULES_PER_STACK)]
    pairs = pairs[:count]
    for target, module in pairs:  # each remembers its tree once, outside the measure
        probe(url, target, module)
    idle_start = cpu_seconds(pid)
    time.sleep(min(10.0, seconds / 4))
    idle = (cpu_seconds(pid) - idle_start) / min(10.0, seconds / 4)
    results: list[tuple[float, bool]] = []
    lock = threading.Lock()
    period = 15.0

    def scrape(target: str, module: str, at: float) -> None:
        time.sleep(max(0.0, at - time.monotonic()))
        start = time.monotonic()
        text = probe(url, target, module).text
        with lock:
            results.append((time.monotonic() - start, "probe_success 1.0" in text))

    start_cpu, start = cpu_seconds(pid), time.monotonic()
    threads = []
    rounds = max(1, int(seconds // period))
    for r in range(rounds):
        for i, (target, module) in enumerate(pairs):
            at = start + r * period + i * period / len(pairs)
            t = threading.Thread(target=scrape, args=(target, module, at), daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    cpu = cpu_seconds(pid) - start_cpu
    ok = sum(1 for _, s in results if s)
    walls = sorted(d for d, _ in results)
    per_probe = cpu / len(results)
    print(f"{len(pairs)} targets every {period:g} s for {wall:.0f} s: {len(results)} probes, "
          f"{ok} succeeded; probe wall p50 {walls[len(walls) // 2] * 1000:.0f} ms, "
          f"max {walls[-1] * 1000:.0f} ms")  # fmt: skip
    print(f"  exporter CPU {cpu:.1f} s = {cpu / wall:.0%} of one core; "
          f"{per_probe * 1000:.1f} ms CPU per probe; one core holds about "
          f"{period / per_probe:.0f} targets at a 15-s interval")  # fmt: skip
    print(f"  baseline: the exporter idle, {idle:.1%} of one core")


def hostile_memory(url: str, pid: int, target: str) -> None:
    for module, what in (("m0", "the default 1 MiB cap: each refused"),
                         ("big", "a 1.06 MiB cap: each read whole")):  # fmt: skip
        for _ in range(3):
            threads = [threading.Thread(target=probe, args=(url, target, module))
                       for _ in range(16)]  # fmt: skip
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        print(f"  after 3 x 16 concurrent probes of a target answering 1 MiB entries, "
              f"{what}: resident {memory(pid, 'VmRSS'):.0f} MiB, "
              f"peak {memory(pid, 'VmHWM'):.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--targets", type=int, default=STACKS * MODULES_PER_STACK)
    args = parser.parse_args()
    print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; the exporter pinned to CPU 0")  # fmt: skip
    stacks = [start_stack(entries=1024) for _ in range(STACKS)]
    hostile = start_stack(entries=64, faults=["oversize-body:1"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-exporter-"))
    try:
        write_config(tmp / "exporter.yaml", stacks[0].info.vkey)
        proc, url = start_exporter(tmp / "exporter.yaml", tmp / "state", tmp / "exporter.log")
        try:
            print(f"memory: the exporter at start, resident {memory(proc.pid, 'VmRSS'):.0f} MiB")
            default_probe(url, stacks[0].info.edge_url)
            hundred_targets(url, proc.pid, stacks, args.seconds, args.targets)
            print(f"memory: after the run, resident {memory(proc.pid, 'VmRSS'):.0f} MiB, "
                  f"peak {memory(proc.pid, 'VmHWM'):.0f} MiB")  # fmt: skip
            hostile_memory(url, proc.pid, hostile.info.edge_url)
        finally:
            proc.terminate()
            proc.wait(15)
    finally:
        for s in [*stacks, hostile]:
            s.close()


if __name__ == "__main__":
    main()
