"""How long the suite takes, and how much faster its concurrent inclusion check is than a
sequential verifier like the playbook's `verify_client.py` loop. Prints, asserts nothing.

    .venv/bin/python benchmarks/bench_suite.py [--quick]

1. The whole functional suite (`-m "not load"`) against the embedded deployment with
   default options (2048 entries, sample 64), serially and with `-n 2`: wall time of the
   `pytest` process, deployment start included.
2. `--tlog-sample 1000` against a deployment that adds 20 ms to every response
   (`latency:20`): the suite's inclusion check (entry + proof per index, concurrently)
   side by side with a sequential verifier that asks one request at a time (root once,
   then entry and proof of each index, verified like verify_client.py). Both run on the
   same deployment, the same indices, after one warm-up pass so both meet a warm cache.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from tlogcheck import merkle
from tlogcheck.client import TLogClient
from tlogcheck.refstack.stack import start_stack
from tlogcheck.runs import run_suite
from tlogcheck.spec import entry_path, parse_inclusion, proof_path
from tlogcheck.verify import Tree, read_root, verify_inclusions
from tlogcheck.verify.sampling import sample_indices

SEED = 20240101


def whole_suite(rounds: int) -> None:
    print("\n1. whole functional suite, embedded deployment, defaults")
    print(f"   command: pytest --pyargs tests_synthetic -m 'not load' [-n 2]   ({rounds} rounds)")
    for label, extra in (("serial", []), ("-n 2", ["-n", "2"])):
        times = []
        for _ in range(rounds):
            run = run_suite(["-m", "not load", *extra])
            if run.exitstatus != 0:
                print(run.output[-3000:])
                raise SystemExit(f"the healthy suite failed ({label})")
            times.append(run.seconds)
        tests = run.report["summary"]["counts"]
        print(
            f"   {label:<7} wall {min(times):6.2f}s best / {sum(times) / len(times):6.2f}s mean"
            f"   ({tests['passed']} passed, {tests['skipped']} skipped)"
        )


def sequential_verifier(client: TLogClient, indices: list[int]) -> float:
    """One request at a time: the root, then entry + proof of each index, verified."""
    start = time.monotonic()
    root = read_root(client.get("/v1/log/root"))
    for i in indices:
        entry = client.get(entry_path(i))
        proof = parse_inclusion(client.get(proof_path(i, root.tree_size)).body)
        leaf = merkle.leaf_hash(entry.body)
        merkle.verify_inclusion(leaf, i, root.tree_size, proof.audit_path, root.root_hash)
    return time.monotonic() - start


def sample_1000(latency_ms: int, sample: int) -> None:
    print(f"\n2. --tlog-sample {sample} against latency:{latency_ms} (+{latency_ms} ms a response)")
    with start_stack(entries=2048, faults=[f"latency:{latency_ms}"]) as stack:
        info = stack.info
        with TLogClient(info.edge_url) as client:
            root = read_root(client.get("/v1/log/root"))
            tree = Tree(root.tree_size, root.root_hash)
            indices = sample_indices(root.tree_size, sample, SEED)
            verify_inclusions(client, indices, tree)  # warm-up: both measure a warm cache
            start = time.monotonic()
            results = verify_inclusions(client, indices, tree)
            concurrent = time.monotonic() - start
            assert all(r.ok for r in results)
        with TLogClient(info.edge_url, concurrency=1) as client:
            sequential = sequential_verifier(client, indices)
        run = run_suite(
            [
                f"--tlog-url={info.edge_url}",
                f"--tlog-vkey={info.vkey}",
                f"--tlog-sample={sample}",
                f"--tlog-seed={SEED}",
                "-m",
                "inclusion",
                "-k",
                "sampled_entries",
            ]
        )
        if run.exitstatus != 0:
            print(run.output[-3000:])
            raise SystemExit("the inclusion check failed")
        test = run.report["checks"]["inclusion"]["tests"][0]
    n = len(indices)
    print(f"   indices: {n} (edges + {sample} uniform, seed {SEED}), 2 requests each")
    print(f"   {'sequential verifier (one request at a time)':<46} {sequential:7.2f}s")
    print(f"   {'suite inclusion check (concurrent, in-process)':<46} {concurrent:7.2f}s")
    print(f"   {'  the same, as a pytest test (call phase)':<46} {test['duration']:7.2f}s")
    print(f"   {'  the same, whole pytest process':<46} {run.seconds:7.2f}s")
    print(f"   speed-up (sequential / concurrent): {sequential / concurrent:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, sample 200")
    args = parser.parse_args()
    print(
        f"command: {os.path.basename(sys.executable)} benchmarks/bench_suite.py"
        + (" --quick" if args.quick else "")
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    whole_suite(1 if args.quick else 3)
    sample_1000(20, 200 if args.quick else 1000)


if __name__ == "__main__":
    main()
