"""ci/ checked as a new user would check it before applying: every document against the
schema its receiving end holds (the Argo Rollouts CRDs, Kubernetes 1.29 and 1.37 strict,
the GitHub workflow schema, hadolint), and nothing in ci/ left unchecked.

The validators are tested too: each must reject what the API server or the tool
rejects, or a green run here would mean nothing.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from tests.ci import kube_schema, manifests
from tests.ci.manifests import CI, Document

DOCS = manifests.load()


def require(tool: str) -> None:
    """Skip where a validator cannot be had; in CI (which installs them all), fail."""
    found = (
        kube_schema.has_check_jsonschema()
        if tool == "check-jsonschema"
        else kube_schema.tool(tool) is not None
    )
    if not found:
        reason = f"{tool} is not installed (pip install -e '.[test]' brings it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


TOOLS = {
    "github-workflow": "check-jsonschema",
    "dockerfile": "hadolint",
    "vscode-tasks": None,  # checked in Python
    "shell-script": "sh",
    "prometheus-rules": "promtool",
    "prometheus-config": "promtool",
}


# --- ci/ as it is ------------------------------------------------------------------------


def test_ci_is_found_whole() -> None:
    """Discovery is not vacuous: the kinds ci/ ships are all there."""
    kinds = {d.kind for d in DOCS}
    assert {"Rollout", "AnalysisTemplate", "CronJob", "Role", "ConfigMap"} <= kinds
    assert {"Probe", "Deployment", "NetworkPolicy"} <= kinds
    assert set(manifests.FILE_KINDS) <= set(manifests.files())


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: f"{d.path}:{d.kind}:{d.name}")
def test_every_document_is_valid_for_its_kind(doc: Document) -> None:
    assert kube_schema.document_errors(doc) == []


@pytest.mark.parametrize("path", sorted(manifests.FILE_KINDS))
def test_every_other_file_passes_its_validator(path: str) -> None:
    kind = manifests.FILE_KINDS[path]
    tool = TOOLS[kind]
    if tool is not None:
        require(tool)
    assert kube_schema.FILE_VALIDATORS[kind](CI / path) == []


def test_nothing_in_ci_is_unchecked() -> None:
    assert manifests.unchecked_files() == []
    for path in manifests.CHECKED_ELSEWHERE:
        assert (CI / path).is_file(), f"{path} is listed as checked elsewhere and is gone"


# --- discovery -----------------------------------------------------------------------------


def test_files_added_later_are_found_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "rules.yml").write_text(
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n"
        "metadata: {name: tlog, namespace: tlog}\nspec: {endpoints: []}\n"
    )
    (tmp_path / "tasks.json").write_text("{}")
    assert manifests.manifest_files(tmp_path) == ["alerts/rules.yml"]
    assert manifests.unchecked_files(tmp_path) == ["tasks.json"]
    (doc,) = manifests.load(tmp_path)
    (error,) = kube_schema.document_errors(doc)
    assert "unknown kind ServiceMonitor" in error and "tests/ci/schemas/" in error


def test_a_prometheusrule_is_held_to_its_schema() -> None:
    rule = {"alert": "TLogInclusionProofFail", "expr": "up == 0", "for": "0m", "severity": "P1"}
    doc = Document(
        "prometheus/prometheusrule.yaml",
        0,
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "tlog", "namespace": "tlog"},
            "spec": {"groups": [{"name": "tlog", "rules": [rule]}]},
        },
    )
    (error,) = kube_schema.document_errors(doc)
    assert "severity" in error and "unknown field" in error


def test_a_probe_is_held_to_the_upstream_crd() -> None:
    probe = manifests.find(DOCS, "Probe", "tlogcheck-exporter")
    assert kube_schema.crds()[(probe.api_version, "Probe")].source.endswith("probes-crd.yaml")
    broken = manifests.clone([probe])[0]
    broken.body["spec"]["prober"]["address"] = broken.body["spec"]["prober"].pop("url")
    broken.body["spec"]["interval"] = "every 15 seconds"
    errors = kube_schema.document_errors(broken)
    assert any("spec.prober.address: unknown field" in e for e in errors), errors
    assert any("spec.prober: required field 'url' is missing" in e for e in errors), errors
    assert any("spec.interval: 'every 15 seconds' does not match" in e for e in errors), errors


def test_promtool_refuses_a_broken_scrape_config(tmp_path: Path) -> None:
    require("promtool")
    text = (CI / "exporter" / "prometheus-scrape.yaml").read_text()
    broken = tmp_path / "prometheus-scrape.yaml"
    broken.write_text(text.replace("target_label: __param_target", "target_labels: x", 1))
    errors = kube_schema.prometheus_config_errors(broken)
    assert any("target_labels" in e for e in errors), errors


def test_a_document_that_is_no_manifest_is_refused() -> None:
    doc = Document("alerts.yaml", 0, {"groups": [{"name": "tlog", "rules": []}]})
    (error,) = kube_schema.document_errors(doc)
    assert "no apiVersion and kind" in error and "FILE_KINDS" in error


# --- the CRD validator ---------------------------------------------------------------------


def changed(kind: str, name: str, path: str, value: Any) -> Document:
    """A copy of a ci/ document with one value set at a dotted path (`[i]` for items)."""
    doc = copy.deepcopy(manifests.find(DOCS, kind, name))
    keys: list[str | int] = [
        int(p) if p.isdigit() else p for p in path.replace("[", ".").replace("]", "").split(".")
    ]
    obj: Any = doc.body
    for key in keys[:-1]:
        obj = obj[key]
    obj[keys[-1]] = value
    return doc


def metric(path: str, value: Any) -> Document:
    return changed("AnalysisTemplate", "tlogcheck", f"spec.metrics[0].{path}", value)


def job_container(path: str, value: Any) -> Document:
    return metric(f"provider.job.spec.template.spec.containers[0].{path}", value)


def test_an_unknown_field_is_rejected_with_a_suggestion() -> None:
    errors = kube_schema.document_errors(
        changed("Rollout", "tlog-ro", "spec.strategy.canary.steps[0].setWieght", 10)
    )
    assert any("setWieght: unknown field (did you mean 'setWeight'?)" in e for e in errors)


def test_a_misspelt_field_in_an_embedded_container_is_rejected() -> None:
    errors = kube_schema.document_errors(job_container("comand", ["pytest"]))
    assert any("containers[0].comand: unknown field" in e for e in errors), errors


@pytest.mark.parametrize("count", [1, "1", "{{args.count}}"])
def test_int_or_string_takes_either(count: Any) -> None:
    assert kube_schema.document_errors(metric("count", count)) == []


@pytest.mark.parametrize("count", [[1], {"n": 1}, 1.5, True])
def test_int_or_string_takes_nothing_else(count: Any) -> None:
    errors = kube_schema.document_errors(metric("count", count))
    assert any("count: want an integer or a string" in e for e in errors), errors


def test_preserve_unknown_fields_keeps_anything_below_it() -> None:
    doc = metric("provider", {"plugin": {"argoproj-labs/x": {"any": ["thing", 1]}}})
    assert kube_schema.document_errors(doc) == []


def test_a_wrong_type_a_missing_field_and_a_null_are_rejected() -> None:
    errors = kube_schema.document_errors(changed("Rollout", "tlog-ro", "spec.replicas", "5"))
    assert any("spec.replicas: want integer, got string" in e for e in errors)
    bare = metric("name", None)
    del bare.body["spec"]["metrics"][0]["provider"]
    errors = kube_schema.document_errors(bare)
    assert any("metrics[0].name: null is not allowed" in e for e in errors), errors
    assert any("required field 'provider' is missing" in e for e in errors), errors


def test_duplicate_keys_of_a_map_list_are_rejected() -> None:
    doc = copy.deepcopy(manifests.find(DOCS, "Rollout", "tlog-ro"))
    containers = doc.body["spec"]["template"]["spec"]["containers"]
    containers.append(copy.deepcopy(containers[0]))
    errors = kube_schema.document_errors(doc)
    assert any("containers[1]: a second item with name='tlog-ro'" in e for e in errors)


def test_what_the_crd_leaves_unchecked_is_checked_as_the_core_object() -> None:
    # The Rollout CRD keeps `volumes` as they come; the API server's pod validation does not.
    doc = changed(
        "Rollout", "tlog-ro", "spec.template.spec.volumes", [{"name": "x", "emtyDir": {}}]
    )
    errors = kube_schema.document_errors(doc)
    assert any("spec.template.spec.volumes[0]" in e and "'emtyDir'" in e for e in errors)
    meta = changed("Rollout", "tlog-ro", "metadata.label", {"a": "b"})
    assert any("metadata" in e and "'label'" in e for e in kube_schema.document_errors(meta))


def test_the_older_kubernetes_release_is_held_to_its_own_schema() -> None:
    # Pod-level resources exist in 1.37, not in 1.29: only the older release refuses them.
    path = "spec.jobTemplate.spec.template.spec.resources"
    doc = changed("CronJob", "tlogcheck-nightly", path, {"limits": {"cpu": "1"}})
    (error,) = kube_schema.document_errors(doc)
    assert "'resources' was unexpected" in error and "Kubernetes 1.29" in error


def test_core_kinds_are_strict() -> None:
    doc = changed("Role", "tlogcheck-deploy", "rules[0].verb", ["get"])
    errors = kube_schema.document_errors(doc)
    assert len(errors) == 2 and all("'verb' was unexpected" in e for e in errors)


# --- the other validators ------------------------------------------------------------------


def test_the_workflow_validator_refuses_a_broken_workflow(tmp_path: Path) -> None:
    require("check-jsonschema")
    text = (CI / "github-workflow.yaml").read_text()
    broken = tmp_path / "workflow.yaml"
    broken.write_text(text.replace("runs-on:", "run-on:", 1))
    errors = kube_schema.github_workflow_errors(broken)
    assert any("'runs-on' is a required property" in e for e in errors), errors


def test_hadolint_refuses_a_broken_dockerfile(tmp_path: Path) -> None:
    require("hadolint")
    text = (CI / "Dockerfile").read_text()
    broken = tmp_path / "Dockerfile"
    broken.write_text(text.replace("# hadolint ignore=DL3008\n", ""))
    errors = kube_schema.dockerfile_errors(broken)
    assert any("DL3008" in e for e in errors), errors
