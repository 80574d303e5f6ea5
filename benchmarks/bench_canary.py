"""What a canary costs the suite at the public edge: wall time and requests per weight.

    .venv/bin/python benchmarks/bench_canary.py [ROUNDS]

For each canary weight, ROUNDS fresh reference deployments (256 stable entries, the
canary at 300) and one functional run of the suite (`-m "not load"`, sample 16) through
the public edge, no release expected. Baseline: the same runs against a deployment
without a canary, measured in the same process. Figures: the verdicts, wall time and
responses per run (from the JSON report's release mix). During a canary a request for
the newer tree that reaches a pod of the older release is asked again
(`facts.answered_by`), so the request count grows when the edge shows the canary's root
while most pods are stable. Asserts nothing.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections import Counter

from tlogcheck.refstack.stack import start_stack
from tlogcheck.runs import run_suite

WEIGHTS = (None, 10, 50, 90)


def one(weight: int | None) -> tuple[int, float, int, str]:
    with start_stack(
        entries=256,
        canary_entries=None if weight is None else 300,
        canary_weight=weight or 0,
        subprocess=False,
    ) as stack:
        run = run_suite(
            [
                f"--tlog-url={stack.info.edge_url}",
                f"--tlog-vkey={stack.info.vkey}",
                "--tlog-sample=16",
                "-m",
                "not load",
            ]
        )
    releases = run.report.get("releases", {})
    dominant = max(releases, key=releases.get) if releases else "-"
    return run.exitstatus, run.seconds, sum(releases.values()), dominant


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"$ .venv/bin/python benchmarks/bench_canary.py {rounds}")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {rounds} rounds a row")
    print(f"{'canary weight':<16}{'exit 0':>8}{'wall median':>13}{'wall max':>10}"
          f"{'responses median':>18}{'max':>7}  most responses from")  # fmt: skip
    for weight in WEIGHTS:
        runs = [one(weight) for _ in range(rounds)]
        walls = [r[1] for r in runs]
        counts = [r[2] for r in runs]
        passed = sum(1 for r in runs if r[0] == 0)
        label = "none (baseline)" if weight is None else f"{weight} %"
        dominant = Counter(r[3] for r in runs).most_common()
        print(
            f"{label:<16}{passed:>5}/{rounds:<2}{statistics.median(walls):>12.2f}s"
            f"{max(walls):>9.2f}s{statistics.median(counts):>18.0f}{max(counts):>7}  "
            + ", ".join(f"{rel} x{n}" for rel, n in dominant),
            flush=True,
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
