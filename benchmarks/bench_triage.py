"""Triage: what each alert's triage costs, on a healthy and on a hung deployment, and how
fast Ctrl-C gives the findings back.

1. `tlogcheck triage ALERT` (a subprocess each) against the embedded reference
   deployment (1,024 entries), healthy, for each of the five alerts: wall time.
   Baseline: the functional suite against the same deployment (`-m "not load"`).
2. The same against `hang:/healthz` and `hang:/v1/log/root` with `--tlog-timeout 1`
   (deadline 3 s a request): wall time to the verdict, and the exit status.
3. Ctrl-C while /healthz hangs (`--tlog-timeout 30`, a 90-s deadline): SIGINT -> exit
   130, median over RUNS.

    .venv/bin/python benchmarks/bench_triage.py [RUNS]
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tlogcheck.playbook import ALERTS  # noqa: E402
from tlogcheck.refstack.stack import start_stack  # noqa: E402
from tlogcheck.runs import run_suite  # noqa: E402

ENTRIES = 1024


def triage(url: str, alert: str, *extra: str) -> tuple[float, int]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tlogcheck", "triage", alert, "--tlog-url", url, *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return time.monotonic() - start, done.returncode


def interrupted(url: str) -> float:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlogcheck", "triage", "TLogAvailabilityDown",
         "--tlog-url", url, "--tlog-timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stderr is not None
    for _ in range(2):  # the two Kubernetes steps, skipped: /healthz is asked next
        proc.stderr.readline()
    time.sleep(1)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 130, proc.returncode
    return time.monotonic() - sent


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"1. healthy, {ENTRIES} entries (a subprocess each)")
    with start_stack(entries=ENTRIES) as stack:
        url = stack.info.edge_url
        suite = run_suite(["--tlog-url", url, "-m", "not load"])
        print(f"   baseline: functional suite   {suite.seconds:6.2f}s (exit {suite.exitstatus})")
        for alert in ALERTS:
            took, code = triage(url, alert)
            print(f"   triage {alert:<24} {took:6.2f}s (exit {code})")
    print("2. hung, --tlog-timeout 1 (deadline 3 s a request)")
    for fault, alert in (
        ("hang:/healthz", "TLogAvailabilityDown"),
        ("hang:/v1/log/root", "TLogAvailabilityDown"),
        ("hang:/v1/log/root", "TLogInclusionProofFail"),
    ):
        with start_stack(entries=ENTRIES, faults=[fault]) as stack:
            took, code = triage(stack.info.edge_url, alert, "--tlog-timeout", "1")
            print(f"   {fault:<18} triage {alert:<24} {took:6.2f}s (exit {code})")
    print(f"3. Ctrl-C while /healthz hangs (deadline 90 s), {runs} runs")
    with start_stack(entries=ENTRIES, faults=["hang:/healthz"]) as stack:
        times = [interrupted(stack.info.edge_url) for _ in range(runs)]
    print(f"   SIGINT -> exit 130: median {statistics.median(times):.2f}s, max {max(times):.2f}s")


if __name__ == "__main__":
    main()
