"""Regenerate the sample reports of tests/incident/reports from real runs of the suite.

    .venv/bin/python -m tests.incident.make_reports

One reference deployment (1,024 entries, served on loopback) is checked by the suite as
a user checks a deployment (`--tlog-url`, with its key and db.jsonl), its faults switched
between runs and the edge purged (so a fault is served, not an earlier cached answer):

- `failing.json`: `corrupt-entry:512` with the gate armed (abort+undo against the
  Kubernetes API stand-in, an invalidation command) and an evidence bundle;
  `passing.json`: the full suite once the fault is gone;
- `health.json`: `healthz-5xx`; `health-inclusion-only.json`: a later `-m inclusion`
  run that passes while /healthz still answers 503;
- `load.json`: the load phase with `latency:400` (p95 above 300 ms).

Loopback URLs, temporary paths and the stand-in's address are replaced by the fixed
names the golden files show (`https://tlog.example.com`, `/srv/tlog/release/...`), so
the drafts do not change with the ports of a run; nothing else is edited. Read the diff
of the golden files after regenerating (`TLOGCHECK_UPDATE_GOLDEN=1`).
"""

from __future__ import annotations

import json
import shlex
import tempfile
from pathlib import Path
from typing import Any

from tests.k8s_standin import K8sStandIn
from tlogcheck.refstack.stack import start_stack
from tlogcheck.runs import run_suite

OUT = Path(__file__).parent / "reports"
PUBLIC = "https://tlog.example.com"
RELEASE_DIR = "/srv/tlog/release"
KUBECONFIG = "/home/sre/.kube/config"
API_SERVER = "https://k8s.example.com:6443"


def _sanitize(doc: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(doc)
    for old, new in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(old, new)
    found: dict[str, Any] = json.loads(text)
    return found


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tlogcheck-reports-") as tmp, start_stack(
        entries=1024
    ) as stack, K8sStandIn(token="make-reports-token") as k8s:
        k8s.seed_rollout()
        info = stack.info
        kubeconfig = k8s.write_kubeconfig(Path(tmp) / "kubeconfig")
        marker = Path(tmp) / "invalidated"
        hook = f"echo invalidated /v1/log/root /v1/log/checkpoint > {shlex.quote(str(marker))}"
        common = [
            f"--tlog-url={info.edge_url}",
            f"--tlog-vkey={info.vkey_path}",
            f"--tlog-db={info.db_path}",
            f"--tlog-db-sha256={info.db_sha256_path}",
        ]
        gate = ["--rollout=tlog-ro", "--gate-action=abort+undo", f"--gate-invalidate={hook}"]
        names = {
            info.edge_url: PUBLIC,
            info.origin_url: "https://tlog-origin.example.com",
            str(Path(info.db_path).parent): RELEASE_DIR,
            str(Path(info.vkey_path).parent): RELEASE_DIR,
            str(kubeconfig): KUBECONFIG,
            k8s.url: API_SERVER,
            tmp: "/var/tmp/tlogcheck",
        }
        runs: list[tuple[str, list[str], list[str]]] = [
            ("failing", ["corrupt-entry:512"], [*gate, f"--tlog-evidence={tmp}/evidence"]),
            ("passing", [], gate),
            ("health", ["healthz-5xx"], []),
            ("health-inclusion-only", ["healthz-5xx"], ["-m", "inclusion"]),
            ("load", ["latency:400"], ["-m", "load", "--load", "--load-duration=3"]),
        ]
        for name, faults, extra in runs:
            stack.set_faults(faults)
            stack.purge()
            run = run_suite(
                [*common, *extra], env={"KUBECONFIG": str(kubeconfig)}, timeout=300, cwd=tmp
            )
            doc = _sanitize(run.report, names)
            (OUT / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
            print(f"{name}: exit {run.exitstatus}, failed {sorted(run.failed_checks)}")


if __name__ == "__main__":
    main()
