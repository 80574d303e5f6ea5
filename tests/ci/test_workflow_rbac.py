"""The workflow's calls to the cluster against the Roles of ci/: each job acts as its own
ServiceAccount, whose Role grants what the job's kubectl calls and the gate send, and no
more. The deploy job once used the gate's credentials, whose Role grants get and patch:
`set image` (update) and `wait` (list, watch) got 403; that is reintroduced here and
must be caught.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.ci import manifests, references, workflow_rbac
from tests.ci.workflow_rbac import Need
from tlogcheck.gate import argo

DOCS = manifests.load()
WORKFLOW = manifests.load_workflow()


def with_deploy_secret(secret: str) -> dict[str, Any]:
    workflow = copy.deepcopy(WORKFLOW)
    for step in workflow["jobs"]["deploy"]["steps"]:
        if "KUBECONFIG_DATA" in step.get("env", {}):
            step["env"]["KUBECONFIG_DATA"] = "${{ secrets." + secret + " }}"
    return workflow


def deploy_rule(docs: list[manifests.Document]) -> dict[str, Any]:
    rule: dict[str, Any] = manifests.find(docs, "Role", "tlogcheck-deploy").body["rules"][0]
    return rule


# --- the workflow as it is -----------------------------------------------------------------


def test_each_call_is_mapped_to_the_requests_it_sends() -> None:
    calls = {(c.job, c.text): c.needs for c in workflow_rbac.job_calls(WORKFLOW)}
    rollout = ("argoproj.io", "rollouts", "tlog-ro", "tlog")
    assert calls == {
        ("deploy", "kubectl argo rollouts set image tlog-ro"): (
            Need("get", *rollout),
            Need("update", *rollout),
        ),
        ("deploy", "kubectl wait rollout/tlog-ro"): (
            Need("get", *rollout),
            Need("list", *rollout),
            Need("watch", *rollout),
        ),
        ("gate", "pytest --rollout tlog-ro"): tuple(
            Need(p.verb, p.group, p.resource, "tlog-ro" if p.group == argo.GROUP else None, "tlog")
            for p in argo.PERMISSIONS
        ),
    }


def test_each_job_acts_as_its_own_identity() -> None:
    assert workflow_rbac.job_identities(WORKFLOW) == {
        "deploy": ["TLOG_DEPLOY_KUBECONFIG"],
        "gate": ["TLOG_GATE_KUBECONFIG"],
    }


def test_every_role_grants_what_its_jobs_send_and_no_more() -> None:
    assert workflow_rbac.rbac_problems(DOCS, WORKFLOW) == []


def test_the_gate_role_stays_what_the_gate_sends() -> None:
    rules = workflow_rbac.rules_of(DOCS, "tlog", "tlogcheck-gate")
    granted = {
        (verb, group, resource)
        for rule in rules
        for verb in rule.body["verbs"]
        for group in rule.body["apiGroups"]
        for resource in rule.body["resources"]
    }
    assert granted == {(p.verb, p.group, p.resource) for p in argo.PERMISSIONS}


def test_every_rollout_a_call_names_exists_with_that_container() -> None:
    assert workflow_rbac.target_problems(DOCS, WORKFLOW) == []


def test_every_secret_and_variable_of_the_workflow_is_a_documented_prerequisite() -> None:
    text = (manifests.CI / "github-workflow.yaml").read_text()
    used = set(re.findall(r"\$\{\{\s*(secrets|vars)\.(\w+)", text))
    kinds = {"secrets": "GitHub secret", "vars": "GitHub variable"}
    listed = {(p.kind, p.name) for p in references.PREREQUISITES}
    assert {(kinds[scope], name) for scope, name in used} <= listed
    section = references.readme_ci_section()
    for secret, (_, account) in workflow_rbac.KUBECONFIG_SECRETS.items():
        assert re.search(rf"`{secret}` \((a kubeconfig )?for `{account}`\)", section), secret


# --- the deploy job's credentials ----------------------------------------------------------


def test_the_deploy_job_with_the_gate_credentials_is_reported() -> None:
    problems = workflow_rbac.rbac_problems(DOCS, with_deploy_secret("TLOG_GATE_KUBECONFIG"))
    missing = {
        (m.group(1), m.group(2))
        for p in problems
        if (m := re.search(r"`(kubectl [^`]+)` needs (\w+) rollouts.argoproj.io tlog-ro", p))
    }
    assert missing == {
        ("kubectl argo rollouts set image tlog-ro", "update"),
        ("kubectl wait rollout/tlog-ro", "list"),
        ("kubectl wait rollout/tlog-ro", "watch"),
    }
    assert len(problems) == 3
    assert all("tlog/tlogcheck-gate (secret TLOG_GATE_KUBECONFIG)" in p for p in problems)
    assert all("403 Forbidden" in p for p in problems)


@pytest.mark.parametrize("verb", ["get", "update", "list", "watch"])
def test_each_grant_of_the_deploy_role_is_needed(verb: str) -> None:
    docs = manifests.clone(DOCS)
    deploy_rule(docs)["verbs"].remove(verb)
    problems = workflow_rbac.rbac_problems(docs, WORKFLOW)
    assert problems and all(f"needs {verb} rollouts.argoproj.io tlog-ro" in p for p in problems)


def test_a_grant_no_call_needs_is_reported() -> None:
    docs = manifests.clone(DOCS)
    deploy_rule(docs)["verbs"].append("delete")
    (problem,) = workflow_rbac.rbac_problems(docs, WORKFLOW)
    assert "Role tlog/tlogcheck-deploy: grants delete rollouts.argoproj.io" in problem
    assert "more than least privilege" in problem


def test_a_grant_on_every_rollout_is_reported() -> None:
    docs = manifests.clone(DOCS)
    del deploy_rule(docs)["resourceNames"]
    problems = workflow_rbac.rbac_problems(docs, WORKFLOW)
    assert len(problems) == 4 and all("on every object" in p for p in problems), problems
    assert all("need only tlog-ro (resourceNames)" in p for p in problems)


def test_a_role_in_another_namespace_grants_nothing() -> None:
    docs = manifests.clone(DOCS)
    manifests.find(docs, "Role", "tlogcheck-deploy").metadata["namespace"] = "default"
    problems = workflow_rbac.rbac_problems(docs, WORKFLOW)
    assert len(problems) == 5 and all("tlogcheck-deploy" in p for p in problems)


def test_a_call_with_no_identity_or_unmapped_is_reported() -> None:
    problems = workflow_rbac.rbac_problems(DOCS, with_deploy_secret("TLOG_KUBECONFIG"))
    assert problems == ["job deploy: secret TLOG_KUBECONFIG stands for no known identity"]
    workflow = copy.deepcopy(WORKFLOW)
    workflow["jobs"]["deploy"]["steps"][-1]["run"] = 'kubectl argo rollouts promote "$ROLLOUT"'
    (problem,) = workflow_rbac.rbac_problems(DOCS, workflow)
    assert "`kubectl argo rollouts promote tlog-ro`: no mapping" in problem
    assert "add it to tests/ci/workflow_rbac.py" in problem


def test_a_call_naming_a_container_the_rollout_lacks_is_reported() -> None:
    workflow = copy.deepcopy(WORKFLOW)
    for step in workflow["jobs"]["deploy"]["steps"]:
        step["run"] = step.get("run", "").replace('"tlog-ro=', '"origin=')
    (problem,) = workflow_rbac.target_problems(DOCS, workflow)
    assert "Rollout tlog-ro has no container origin (tlog-ro)" in problem
