"""Who each job of the GitHub workflow acts as in the cluster, and whether its Role lets it.

A job's identity is the ServiceAccount whose kubeconfig it reads from a secret
(KUBECONFIG_SECRETS; the README tells users to create each). Every call a job makes to
the cluster is mapped to the requests it sends:

- `kubectl argo rollouts set image NAME C=IMAGE`: GET the Rollout, then UPDATE it
  (the plugin's cmd/set/set_image.go: Get, change the container, Update);
- `kubectl wait rollout/NAME`: GET it (the resource builder), then LIST and WATCH it
  with the field selector metadata.name=NAME (kubectl's pkg/cmd/wait), which is what
  lets `resourceNames` restrict list and watch;
- a suite run with the gate armed (`--rollout NAME` or TLOG_ROLLOUT): argo.PERMISSIONS.

A kubectl call not in this list fails the check until its requests are added here. The
identity's Role must grant every request (else the step gets 403) and nothing no call
needs (least privilege); named resources must be granted by name.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.ci.image_commands import UnreadableScript, simple_commands
from tests.ci.manifests import Document
from tlogcheck.gate import argo

# GitHub secret holding a kubeconfig -> the ServiceAccount (namespace, name) it is for.
KUBECONFIG_SECRETS: dict[str, tuple[str, str]] = {
    "TLOG_DEPLOY_KUBECONFIG": ("tlog", "tlogcheck-deploy"),
    "TLOG_GATE_KUBECONFIG": ("tlog", "tlogcheck-gate"),
}

ROLLOUT_NAMES = frozenset(
    {"rollout", "rollouts", "ro", "rollout.argoproj.io", "rollouts.argoproj.io"}
)
# kubectl flags that take the next word as their value
VALUE_FLAGS = frozenset(
    {"-n", "--namespace", "--context", "--kubeconfig", "-o", "--output", "-l", "--selector",
     "-c", "--container", "--timeout", "--for"}
)  # fmt: skip
_SECRET = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@dataclass(frozen=True)
class Need:
    verb: str
    group: str
    resource: str
    name: str | None
    namespace: str | None

    def __str__(self) -> str:
        base, _, sub = self.resource.partition("/")
        what = f"{base}.{self.group}" if self.group else base
        what += f"/{sub}" if sub else ""
        named = f" {self.name}" if self.name else ""
        return f"{self.verb} {what}{named} in namespace {self.namespace or '(none given)'}"


@dataclass(frozen=True)
class Call:
    job: str
    text: str  # the call as the workflow writes it, shortened
    needs: tuple[Need, ...]
    target: tuple[str, str | None, str | None] | None = None  # rollout, namespace, container


class UnknownCall(Exception):
    pass


def _expand(word: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), word)


def _rollout_needs(verbs: str, name: str | None, namespace: str | None) -> tuple[Need, ...]:
    return tuple(Need(v, argo.GROUP, "rollouts", name, namespace) for v in verbs.split())


def kubectl_call(words: list[str], env: dict[str, str], job: str) -> Call:
    """The requests one `kubectl ...` command sends (UnknownCall if it is not mapped)."""
    namespace: str | None = None
    positional: list[str] = []
    words = [_expand(w, env) for w in words[1:]]
    i = 0
    while i < len(words):
        word = words[i]
        flag, eq, value = word.partition("=")
        if flag in ("-n", "--namespace"):
            namespace = value if eq else (words[i + 1] if i + 1 < len(words) else None)
        if word.startswith("-"):
            i += 2 if flag in VALUE_FLAGS and not eq else 1
            continue
        positional.append(word)
        i += 1
    text = shlex.join(["kubectl", *positional[:5]])
    if positional[:4] == ["argo", "rollouts", "set", "image"] and len(positional) >= 6:
        name, container = positional[4], positional[5].split("=", 1)[0]
        needs = _rollout_needs("get update", name, namespace)
        return Call(job, text, needs, (name, namespace, container))
    if positional[:1] == ["wait"] and len(positional) >= 2:
        resource, _, name = positional[1].partition("/")
        if resource in ROLLOUT_NAMES and name:
            needs = _rollout_needs("get list watch", name, namespace)
            return Call(job, text, needs, (name, namespace, None))
    raise UnknownCall(f"job {job}: `{text}`: no mapping to the requests it sends")


def gate_call(words: list[str], env: dict[str, str], job: str) -> Call | None:
    """A suite run with the gate armed, or None."""
    words = [_expand(w, env) for w in words]
    options = {**{k: v for k, v in env.items() if k.startswith("TLOG_")}}
    for i, word in enumerate(words[:-1]):
        if word in ("--rollout", "--rollout-namespace"):
            options["TLOG_" + word[2:].upper().replace("-", "_")] = words[i + 1]
    name = options.get("TLOG_ROLLOUT")
    if not name:
        return None
    namespace = options.get("TLOG_ROLLOUT_NAMESPACE")
    needs = tuple(
        Need(p.verb, p.group, p.resource, name if p.group == argo.GROUP else None, namespace)
        for p in argo.PERMISSIONS
    )
    return Call(job, f"pytest --rollout {name}", needs, (name, namespace, None))


def _env(*scopes: Any) -> dict[str, str]:
    merged: dict[str, str] = {}
    for scope in scopes:
        merged |= {k: str(v) for k, v in (scope.get("env") or {}).items()}
    return merged


def job_calls(workflow: dict[str, Any]) -> Iterator[Call]:
    for job, body in workflow["jobs"].items():
        for step in body.get("steps") or []:
            if "run" not in step:
                continue
            env = _env(workflow, body, step)
            try:
                commands = simple_commands(step["run"])
            except UnreadableScript as exc:
                raise UnknownCall(f"job {job}: {exc}") from None
            for words in commands:
                if words[0] == "kubectl":
                    yield kubectl_call(words, env, job)
                elif "pytest" in words or words[0] == "tlogcheck":
                    found = gate_call(words, env, job)
                    if found:
                        yield found


def job_identities(workflow: dict[str, Any]) -> dict[str, list[str]]:
    """job -> the kubeconfig secrets its steps read."""
    found: dict[str, list[str]] = {}
    for job, body in workflow["jobs"].items():
        secrets = [
            s
            for step in body.get("steps") or []
            for value in (step.get("env") or {}).values()
            for s in _SECRET.findall(str(value))
            if "KUBECONFIG" in s
        ]
        found[job] = list(dict.fromkeys(secrets))
    return found


@dataclass(frozen=True)
class Rule:
    role: Document
    body: dict[str, Any]

    def grants(self, need: Need) -> bool:
        rule = self.body
        names = rule.get("resourceNames") or []
        return (
            (need.verb in rule.get("verbs", ()) or "*" in rule.get("verbs", ()))
            and need.group in rule.get("apiGroups", ())
            and need.resource in rule.get("resources", ())
            and (not names or need.name in names)
            and need.namespace == self.role.namespace
        )


def rules_of(docs: list[Document], namespace: str, account: str) -> list[Rule]:
    """The rules of every Role bound to ServiceAccount namespace/account in ci/."""
    rules = []
    for binding in (d for d in docs if d.kind == "RoleBinding"):
        subjects = binding.body.get("subjects") or []
        if not any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == account
            and s.get("namespace", binding.namespace) == namespace
            for s in subjects
        ):
            continue
        ref = binding.body.get("roleRef", {})
        for role in docs:
            if role.kind == ref.get("kind") == "Role" and role.name == ref.get("name"):
                if role.namespace == binding.namespace:
                    rules += [Rule(role, r) for r in role.body.get("rules") or []]
    return rules


def rbac_problems(docs: list[Document], workflow: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    try:
        calls = list(job_calls(workflow))
    except UnknownCall as exc:
        return [f"{exc}: add it to tests/ci/workflow_rbac.py"]
    identities = job_identities(workflow)
    needed: dict[tuple[str, str], list[Need]] = {}
    for call in calls:
        secrets = identities.get(call.job, [])
        if len(secrets) != 1:
            problems.append(
                f"job {call.job}: `{call.text}` talks to the cluster, and the job reads "
                f"{len(secrets)} kubeconfig secrets ({', '.join(secrets) or 'none'}), not one"
            )
            continue
        (secret,) = secrets
        if secret not in KUBECONFIG_SECRETS:
            problems.append(f"job {call.job}: secret {secret} stands for no known identity")
            continue
        namespace, account = KUBECONFIG_SECRETS[secret]
        rules = rules_of(docs, namespace, account)
        needed.setdefault((namespace, account), []).extend(call.needs)
        for need in call.needs:
            if not any(rule.grants(need) for rule in rules):
                problems.append(
                    f"job {call.job}: `{call.text}` needs {need}, which ServiceAccount "
                    f"{namespace}/{account} (secret {secret}) is not granted in ci/: the "
                    "step would get 403 Forbidden"
                )
    for (namespace, account), needs in needed.items():
        for rule in rules_of(docs, namespace, account):
            body = rule.body
            for verb in body.get("verbs", ()):
                for group in body.get("apiGroups", ()):
                    for resource in body.get("resources", ()):
                        wanted = [
                            n
                            for n in needs
                            if (n.verb, n.group, n.resource) == (verb, group, resource)
                        ]
                        what = f"{verb} {resource}.{group}" if group else f"{verb} {resource}"
                        if not wanted:
                            problems.append(
                                f"{rule.role}: grants {what}, which no call of the workflow "
                                f"as {account} needs: more than least privilege"
                            )
                        elif all(n.name for n in wanted) and not body.get("resourceNames"):
                            names = sorted({str(n.name) for n in wanted})
                            problems.append(
                                f"{rule.role}: grants {what} on every object; the calls need "
                                f"only {', '.join(names)} (resourceNames)"
                            )
            if "*" in str(body):
                problems.append(f"{rule.role}: a wildcard in {body}")
    return list(dict.fromkeys(problems))


def target_problems(docs: list[Document], workflow: dict[str, Any]) -> list[str]:
    """Each Rollout a call names exists in ci/, in that namespace, with that container."""
    problems = []
    for call in job_calls(workflow):
        if call.target is None:
            continue
        name, namespace, container = call.target
        found = [d for d in docs if d.kind == "Rollout" and d.name == name]
        if not any(d.namespace == namespace for d in found):
            problems.append(f"job {call.job}: `{call.text}`: no Rollout {namespace}/{name} in ci/")
            continue
        if container is not None:
            spec = found[0].body["spec"]["template"]["spec"]
            names = [c.get("name") for c in spec.get("containers", [])]
            if container not in names:
                problems.append(
                    f"job {call.job}: `{call.text}`: Rollout {name} has no container "
                    f"{container} ({', '.join(map(str, names))})"
                )
    return problems
