"""How long after a failing test the gate's abort reaches the API server.

Runs pytest (a subprocess per run, as CI does) with the gate armed against the
Kubernetes API stand-in of tests/k8s_standin.py, on a module whose second test
fails, serially and under `-n 4`; reads the times from the JSON report and the
stand-in's log:

    test end      the failing test's report `stop` (on the worker under xdist)
    report        the controller's pytest_runtest_logreport got the report
    sent          the kubernetes client was called for the abort
    arrival       the stand-in read the PATCH of rollouts/status

Baseline, measured in the same run: the same abort PATCH sent directly with the
same client (warm), i.e. the request alone. Asserts nothing.

    .venv/bin/python benchmarks/bench_gate.py [SERIAL_RUNS [XDIST_RUNS]]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from k8s_standin import K8sStandIn  # noqa: E402

from tlogcheck.gate import argo as gate  # noqa: E402
from tlogcheck.gate.kube import load_access  # noqa: E402

TOKEN = "bench-token-0f9e8d7c6b5a"
MODULE = """
import pytest

def test_first_passes():
    pass

@pytest.mark.gate
@pytest.mark.root
def test_then_one_fails():
    assert "5d1e" == "9a0b"

@pytest.mark.gate
def test_later_ones_fail_too():
    assert False
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def row(name: str, values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    return (
        f"  {name:<34} median {statistics.median(ms):7.1f} ms   p95 {pct(ms, 0.95):7.1f} ms"
        f"   max {max(ms):7.1f} ms   (n={len(ms)})"
    )


def one_run(standin: K8sStandIn, workdir: Path, extra: list[str]) -> dict[str, float]:
    standin.seed_rollout()
    with standin._lock:  # a fresh log per run
        standin.requests.clear()
        standin.events.clear()
    report = workdir / "report.json"
    report.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(workdir),
        "--rootdir", str(workdir), "--tlog-url", "http://127.0.0.1:9",
        "--rollout", "tlog-ro", "--tlog-report-json", str(report), *extra,
    ]  # fmt: skip
    subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=180, check=False)
    g = json.loads(report.read_text())["gate"]
    trig, first = g["triggered_by"], g["outcome"]["requests"][0]
    arrivals = [r.at for r in standin.requests if r.path.endswith("/rollouts/tlog-ro/status")]
    if len(arrivals) != 1:
        raise SystemExit(f"expected exactly one abort, the stand-in saw {len(arrivals)}")
    return {
        "test end -> report": trig["received_at"] - trig["report_stop"],
        "report -> client call": first["sent_at"] - trig["received_at"],
        "client call -> arrival": arrivals[0] - first["sent_at"],
        "test end -> arrival (total)": arrivals[0] - trig["report_stop"],
    }


def main() -> None:
    serial_runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    xdist_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(f"$ .venv/bin/python benchmarks/bench_gate.py {serial_runs} {xdist_runs}")
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp, K8sStandIn(token=TOKEN) as standin:
        workdir = Path(tmp)
        (workdir / "test_bench_gate.py").write_text(MODULE)
        os.environ["KUBECONFIG"] = str(standin.write_kubeconfig(workdir / "kubeconfig"))

        standin.seed_rollout()
        direct = gate.RolloutGate("tlog-ro", "tlog", access=load_access())
        direct.abort()  # warm: imports and the client's first-call validation
        baseline = []
        for _ in range(serial_runs):
            started = time.perf_counter()
            direct.abort()
            baseline.append(time.perf_counter() - started)
        direct.close()

        results: dict[str, list[dict[str, float]]] = {"serial": [], "-n 4": []}
        deadline = time.monotonic() + 600
        for label, extra, count in (("serial", [], serial_runs), ("-n 4", ["-n", "4"], xdist_runs)):
            for _ in range(count):
                if time.monotonic() > deadline:
                    break
                results[label].append(one_run(standin, workdir, extra))

    print("baseline: the abort PATCH alone, same client, warm")
    print(row("client call -> response", baseline))
    for label, runs in results.items():
        if not runs:
            continue
        print(f"gate in pytest ({label}):")
        for key in runs[0]:
            print(row(key, [r[key] for r in runs]))


if __name__ == "__main__":
    main()
