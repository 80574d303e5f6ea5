"""Client CPU per request: `TLogClient.get` beside bare `httpcore` in the same run.

    .venv/bin/python benchmarks/bench_client.py [--requests N] [--profile] [--verdict]

Both read `/v1/log/entry/{i}` (~180-byte bodies) one request at a time over one
keep-alive connection to the reference origin, served by a subprocess so its CPU is not
counted. CPU is this process's `time.process_time()` per request; the two alternate in
rounds so machine noise falls on both. What `TLogClient.get` adds on top of httpcore is
the deadline-enforcing socket layer, httpx's request/response objects, the capped body
read, the retry loop, the memo key and the release bookkeeping; `--profile` prints where
it goes (cProfile, by own time).

`--verdict`: wall time of the functional suite (`-m "not load"`, `--tlog-timeout 5`) to
its verdict against the embedded deployment with a hung root (`hang:/v1/log/root`) and a
trickled one (`trickle:/v1/log/root`), beside the healthy run in the same session.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import sys
import time

import httpcore

from tlogcheck.client import TLogClient
from tlogcheck.refstack.stack import start_stack
from tlogcheck.runs import run_suite
from tlogcheck.spec import entry_path

ENTRIES = 1024


def bare_httpcore(base: str, paths: list[str]) -> float:
    """CPU seconds per request of httpcore alone: one pool, one connection, body read."""
    with httpcore.ConnectionPool(max_connections=1) as pool:
        pool.request("GET", base + paths[0])  # connect outside the measure
        start = time.process_time()
        for path in paths:
            r = pool.request(
                "GET",
                base + path,
                headers=[(b"Accept-Encoding", b"identity"), (b"User-Agent", b"bench")],
            )
            assert r.status == 200
        return (time.process_time() - start) / len(paths)


def tlog_client(base: str, paths: list[str]) -> float:
    with TLogClient(base, timeout=10, concurrency=1) as client:
        client.get(paths[0])
        start = time.process_time()
        for path in paths:
            assert client.get(path).status == 200
        return (time.process_time() - start) / len(paths)


def profile(base: str, paths: list[str]) -> str:
    with TLogClient(base, timeout=10, concurrency=1) as client:
        client.get(paths[0])
        prof = cProfile.Profile()
        prof.enable()
        for path in paths:
            client.get(path)
        prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
    return out.getvalue()


def verdicts() -> None:
    print("\ntime to a verdict, functional suite, --tlog-timeout 5 (wall, start included)")
    for label, fault in (
        ("healthy", None),
        ("hung root", "hang:/v1/log/root"),
        ("trickled root", "trickle:/v1/log/root"),
    ):
        args = ["-m", "not load", "--tlog-timeout=5"]
        if fault:
            args.append(f"--tlog-embedded-fault={fault}")
        run = run_suite(args)
        failed = run.report.get("summary", {}).get("counts", {}).get("failed", "?")
        print(f"  {label:<14} exit {run.exitstatus}  {run.seconds:6.1f} s  ({failed} failed)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--verdict", action="store_true")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    print("command: python benchmarks/bench_client.py " + " ".join(sys.argv[1:]))
    paths = [entry_path(i % ENTRIES) for i in range(args.requests)]
    with start_stack(entries=ENTRIES, subprocess=True) as stack:
        base = stack.info.origin_url
        ours: list[float] = []
        bare: list[float] = []
        for _ in range(args.rounds):
            bare.append(bare_httpcore(base, paths))
            ours.append(tlog_client(base, paths))
        best_ours, best_bare = min(ours), min(bare)
        print(f"\n{args.requests} sequential GETs x {args.rounds} rounds, best round:")
        print(f"  TLogClient.get   {best_ours * 1e3:7.3f} ms CPU per request")
        print(f"  bare httpcore    {best_bare * 1e3:7.3f} ms CPU per request (same run)")
        print(
            f"  overhead         {(best_ours - best_bare) * 1e3:7.3f} ms per request "
            f"({best_ours / best_bare:.2f}x); target: TLogClient.get <= 1.0 ms"
        )
        if args.profile:
            print("\nwhere TLogClient.get's time goes (cProfile, own time):")
            print(profile(base, paths[: min(len(paths), 2000)]))
    if args.verdict:
        verdicts()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
