"""What one load-generator core sustains against the embedded edge: FastHttpUser vs HttpUser.

The same profile (tlogcheck.load.profile, back-to-back reads: TLOG_LOAD_WAIT=0) runs
in one locust process, once with FastHttpUser (geventhttpclient) and once with HttpUser
(requests), against one embedded stack in its own process. For each: requests/s, the
CPU the locust process used (from the children's rusage), requests per CPU-second of
the generator, and the p50/p95/p99 locust measured. The target shares this machine, so
when the generator's CPU stays well under 100 % the edge, not the generator, was the
limit; requests per generator CPU-second (net of locust's start-up, measured in the same
run with a one-request phase) is the figure that carries over to a real target.

    .venv/bin/python benchmarks/bench_load.py [--seconds 10] [--users 32] [--entries 2048]

Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from typing import Literal

from tlogcheck.load.runner import LoadResult, LoadSettings, run_load
from tlogcheck.refstack.stack import start_stack


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    url: str, client: Literal["fast", "http"], seconds: int, users: int, cap: int = 10_000_000
) -> tuple[LoadResult, float, float]:
    settings = LoadSettings(
        duration=seconds,
        users=users,
        spawn_rate=float(users),
        max_requests=cap,
        client=client,
        profile_env={"TLOG_LOAD_WAIT": "0", "TLOG_LOAD_SEED": "1"},
    )
    cpu0, wall0 = children_cpu(), time.monotonic()
    result = run_load(url, settings)
    return result, children_cpu() - cpu0, time.monotonic() - wall0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--entries", type=int, default=2048)
    args = parser.parse_args()
    command = " ".join(["python", *sys.argv])
    print(f"command: {command}")
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    with start_stack(entries=args.entries, subprocess=True) as stack:
        url = stack.info.edge_url
        print(f"target:  embedded edge {url} ({stack.info.edge_kind}), {args.entries} entries")
        measure(url, "fast", 3, args.users)  # warm the edge cache for both runs
        rows = []
        for client in ("fast", "http"):
            # One request: the CPU of starting and stopping locust, netted out below.
            _, idle_cpu, _ = measure(url, client, 1, 1, cap=1)
            result, cpu, wall = measure(url, client, args.seconds, args.users)
            rows.append((client, result, cpu, max(cpu - idle_cpu, 1e-9), wall))
    user = {"fast": "FastHttpUser", "http": "HttpUser"}
    print(f"load average after the runs: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"\n{'client':<13} {'users':>5} {'requests':>9} {'req/s':>8} {'gen CPU':>8} "
        f"{'req/CPU-s':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>7}"
    )
    for client, r, cpu, net_cpu, wall in rows:
        t = r.total
        # gen CPU: the locust process over its whole life; req/CPU-s: net of start-up.
        share = cpu / wall if wall else 0.0
        print(
            f"{user[client]:<13} {args.users:>5} {t.requests:>9} {r.rps:>8.0f} {share:>8.0%} "
            f"{t.requests / net_cpu:>10.0f} {t.percentile(0.5):>7} "
            f"{t.percentile(0.95):>7} {t.percentile(0.99):>7} {t.error_rate:>7.2%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
