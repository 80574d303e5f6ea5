"""Triage's §2.1/§2.2 through the real kubernetes client against the API stand-in,
under ci/rbac-triage.yaml's rules: the Rollout, its pods by its selector, their logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import MakeRefstack
from tests.k8s_standin import K8sStandIn, rbac_rules
from tlogcheck.cli import main

CI = Path(__file__).resolve().parents[2] / "ci"
TOKEN = "triage-secret-token-8c1f4e"


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> K8sStandIn:
    s = K8sStandIn(token=TOKEN, rules=rbac_rules(CI / "rbac-triage.yaml"))
    s.start()
    s.seed_rollout()
    labels = {"app": "tlog-ro"}
    s.seed_pod(
        "tlog-ro-abc-1",
        labels=labels,
        image="ghcr.io/example/tlog-ro:v1.1.0",
        restarts=3,
        node="node-b",
        log=[f"GET /v1/log/root 200 line {i}" for i in range(300)]
        + ["ERROR proof for 512 failed: leaf mismatch"],
    )
    s.seed_pod("tlog-ro-abc-2", labels=labels, image="ghcr.io/example/tlog-ro:v1.0.5", log=["ok"])
    s.seed_pod("other-1", labels={"app": "other"}, image="ghcr.io/example/other:v9")
    monkeypatch.setenv("KUBECONFIG", str(s.write_kubeconfig(tmp_path / "kubeconfig")))
    yield s  # type: ignore[misc]
    s.close()


def test_versions_and_logs_of_the_rollouts_pods(
    standin: K8sStandIn, make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = make_refstack(entries=256)
    info = getattr(stack, "info", stack)
    code = main(
        [
            "triage",
            "Ingress5xxHigh",
            "--tlog-url",
            info.edge_url,
            "--rollout",
            "tlog-ro",
            "--tail",
            "5",
            "--format",
            "json",
        ]
    )
    out = capsys.readouterr().out
    assert TOKEN not in out
    doc = json.loads(out)
    assert code == 0
    steps = {s["section"]: s for s in doc["steps"]}
    versions = steps["§2.1"]
    assert versions["skipped"] is None
    text = "\n".join(versions["evidence"])
    assert "Rollout phase Progressing, step 1, canary weight 30% (from the steps)" in text
    assert "selector app=tlog-ro" in text
    assert (
        "pod tlog-ro-abc-1: image ghcr.io/example/tlog-ro:v1.1.0 (tag v1.1.0), ready True, "
        "restarts 3, node node-b" in text
    )
    assert "other-1" not in text
    logs = steps["§2.2"]["evidence"]
    # Error lines first, each with its pod and image; only the last --tail lines read.
    assert (
        logs[0] == "tlog-ro-abc-1 (ghcr.io/example/tlog-ro:v1.1.0): ERROR proof for 512 failed: "
        "leaf mismatch"
    )
    assert len([x for x in logs if x.startswith("tlog-ro-abc-1")]) == 5
    paths = [r.path for r in standin.requests]
    assert "/api/v1/namespaces/tlog/pods/tlog-ro-abc-1/log" in paths
    assert not standin.writes()


def test_without_kubernetes_access_the_steps_say_why(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make_refstack: MakeRefstack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    stack = make_refstack(entries=256)
    info = getattr(stack, "info", stack)
    code = main(
        [
            "triage",
            "Ingress5xxHigh",
            "--tlog-url",
            info.edge_url,
            "--rollout",
            "tlog-ro",
            "--format",
            "json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0  # the HTTP steps still ran
    skipped = {s["section"]: s["skipped"] for s in doc["steps"]}
    assert "no Kubernetes access" in skipped["§2.1"] and "no Kubernetes access" in skipped["§2.2"]
    assert any(s["section"] == "§2.4" and s["finding"] for s in doc["steps"])
