"""The manifests of ci/ for the gate: parsed, checked against the kubernetes client's
models (strict: an unknown or misspelt field fails), and against each other and the
code: the Role grants exactly what gate/argo.py sends, the Rollout's analysis steps pass
the args the AnalysisTemplate declares, every option a pipeline names exists.

Argo's CRDs have no model in the client: their structure is checked here by hand,
and the Kubernetes objects inside them (pod template, Job spec, selector) by the
client's models. The Job's shell script is run with a stand-in `pytest` to check
how it maps the suite's exit statuses.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import (
    V1JobSpec,
    V1LabelSelector,
    V1ObjectMeta,
    V1PodTemplateSpec,
    V1Role,
    V1RoleBinding,
    V1Service,
    V1ServiceAccount,
)

from tlogcheck.gate import argo as gate
from tlogcheck.incident import kube as triage
from tlogcheck.plugin import all_options

CI = Path(__file__).resolve().parents[2] / "ci"
ARGO = "argoproj.io/v1alpha1"
PYTEST_FLAGS = {"--pyargs", "-p", "-m", "-n", "-q", "-x", "-rs", "-ra"}


def docs(name: str) -> list[dict[str, Any]]:
    loaded = [d for d in yaml.safe_load_all((CI / name).read_text()) if d is not None]
    assert loaded and all(isinstance(d, dict) for d in loaded)
    return loaded


def one(name: str, kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs(name) if d.get("kind") == kind]
    return found


def known_flags() -> set[str]:
    return {o.flag for o in all_options()} | PYTEST_FLAGS


def known_env() -> set[str]:
    return {o.env for o in all_options()}


def pytest_flags(command: str) -> list[str]:
    """The flags of the `pytest` invocation(s) in a shell snippet."""
    flags: list[str] = []
    joined = command.replace("\\\n", " ")
    for line in joined.splitlines():
        words = shlex.split(line, comments=True) if "pytest" in line else []
        if "pytest" not in " ".join(words):
            continue
        start = next(i for i, w in enumerate(words) if w.endswith("pytest"))
        for word in words[start + 1 :]:
            if word.startswith("-"):
                flags.append(word.split("=", 1)[0])
    return flags


def argo_get(obj: Any, path: str) -> str:
    """Argo's extractValueFromRollout: a path of `.` and `[i]` down to a primitive."""
    for section in re.split(r"[.\[\]]+", path):
        if section == "":
            continue
        obj = obj[int(section)] if isinstance(obj, list) else obj[section]
    assert not isinstance(obj, (dict, list)), f"{path} must end in a primitive"
    return str(obj)


# --- RBAC ----------------------------------------------------------------------------------


def test_rbac_objects_are_valid_kubernetes_objects() -> None:
    sa = V1ServiceAccount.model_validate(one("rbac.yaml", "ServiceAccount"))
    role = V1Role.model_validate(one("rbac.yaml", "Role"))
    binding = V1RoleBinding.model_validate(one("rbac.yaml", "RoleBinding"))
    assert sa.api_version == "v1"
    assert role.api_version == binding.api_version == "rbac.authorization.k8s.io/v1"
    assert sa.metadata and role.metadata and binding.metadata
    namespaces = {sa.metadata.namespace, role.metadata.namespace, binding.metadata.namespace}
    assert namespaces == {"tlog"}
    assert binding.role_ref.kind == "Role" and binding.role_ref.name == role.metadata.name
    assert binding.role_ref.api_group == "rbac.authorization.k8s.io"
    (subject,) = binding.subjects or []
    assert (subject.kind, subject.name, subject.namespace) == (
        "ServiceAccount",
        sa.metadata.name,
        "tlog",
    )


def test_the_role_grants_exactly_what_the_gate_sends() -> None:
    role = one("rbac.yaml", "Role")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    needed = {(p.group, p.resource, p.verb) for p in gate.PERMISSIONS}
    assert granted == needed
    assert all("*" not in str(rule) for rule in role["rules"])
    # Rollouts are named: the gate may touch the one Rollout and no other.
    rollout_name = one("rollout.yaml", "Rollout")["metadata"]["name"]
    for rule in role["rules"]:
        if rule["apiGroups"] == ["argoproj.io"]:
            assert rule["resourceNames"] == [rollout_name]


def test_the_triage_role_grants_exactly_what_triage_reads() -> None:
    role = one("rbac-triage.yaml", "Role")
    V1Role.model_validate(role)
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {(p.group, p.resource, p.verb) for p in triage.PERMISSIONS}
    assert {verb for _, _, verb in granted} <= {"get", "list"}
    binding = V1RoleBinding.model_validate(one("rbac-triage.yaml", "RoleBinding"))
    assert binding.role_ref.name == role["metadata"]["name"]


# --- AnalysisTemplate ----------------------------------------------------------------------


def analysis_template() -> dict[str, Any]:
    return one("analysis-template.yaml", "AnalysisTemplate")


def job_container(template: dict[str, Any]) -> dict[str, Any]:
    job = template["spec"]["metrics"][0]["provider"]["job"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_analysis_template_is_a_job_metric_that_fails_on_the_first_failure() -> None:
    t = analysis_template()
    assert t["apiVersion"] == ARGO
    V1ObjectMeta.model_validate(t["metadata"])
    assert set(t["spec"]) == {"args", "metrics"}
    (metric,) = t["spec"]["metrics"]
    assert metric["name"] == "tlogcheck"
    assert metric["count"] == 1 and metric["failureLimit"] == 0
    assert list(metric["provider"]) == ["job"]
    job = metric["provider"]["job"]
    assert set(job) <= {"metadata", "spec"}
    V1ObjectMeta.model_validate(job["metadata"])
    spec = V1JobSpec.model_validate(job["spec"])
    assert spec.backoff_limit == 0
    assert spec.template.spec is not None and spec.template.spec.restart_policy == "Never"
    assert spec.template.spec.automount_service_account_token is False


def test_analysis_template_args_are_declared_and_used() -> None:
    t = analysis_template()
    text = (CI / "analysis-template.yaml").read_text()
    declared = {a["name"] for a in t["spec"]["args"]}
    for arg in t["spec"]["args"]:
        assert set(arg) <= {"name", "value", "valueFrom"}
    used = set(re.findall(r"\{\{\s*args\.([\w-]+)\s*\}\}", text))
    assert used == declared
    required = {a["name"] for a in t["spec"]["args"] if "value" not in a and "valueFrom" not in a}
    assert required == {"canary-url"}


def test_analysis_job_names_only_options_that_exist() -> None:
    container = job_container(analysis_template())
    assert container["command"] == ["/bin/sh", "-c"]
    (script,) = container["args"]
    flags = pytest_flags(script)
    assert "--pyargs" in flags and "--tlog-report-json" in flags
    assert set(flags) <= known_flags()
    tlog_env = {e["name"] for e in container["env"] if e["name"].startswith("TLOG_")}
    assert tlog_env <= known_env()
    assert "TLOG_URL" in tlog_env and "TLOG_VKEY" in tlog_env
    # The Argo controller aborts on a failed analysis: the Job itself must not act.
    assert "--rollout" not in flags


def test_analysis_job_gates_the_canary_and_loads_it() -> None:
    container = job_container(analysis_template())
    (script,) = container["args"]
    words = shlex.split(script.replace("\\\n", " "), comments=True)
    # A short load phase per step (playbook §3.4), bounded in time and requests.
    for flag, value in (
        ("--load-duration", "60"),
        ("--load-users", "20"),
        ("--load-max-requests", "20000"),
    ):
        assert words[words.index(flag) + 1] == value
    assert "--load" in words
    assert container["resources"]["requests"]["cpu"] == "1"
    env = {e["name"]: e.get("value") for e in container["env"]}
    # The canary Service, compared with the stable one; the release is set from the tag.
    assert env["TLOG_URL"] == "{{args.canary-url}}"
    assert env["TLOG_STABLE_URL"] == "{{args.stable-url}}"
    assert "TLOG_EXPECT_RELEASE" in script and env["CANARY_IMAGE"] == "{{args.canary-image}}"


@pytest.mark.parametrize(
    ("suite_status", "on_inconclusive", "job_status"),
    [
        (0, "pass", 0),
        (1, "pass", 1),
        (1, "fail", 1),
        (6, "pass", 0),
        (6, "fail", 6),
        (2, "pass", 2),
    ],
)
def test_analysis_job_maps_the_suite_exit_status(
    suite_status: int, on_inconclusive: str, job_status: int, tmp_path: Path
) -> None:
    """The Job's script, run by /bin/sh with a stand-in `pytest` exiting as told."""
    (script,) = job_container(analysis_template())["args"]
    fake = tmp_path / "pytest"
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$TLOG_URL" "${{TLOG_EXPECT_RELEASE:-none}}" "$*" > "{tmp_path}/seen"\n'
        f"exit {suite_status}\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "TLOG_URL": "http://tlog-ro-canary.tlog.svc.cluster.local:8080",
        "CANARY_IMAGE": "ghcr.io/example/tlog-ro:v1.1.0",
        "ON_INCONCLUSIVE": on_inconclusive,
        "TMPDIR": str(tmp_path),
        "REPORTS_DIR": str(tmp_path / "results"),
    }
    done = subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == job_status, done.stdout + done.stderr
    url, release, argv = (tmp_path / "seen").read_text().splitlines()
    assert url == env["TLOG_URL"]
    assert release == "v1.1.0"  # the canary image's tag
    assert "--pyargs tests_synthetic" in argv


# A stand-in `pytest` that writes the report and (on a failure) a bundle where it is told.
WRITES_REPORT = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    --tlog-report-json) mkdir -p "$(dirname "$2")" && echo '{"summary": {}}' > "$2" ;;
    --tlog-evidence) [ "$STATUS" = 0 ] || { mkdir -p "$2" && echo '{}' > "$2/manifest.json"; } ;;
  esac
  shift
done
exit "$STATUS"
"""


@pytest.mark.parametrize("suite_status", [0, 1])
def test_analysis_job_keeps_each_runs_report_and_bundle(suite_status: int, tmp_path: Path) -> None:
    """One directory per run on the reports volume; a copy that fails is said and the
    step's result stays the suite's."""
    (script,) = job_container(analysis_template())["args"]
    fake = tmp_path / "bin" / "pytest"
    fake.parent.mkdir()
    fake.write_text(WRITES_REPORT)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    results = tmp_path / "results"
    env = {
        "PATH": f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "STATUS": str(suite_status),
        "ON_INCONCLUSIVE": "pass",
        "TMPDIR": str(tmp_path),
        "REPORTS_DIR": str(results),
        "HOSTNAME": "tlogcheck-abc12",
    }
    done = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == suite_status, done.stdout + done.stderr
    (kept,) = results.iterdir()
    assert re.fullmatch(r"\d{8}T\d{6}Z-tlogcheck-abc12", kept.name)
    assert (kept / "report.json").is_file()
    assert (kept / "evidence" / "manifest.json").is_file() == bool(suite_status)
    assert f"report and evidence kept in {kept}" in done.stdout

    # The volume cannot be written: said, and the verdict stands.
    results_file = tmp_path / "not-a-dir"
    results_file.write_text("x")
    env["REPORTS_DIR"] = str(results_file)
    done = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == suite_status
    assert "could not keep the report" in done.stderr and "the verdict stands" in done.stderr


def test_analysis_job_sets_no_release_without_a_tag(tmp_path: Path) -> None:
    (script,) = job_container(analysis_template())["args"]
    fake = tmp_path / "pytest"
    fake.write_text(f'#!/bin/sh\necho "${{TLOG_EXPECT_RELEASE:-none}}" > "{tmp_path}/seen"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    for image in ("", "registry.local/tlog-ro", "registry.local:5000/tlog-ro",
                  "ghcr.io/example/tlog-ro@sha256:" + "ab" * 32):  # fmt: skip
        env = {"PATH": f"{tmp_path}{os.pathsep}/usr/bin:/bin", "CANARY_IMAGE": image,
               "ON_INCONCLUSIVE": "pass"}  # fmt: skip
        subprocess.run(["/bin/sh", "-c", script], env=env, check=True, timeout=30)
        assert (tmp_path / "seen").read_text().strip() == "none"


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/example/tlog-ro:v1.1.0",
        "registry.local:5000/tlog-ro:v1.1.0",
        "ghcr.io/example/tlog-ro:v1.1.0@sha256:" + "ab" * 32,
    ],
)
def test_analysis_job_expects_the_canary_image_tag(image: str, tmp_path: Path) -> None:
    (script,) = job_container(analysis_template())["args"]
    fake = tmp_path / "pytest"
    fake.write_text(f'#!/bin/sh\necho "${{TLOG_EXPECT_RELEASE:-none}}" > "{tmp_path}/seen"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{tmp_path}{os.pathsep}/usr/bin:/bin", "CANARY_IMAGE": image,
           "ON_INCONCLUSIVE": "pass"}  # fmt: skip
    subprocess.run(["/bin/sh", "-c", script], env=env, check=True, timeout=30)
    assert (tmp_path / "seen").read_text().strip() == "v1.1.0"


# --- Rollout -------------------------------------------------------------------------------


def test_rollout_template_and_selector_are_valid() -> None:
    ro = one("rollout.yaml", "Rollout")
    assert ro["apiVersion"] == ARGO
    V1ObjectMeta.model_validate(ro["metadata"])
    selector = V1LabelSelector.model_validate(ro["spec"]["selector"])
    template = V1PodTemplateSpec.model_validate(ro["spec"]["template"])
    assert template.metadata is not None and template.metadata.labels is not None
    assert selector.match_labels is not None
    assert selector.match_labels.items() <= template.metadata.labels.items()
    assert set(ro["spec"]) <= {"replicas", "revisionHistoryLimit", "selector", "template",
                               "strategy"}  # fmt: skip


def test_rollout_steps_are_the_playbook_canary_with_analysis_after_each_weight() -> None:
    ro = one("rollout.yaml", "Rollout")
    canary = ro["spec"]["strategy"]["canary"]
    steps = canary["steps"]
    for step in steps:
        assert len(step) == 1 and next(iter(step)) in {"setWeight", "analysis", "pause"}
    weights = [s["setWeight"] for s in steps if "setWeight" in s]
    assert weights == [10, 30, 60, 100]  # playbook §3.4
    t = analysis_template()
    declared = {a["name"] for a in t["spec"]["args"]}
    required = {a["name"] for a in t["spec"]["args"] if "value" not in a}
    for i, step in enumerate(steps):
        if "setWeight" in step and step["setWeight"] < 100:
            analysis = steps[i + 1]["analysis"]
            assert analysis["templates"] == [{"templateName": t["metadata"]["name"]}]
            names = [a["name"] for a in analysis["args"]]
            assert len(names) == len(set(names))
            assert required <= set(names) <= declared
            for arg in analysis["args"]:
                if "valueFrom" in arg:
                    path = arg["valueFrom"]["fieldRef"]["fieldPath"]
                    image = argo_get(ro, path)
                    assert ":" in image.rsplit("/", 1)[-1], "the image needs a tag"
    last = steps[-2]["analysis"]["args"]
    assert {"name": "on-inconclusive", "value": "fail"} in last


def test_rollout_services_select_its_pods() -> None:
    ro = one("rollout.yaml", "Rollout")
    services = {s["metadata"]["name"]: s for s in docs("rollout.yaml") if s["kind"] == "Service"}
    canary = ro["spec"]["strategy"]["canary"]
    labels = ro["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"] for c in ro["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
    for name in (canary["canaryService"], canary["stableService"]):
        svc = V1Service.model_validate(services[name])
        assert svc.spec is not None and svc.spec.selector is not None
        assert svc.spec.selector.items() <= labels.items()
        assert {p.target_port for p in svc.spec.ports or []} <= ports
    for step in canary["steps"]:
        for arg in step.get("analysis", {}).get("args", []):
            if arg["name"] in ("canary-url", "stable-url"):
                host = arg["value"].split("//", 1)[1].split(".", 1)[0]
                assert host in services


# --- the CI workflow -----------------------------------------------------------------------


def workflow() -> dict[str, Any]:
    (doc,) = docs("github-workflow.yaml")
    return doc


def test_workflow_is_a_dispatchable_least_privilege_workflow() -> None:
    wf = workflow()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "workflow_dispatch" in on
    assert wf["permissions"] == {"contents": "read"}
    assert wf["concurrency"]["cancel-in-progress"] is False
    jobs = wf["jobs"]
    assert jobs["gate"]["needs"] == "deploy"
    for job in jobs.values():
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_workflow_keeps_secrets_out_of_commands() -> None:
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            assert "secrets." not in step.get("run", "")
            if "secrets." in str(step.get("env", {})):
                assert "umask 077" in step["run"]
                assert 'echo "$KUBECONFIG_DATA' not in step["run"]


def test_workflow_runs_the_suite_as_a_gate_with_options_that_exist() -> None:
    runs = [s["run"] for j in workflow()["jobs"].values() for s in j["steps"] if "run" in s]
    (suite,) = [r for r in runs if "pytest" in r]
    flags = pytest_flags(suite)
    assert {"--pyargs", "--rollout", "--gate-action", "--tlog-report-json"} <= set(flags)
    assert set(flags) <= known_flags()
    words = shlex.split(suite.replace("\\\n", " "))
    assert words[words.index("--gate-action") + 1] in gate.ACTIONS
    gate_step = next(s for j in workflow()["jobs"].values() for s in j["steps"]
                     if "pytest" in s.get("run", ""))  # fmt: skip
    assert {k for k in gate_step["env"] if k.startswith("TLOG_")} <= known_env()
