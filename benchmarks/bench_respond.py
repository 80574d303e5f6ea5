"""Respond and report: what the invalidation hook, the drafts and the daily checklist cost.

1. Hook start after the abort: pytest (a subprocess per run) with the gate armed against
   the Kubernetes API stand-in and `--gate-invalidate true`, on a module whose test
   fails; from the JSON report: the abort request's send time -> the hook's start, and
   the hook's own run time. Baseline in the same run: `run_invalidation("true")` alone.
2. Drafting the notice and the RCA from a report (tests/incident/reports), per draft.
   Baseline: `json.load` of the same two reports.
3. `tlogcheck checklist daily` against the embedded deployment (10-s load phase), wall
   time. Baseline: the load phase alone (`run_load`, same settings). The playbook's
   budget is five minutes.

    .venv/bin/python benchmarks/bench_respond.py [HOOK_RUNS [DRAFTS]]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.k8s_standin import K8sStandIn  # noqa: E402
from tlogcheck.gate.invalidate import run_invalidation  # noqa: E402
from tlogcheck.incident import notice, rca, reports  # noqa: E402

TOKEN = "bench-token-7a1c"
MODULE = """
import pytest

@pytest.mark.gate
@pytest.mark.root
def test_fails():
    assert "5d1e" == "9a0b"
"""


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def hook_runs(n: int) -> None:
    delays, durations = [], []
    with K8sStandIn(token=TOKEN) as s, tempfile.TemporaryDirectory() as tmp:
        kc = s.write_kubeconfig(Path(tmp) / "kubeconfig")
        (Path(tmp) / "test_fail.py").write_text(MODULE)
        env = {**os.environ, "KUBECONFIG": str(kc)}
        for i in range(n):
            s.seed_rollout()
            rep = Path(tmp) / f"r{i}.json"
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "--tlog-url", "http://127.0.0.1:9", "--rollout", "tlog-ro",
                   "--gate-invalidate", "true", "--tlog-report-json", str(rep),
                   "test_fail.py"]  # fmt: skip
            subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, timeout=300, check=False)
            gate = json.loads(rep.read_text())["gate"]
            sent = gate["outcome"]["requests"][0]["sent_at"]
            inv = gate["invalidation"]
            delays.append((ts(inv["started_at"]) - sent) * 1000)
            durations.append((ts(inv["finished_at"]) - ts(inv["started_at"])) * 1000)
    alone = []
    for _ in range(n):
        r = run_invalidation("true", {}, 30)
        assert r.started_at is not None and r.finished_at is not None
        alone.append((r.finished_at - r.started_at) * 1000)
    print(
        f"hook: abort request -> hook start: median {statistics.median(delays):.1f} ms, "
        f"max {max(delays):.1f} ms over {n} runs (ms resolution of the report's times)"
    )
    print(
        f"hook: `true` in the gate: median {statistics.median(durations):.1f} ms; "
        f"baseline run_invalidation('true') alone: {statistics.median(alone):.1f} ms"
    )


def drafts(n: int) -> None:
    paths = [
        ROOT / "tests/incident/reports/failing.json",
        ROOT / "tests/incident/reports/passing.json",
    ]
    start = time.perf_counter()
    for _ in range(n):
        for p in paths:
            json.loads(p.read_text())
    base = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        inc = reports.incident([reports.load_report(p) for p in paths])
        notice.render(inc, "ko")
        rca.render(inc, "ko")
    took = (time.perf_counter() - start) / n
    print(
        f"drafts: load two reports + notice + RCA: {took * 1000:.2f} ms; "
        f"baseline json.loads of the two reports: {base * 1000:.2f} ms ({took / base:.1f}x)"
    )


def daily() -> None:
    from tlogcheck.load.runner import LoadSettings, run_load
    from tlogcheck.refstack.stack import start_stack

    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tlogcheck", "checklist", "daily", "--tlog-embedded-entries=2048",
         "--load-seconds", "10", "--format", "json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    wall = time.monotonic() - start
    verdict = json.loads(done.stdout)["verdict"]
    with start_stack(entries=2048) as stack:
        start = time.monotonic()
        run_load(stack.info.edge_url, LoadSettings(duration=10, users=10, max_requests=20_000))
        load = time.monotonic() - start
    print(
        f"daily checklist: {wall:.1f} s wall ({verdict}); baseline the 10-s load phase "
        f"alone: {load:.1f} s; budget 300 s"
    )


if __name__ == "__main__":
    hook_runs(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    drafts(int(sys.argv[2]) if len(sys.argv) > 2 else 200)
    daily()
