"""Triage's Kubernetes steps (playbook §2.1 versions, §2.2 server logs), read-only.

The Rollout's phase, step, canary weight and pod-template hashes; its pods (listed by the
Rollout's own selector) with image tag, readiness, restarts and node; the last lines of
each pod's log, error and warning lines first. Through the gate's transport (retries,
redaction, RBAC-aware errors); `PERMISSIONS` is exactly what this module asks, and
ci/rbac-triage.yaml grants it (tests/ci/test_ci_manifests.py keeps the two in step).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tlogcheck.errors import ConfigError, GateError
from tlogcheck.gate.argo import GET_ROLLOUT, GROUP, VERSION
from tlogcheck.gate.kube import CustomObject, KubeTransport, Permission, load_access
from tlogcheck.incident.triage import Step

__all__ = ["LIST_PODS", "PERMISSIONS", "READ_POD_LOG", "kube_steps"]

LIST_PODS = Permission("list", "", "pods")
READ_POD_LOG = Permission("get", "", "pods/log")
PERMISSIONS = (GET_ROLLOUT, LIST_PODS, READ_POD_LOG)
MAX_PODS = 50  # a Rollout of a read-only log has a handful; the report stays readable
_NOTEWORTHY = re.compile(r"\b(error|err|fatal|panic|warn|warning|exception|traceback)\b", re.I)


def _selector(rollout: Mapping[str, Any]) -> str:
    labels = ((rollout.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not isinstance(labels, dict) or not labels:
        raise GateError("the Rollout has no spec.selector.matchLabels to find its pods by")
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _weight(rollout: Mapping[str, Any]) -> str:
    status = rollout.get("status") or {}
    weights = ((status.get("canary") or {}).get("weights") or {}).get("canary") or {}
    if "weight" in weights:
        return f"{weights['weight']}%"
    steps = (((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}).get(
        "steps"
    ) or []
    index = status.get("currentStepIndex")
    if not isinstance(index, int):
        return "unknown"
    # The weight in force: the last setWeight at or before the current step.
    for step in reversed(steps[: index + 1]):
        if isinstance(step, dict) and "setWeight" in step:
            return f"{step['setWeight']}% (from the steps)"
    return "0%"


def _pod_line(pod: Mapping[str, Any]) -> tuple[str, str]:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    cs = (status.get("containerStatuses") or [{}])[0]
    image = cs.get("image") or ((spec.get("containers") or [{}])[0]).get("image") or "?"
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else "latest"
    line = (
        f"pod {meta.get('name')}: image {image} (tag {tag}), ready {cs.get('ready')}, "
        f"restarts {cs.get('restartCount', 0)}, node {spec.get('nodeName')}"
    )
    return line, image


def _versions(kube: KubeTransport, name: str) -> tuple[Step, list[dict[str, Any]]]:
    step = Step("§2.1", f"versions: Rollout {kube.namespace}/{name} and its pods")
    ref = CustomObject(GROUP, VERSION, "rollouts", name, f"Rollout {kube.namespace}/{name}")
    rollout = kube.get_custom_object("triage: read the Rollout", ref, GET_ROLLOUT) or {}
    status = rollout.get("status") or {}
    selector = _selector(rollout)
    pods = kube.list_pods("triage: list the Rollout's pods", selector, LIST_PODS)[:MAX_PODS]
    step.evidence.append(
        f"Rollout phase {status.get('phase')}, step {status.get('currentStepIndex')}, canary "
        f"weight {_weight(rollout)}, stable hash {status.get('stableRS')}, canary hash "
        f"{status.get('currentPodHash')}, selector {selector}"
    )
    step.evidence.extend(_pod_line(p)[0] for p in pods)
    images = sorted({_pod_line(p)[1] for p in pods})
    not_ready = [p for p in pods if "ready False" in _pod_line(p)[0]]
    step.finding = (
        f"{len(pods)} pod(s), image(s) {', '.join(images) or 'none'}; {len(not_ready)} not ready"
    )
    return step, pods


def _logs(kube: KubeTransport, pods: list[dict[str, Any]], tail: int) -> Step:
    step = Step("§2.2", f"server logs: the last {tail} lines of each pod")
    first: list[str] = []
    rest: list[str] = []
    for pod in pods:
        name = str((pod.get("metadata") or {}).get("name"))
        _, image = _pod_line(pod)
        text = kube.read_pod_log(f"triage: read the log of {name}", name, tail, READ_POD_LOG)
        for line in text.splitlines():
            (first if _NOTEWORTHY.search(line) else rest).append(f"{name} ({image}): {line}")
    step.evidence = first + rest
    step.finding = f"{len(first)} error/warning line(s) of {len(first) + len(rest)} read"
    return step


def kube_steps(rollout: str | None, namespace: str | None, tail: int) -> list[Step]:
    """§2.1 and §2.2, or the two steps skipped with the reason (no Rollout, no access)."""
    if not rollout:
        reason = "no --rollout (or TLOG_ROLLOUT) given"
        return [Step("§2.1", "versions", skipped=reason), Step("§2.2", "logs", skipped=reason)]
    try:
        access = load_access()
    except ConfigError as exc:
        reason = f"no Kubernetes access: {exc}"
        return [Step("§2.1", "versions", skipped=reason), Step("§2.2", "logs", skipped=reason)]
    ns = namespace or access.namespace or "tlog"
    kube = KubeTransport(access, ns)
    try:
        try:
            versions, pods = _versions(kube, rollout)
        except GateError as exc:
            reason = f"the Kubernetes API refused or failed: {kube.redact(str(exc))}"
            return [Step("§2.1", "versions", skipped=reason), Step("§2.2", "logs", skipped=reason)]
        try:
            return [versions, _logs(kube, pods, tail)]
        except GateError as exc:
            reason = f"the Kubernetes API refused or failed: {kube.redact(str(exc))}"
            return [versions, Step("§2.2", "logs", skipped=reason)]
    finally:
        kube.close()
