"""ci/'s documents against each other, the image they run and the README: what no schema
sees and what would still stop them once applied. Each check passes on ci/ as it is and
is shown to catch its defect reintroduced in memory: the AnalysisTemplate outside the
Rollout's namespace, the init container's curl missing from the image, the ConfigMap
tlogcheck missing, an arg undeclared or not passed, a Service that is not there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci import image_commands, manifests, references
from tests.ci.image_commands import Image
from tests.ci.manifests import CI, Document

DOCS = manifests.load()
IMAGE = image_commands.ci_image()


def rollout_analysis_args(docs: list[Document], step: int) -> list[dict[str, object]]:
    steps = manifests.find(docs, "Rollout", "tlog-ro").body["spec"]["strategy"]["canary"]["steps"]
    args: list[dict[str, object]] = steps[step]["analysis"]["args"]
    return args


# --- ci/ as it is ------------------------------------------------------------------------


def test_every_namespaced_document_pins_its_namespace_and_templates_are_found() -> None:
    assert references.namespace_problems(DOCS) == []


def test_every_analysis_arg_is_declared_and_every_required_one_passed() -> None:
    assert references.analysis_arg_problems(DOCS) == []


def test_every_configmap_secret_service_and_account_named_exists() -> None:
    assert references.reference_problems(DOCS) == []


def test_every_command_a_container_runs_is_in_its_image() -> None:
    assert image_commands.image_problems(DOCS, IMAGE) == []


def test_the_image_check_covers_the_containers_of_this_project() -> None:
    checked = {
        (c.doc.name, c.name)
        for d in DOCS
        for c in manifests.containers(d)
        if image_commands.runs_image(c, IMAGE)
    }
    assert checked == {
        ("tlogcheck", "tlogcheck"),
        ("tlogcheck-nightly", "fetch-release-db"),
        ("tlogcheck-nightly", "nightly"),
        ("tlogcheck-nightly-workers", "locust-worker"),
        ("tlogcheck-exporter", "exporter"),
    }
    assert {"curl", "tlogcheck", "pytest", "locust", "sh"} <= set(IMAGE.commands)
    assert "locust" in IMAGE.modules and IMAGE.entrypoint[0] == "pytest"


def test_the_readme_names_every_prerequisite() -> None:
    assert references.undocumented_prerequisites() == []


# --- defect: the AnalysisTemplate outside the Rollout's namespace -------------------------


def test_a_template_without_namespace_is_reported() -> None:
    docs = manifests.clone(DOCS)
    del manifests.find(docs, "AnalysisTemplate", "tlogcheck").metadata["namespace"]
    problems = references.namespace_problems(docs)
    assert any(
        "AnalysisTemplate tlogcheck: no metadata.namespace" in p
        and "current context's namespace" in p
        for p in problems
    ), problems
    assert any(
        "Rollout tlog/tlog-ro: canary step 1 uses AnalysisTemplate tlogcheck" in p
        and "Argo looks templates up in the Rollout's namespace" in p
        for p in problems
    ), problems


def test_a_template_in_another_namespace_is_reported() -> None:
    docs = manifests.clone(DOCS)
    manifests.find(docs, "AnalysisTemplate", "tlogcheck").metadata["namespace"] = "ci"
    problems = references.namespace_problems(docs)
    assert any("puts in namespace ci, not in tlog" in p for p in problems), problems
    assert any("namespace ci is neither created in ci/" in p for p in problems), problems


# --- defect: the init container's curl missing from the image -----------------------------


def test_curl_missing_from_the_image_is_reported() -> None:
    text = (CI / "Dockerfile").read_text().replace(" curl \\", " \\")
    assert text != (CI / "Dockerfile").read_text()
    problems = image_commands.image_problems(DOCS, image_commands.parse_dockerfile(text))
    (problem,) = problems
    assert "CronJob tlog/tlogcheck-nightly, init container fetch-release-db runs `curl`" in problem
    assert "python:3.11-slim" in problem and "would not start" in problem


@pytest.mark.parametrize("command", ["tlogcheck", "pytest", "date", "sh"])
def test_any_command_missing_from_the_image_is_reported(command: str) -> None:
    problems = image_commands.image_problems(DOCS, IMAGE.without(command))
    assert problems and all(f"runs `{command}`" in p for p in problems), problems


def test_a_module_missing_for_python_m_is_reported() -> None:
    image = IMAGE.without()
    image.modules.discard("locust")
    (problem,) = image_commands.image_problems(DOCS, image)
    assert "locust-worker runs `python -m locust` (no module locust)" in problem


def test_args_alone_run_under_the_image_entrypoint() -> None:
    docs = manifests.clone(DOCS)
    worker = next(
        manifests.containers(manifests.find(docs, "CronJob", "tlogcheck-nightly-workers"))
    )
    worker.body["args"] = worker.body.pop("command")[3:]
    assert image_commands.argv(worker, IMAGE)[:3] == ["pytest", "--pyargs", "tests_synthetic"]
    image = Image(IMAGE.repository, IMAGE.base, dict(IMAGE.commands), IMAGE.modules, ["wget"], [])
    assert any("locust-worker runs `wget`" in p for p in image_commands.image_problems(docs, image))


@pytest.mark.parametrize(
    ("script", "commands"),
    [
        ("set -eu\ncurl -fsSL x -o y", ["set", "curl"]),
        ('exec tlogcheck nightly --report-dir "/r/$(date -u +%F)"', ["date", "tlogcheck"]),
        ("a=1 b=2 env | sort && printf '%s' \"#x\" # comment's", ["env", "sort", "printf"]),
        ('case "$x" in\n  *:*) export Y=1 ;;\n  *) wget z ;;\nesac\nrc=$?', ["export", "wget"]),
        ("if [ -f x ]; then\n  : ok\nelse\n  cat `which y`\nfi", ["which", "[", ":", "cat"]),
        ("for f in a b; do\n  gzip -d $f\ndone", ["gzip"]),
    ],
)
def test_the_script_scanner_finds_each_command(script: str, commands: list[str]) -> None:
    found = [image_commands.command_word(w)[0] for w in image_commands.simple_commands(script)]
    assert found == commands


def test_a_script_the_scanner_cannot_read_is_reported() -> None:
    docs = manifests.clone(DOCS)
    init = next(manifests.containers(manifests.find(docs, "CronJob", "tlogcheck-nightly")))
    init.body["args"] = ['fetch() { curl "$1"; }\nfetch x']
    (problem,) = image_commands.image_problems(docs, IMAGE)
    assert "a script it cannot read" in problem and "function definition" in problem
    init.body["args"] = ['"$FETCH" x']
    (problem,) = image_commands.image_problems(docs, IMAGE)
    assert "an expansion" in problem


# --- defect: the ConfigMap tlogcheck missing ----------------------------------------------


def test_a_missing_configmap_is_reported_for_each_pod_that_needs_it() -> None:
    problems = references.reference_problems(manifests.without(DOCS, "ConfigMap", "tlogcheck"))
    assert len(problems) == 3, problems
    envs = [p for p in problems if "env TLOG_VKEY" in p]
    for problem, consumer in zip(
        sorted(envs),
        ["AnalysisTemplate tlog/tlogcheck", "CronJob tlog/tlogcheck-nightly"],
        strict=True,
    ):
        assert consumer in problem and "env TLOG_VKEY: ConfigMap tlog/tlogcheck" in problem
        assert "neither in ci/ nor a documented prerequisite" in problem
        assert "CreateContainerConfigError" in problem
    (mounted,) = [p for p in problems if p not in envs]
    assert "Deployment tlog/tlogcheck-exporter" in mounted
    assert "volume vkey: ConfigMap tlog/tlogcheck is neither in ci/" in mounted


def test_a_missing_configmap_key_is_reported() -> None:
    docs = manifests.clone(DOCS)
    config = manifests.find(docs, "ConfigMap", "tlogcheck").body
    config["data"] = {"verifier-key": config["data"]["vkey"]}
    problems = references.reference_problems(docs)
    assert len(problems) == 3 and all("has no key vkey" in p for p in problems), problems


def test_the_configmap_placeholder_fails_a_run_with_a_readable_message(tmp_path: Path) -> None:
    """Applied unfilled, ci/configmap.yaml stops the suite at once and names the setting."""
    placeholder = manifests.find(DOCS, "ConfigMap", "tlogcheck").body["data"]["vkey"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "tests_synthetic"],
        env={**os.environ, "TLOG_URL": "http://127.0.0.1:9", "TLOG_VKEY": placeholder},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert f"(env TLOG_VKEY): '{placeholder}'" in done.stdout + done.stderr
    assert "ci/configmap.yaml" in references.readme_ci_section()


# --- args, Services, prerequisites ---------------------------------------------------------


def test_an_undeclared_arg_is_reported() -> None:
    docs = manifests.clone(DOCS)
    template = manifests.find(docs, "AnalysisTemplate", "tlogcheck")
    container = next(manifests.containers(template))
    container.body["env"][0]["value"] = "{{args.canary-uri}}"
    problems = references.analysis_arg_problems(docs)
    assert any("uses {{args.canary-uri}}, which it does not declare" in p for p in problems)
    assert any("declares arg canary-url and never uses it" in p for p in problems)


def test_a_required_arg_not_passed_is_reported() -> None:
    docs = manifests.clone(DOCS)
    args = rollout_analysis_args(docs, 5)
    args[:] = [a for a in args if a["name"] != "canary-url"]
    (problem,) = references.analysis_arg_problems(docs)
    assert "canary step 5 does not pass arg canary-url" in problem
    assert "requires (no default)" in problem


def test_an_arg_no_template_declares_and_a_missing_template_are_reported() -> None:
    docs = manifests.clone(DOCS)
    rollout_analysis_args(docs, 1).append({"name": "stable-uri", "value": "x"})
    steps = manifests.find(docs, "Rollout", "tlog-ro").body["spec"]["strategy"]["canary"]["steps"]
    steps[3]["analysis"]["templates"] = [{"templateName": "tlogchek"}]
    problems = references.analysis_arg_problems(docs)
    assert any("canary step 1 passes arg stable-uri, declared by none" in p for p in problems)
    assert any("canary step 3 uses template tlogchek" in p for p in problems)


def test_a_service_named_by_its_dns_name_must_exist() -> None:
    docs = manifests.without(DOCS, "Service", "tlogcheck-load-master")
    (problem,) = references.reference_problems(docs)
    assert "CronJob tlog/tlogcheck-nightly-workers" in problem
    assert "Service tlog/tlogcheck-load-master is neither in ci/" in problem
    problems = references.reference_problems(manifests.without(DOCS, "Service", "tlog-ro-canary"))
    assert any("canary.canaryService: Service tlog/tlog-ro-canary" in p for p in problems)
    assert any("DNS name tlog-ro-canary.tlog.svc" in p for p in problems)


def test_a_missing_claim_and_account_are_reported() -> None:
    docs = manifests.without(DOCS, "PersistentVolumeClaim", "tlogcheck-nightly-reports")
    docs = [d for d in docs if d.name != "tlogcheck-deploy" or d.kind != "ServiceAccount"]
    problems = references.reference_problems(docs)
    assert any("PersistentVolumeClaim tlog/tlogcheck-nightly-reports" in p for p in problems)
    assert any("subjects: ServiceAccount tlog/tlogcheck-deploy" in p for p in problems)


def test_a_prerequisite_the_readme_does_not_name_is_reported() -> None:
    section = references.readme_ci_section().replace("`TLOG_DEPLOY_KUBECONFIG`", "the secret")
    (problem,) = references.undocumented_prerequisites(section)
    assert "GitHub secret TLOG_DEPLOY_KUBECONFIG" in problem
