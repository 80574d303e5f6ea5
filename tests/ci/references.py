"""What no schema sees: the documents of ci/ against each other and the README.

Each check returns a list of problems, one sentence each, naming the document and what
a user who applies ci/ would hit; an empty list means none.

- `namespace_problems`: every namespaced document pins its namespace (else `kubectl
  apply -f ci/` puts it in whatever namespace the context has), every namespace is
  created by ci/ or a prerequisite, and every AnalysisTemplate a Rollout uses is in the
  Rollout's namespace, where Argo looks it up;
- `analysis_arg_problems`: every `{{args.X}}` a template uses is declared (and every
  declared arg used); every analysis of a Rollout names templates that exist, passes
  only args they declare, and every arg without a default;
- `reference_problems`: every ConfigMap (and key), Secret (and key), Service,
  PersistentVolumeClaim, ServiceAccount and Role a document names exists in ci/, in the
  namespace where it is looked up, or is a documented prerequisite (PREREQUISITES,
  which the README's `ci/` section must list). Services are also found by their DNS
  names (`NAME.NS.svc[.cluster.local]`) in any string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.ci.kube_schema import namespaced
from tests.ci.manifests import REPO, Document, containers, pod_specs


@dataclass(frozen=True)
class Prerequisite:
    kind: str  # a Kubernetes kind, or "GitHub secret" / "GitHub variable"
    name: str
    namespace: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"


# What a user must have before applying ci/ (the README's `ci/` section lists each, by
# name in backquotes); everything else a document names, ci/ creates.
PREREQUISITES: tuple[Prerequisite, ...] = (
    Prerequisite("Namespace", "tlog"),
    Prerequisite("GitHub secret", "TLOG_DEPLOY_KUBECONFIG"),
    Prerequisite("GitHub secret", "TLOG_GATE_KUBECONFIG"),
    Prerequisite("GitHub variable", "TLOG_VKEY"),
    # The Prometheus that scrapes the runs' metrics (Prometheus Operator's default
    # Service), for ci/analysis-template-prometheus.yaml.
    Prerequisite("Service", "prometheus-operated", "monitoring"),
)

ARG = re.compile(r"\{\{\s*args\.([\w.-]+?)\s*\}\}")
SERVICE_DNS = re.compile(
    r"(?<![\w.-])([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)"
    r"\.svc(?:\.cluster\.local)?(?![\w-])"
)


def strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from strings(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from strings(item)


def readme_ci_section() -> str:
    """The README from its `ci/` table to the next section: what users read before applying."""
    text = (REPO / "README.md").read_text()
    start = text.index("\n`ci/`")
    end = text.find("\n## ", start)
    return text[start : end if end >= 0 else len(text)]


def undocumented_prerequisites(readme: str | None = None) -> list[str]:
    section = readme_ci_section() if readme is None else readme
    return [
        f"{p} is a prerequisite of ci/ the README's `ci/` section does not name (`{p.name}`)"
        for p in PREREQUISITES
        if f"`{p.name}`" not in section
    ]


def _prerequisite(kind: str, name: str, namespace: str | None) -> bool:
    return any(
        p.kind == kind and p.name == name and p.namespace in (None, namespace)
        for p in PREREQUISITES
    )


# --- namespaces ----------------------------------------------------------------------------


def _analyses(rollout: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each analysis a Rollout runs: canary steps, background, blue-green pre/post."""
    strategy = rollout.body.get("spec", {}).get("strategy", {})
    canary = strategy.get("canary") or {}
    for i, step in enumerate(canary.get("steps") or []):
        if isinstance(step, dict) and "analysis" in step:
            yield f"canary step {i}", step["analysis"]
    if canary.get("analysis"):
        yield "background analysis", canary["analysis"]
    blue_green = strategy.get("blueGreen") or {}
    for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
        if blue_green.get(key):
            yield key, blue_green[key]


def namespace_problems(docs: list[Document]) -> list[str]:
    problems = []
    created = {d.name for d in docs if d.kind == "Namespace"}
    pinned = sorted({d.namespace for d in docs if d.namespace})
    for doc in docs:
        if not namespaced(doc.api_version, doc.kind):
            continue
        if doc.namespace is None:
            problems.append(
                f"{doc}: no metadata.namespace: `kubectl apply -f ci/` puts it in the "
                f"current context's namespace, while the other documents pin "
                f"{', '.join(pinned) or 'theirs'}"
            )
        elif doc.namespace not in created and not _prerequisite("Namespace", doc.namespace, None):
            problems.append(
                f"{doc}: namespace {doc.namespace} is neither created in ci/ nor a "
                "documented prerequisite"
            )
    templates = {(d.namespace, d.name) for d in docs if d.kind == "AnalysisTemplate"}
    for rollout in (d for d in docs if d.kind == "Rollout"):
        for where, analysis in _analyses(rollout):
            for ref in analysis.get("templates") or []:
                name = ref.get("templateName")
                if ref.get("clusterScope") or (rollout.namespace, name) in templates:
                    continue
                elsewhere = sorted(
                    f"namespace {ns}" if ns else "the current context's namespace"
                    for ns, n in templates
                    if n == name
                )
                if elsewhere:
                    problems.append(
                        f"{rollout}: {where} uses AnalysisTemplate {name}, which ci/ puts in "
                        f"{' and '.join(elsewhere)}, not in {rollout.namespace}: Argo looks "
                        "templates up in the Rollout's namespace, so the analysis fails"
                    )
    return problems


# --- AnalysisTemplate args -----------------------------------------------------------------


def _declared(template: Document) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in template.body.get("spec", {}).get("args") or []}


def analysis_arg_problems(docs: list[Document]) -> list[str]:
    problems = []
    templates = {d.name: d for d in docs if d.kind == "AnalysisTemplate"}
    cluster_templates = {d.name: d for d in docs if d.kind == "ClusterAnalysisTemplate"}
    for template in [*templates.values(), *cluster_templates.values()]:
        declared = _declared(template)
        used = {m for s in strings(template.body.get("spec", {})) for m in ARG.findall(s)}
        for name in sorted(used - set(declared)):
            problems.append(f"{template}: uses {{{{args.{name}}}}}, which it does not declare")
        for name in sorted(set(declared) - used):
            problems.append(f"{template}: declares arg {name} and never uses it")
    for rollout in (d for d in docs if d.kind == "Rollout"):
        for where, analysis in _analyses(rollout):
            passed = [a.get("name") for a in analysis.get("args") or []]
            for name in sorted({n for n in passed if passed.count(n) > 1}):
                problems.append(f"{rollout}: {where} passes arg {name} twice")
            wanted: dict[str, dict[str, Any]] = {}
            for ref in analysis.get("templates") or []:
                pool = cluster_templates if ref.get("clusterScope") else templates
                used_template = pool.get(ref.get("templateName"))
                if used_template is None:
                    problems.append(
                        f"{rollout}: {where} uses template {ref.get('templateName')}, "
                        "which ci/ does not define"
                    )
                    continue
                for name, arg in _declared(used_template).items():
                    wanted[name] = arg
                    if "value" not in arg and "valueFrom" not in arg and name not in passed:
                        problems.append(
                            f"{rollout}: {where} does not pass arg {name}, which {used_template} "
                            "requires (no default): the AnalysisRun fails to start"
                        )
            for name in passed:
                if wanted and name not in wanted:
                    problems.append(f"{rollout}: {where} passes arg {name}, declared by none")
    return problems


# --- what documents name -------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    doc: Document
    where: str
    kind: str
    name: str
    key: str | None = None
    optional: bool = False


def _refs_in_pod_spec(doc: Document, where: str, spec: dict[str, Any]) -> Iterator[Reference]:
    if spec.get("serviceAccountName"):
        yield Reference(doc, where, "ServiceAccount", spec["serviceAccountName"])
    for secret in spec.get("imagePullSecrets") or []:
        yield Reference(doc, where, "Secret", secret.get("name", ""))
    for volume in spec.get("volumes") or []:
        at = f"{where} volume {volume.get('name')}"
        if "configMap" in volume:
            cm = volume["configMap"]
            for item in cm.get("items") or [None]:
                key = item.get("key") if item else None
                yield Reference(
                    doc, at, "ConfigMap", cm.get("name", ""), key, bool(cm.get("optional"))
                )
        if "secret" in volume:
            sec = volume["secret"]
            yield Reference(
                doc, at, "Secret", sec.get("secretName", ""), None, bool(sec.get("optional"))
            )
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"].get("claimName", "")
            yield Reference(doc, at, "PersistentVolumeClaim", claim)
        for source in (volume.get("projected") or {}).get("sources") or []:
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if key in source:
                    yield Reference(
                        doc,
                        at,
                        kind,
                        source[key].get("name", ""),
                        None,
                        bool(source[key].get("optional")),
                    )


def _refs_in_container(doc: Document, where: str, body: dict[str, Any]) -> Iterator[Reference]:
    for env in body.get("env") or []:
        source = env.get("valueFrom") or {}
        at = f"{where} env {env.get('name')}"
        for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            if key in source:
                ref = source[key]
                yield Reference(
                    doc, at, kind, ref.get("name", ""), ref.get("key"), bool(ref.get("optional"))
                )
    for env_from in body.get("envFrom") or []:
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key in env_from:
                ref = env_from[key]
                yield Reference(
                    doc,
                    f"{where} envFrom",
                    kind,
                    ref.get("name", ""),
                    None,
                    bool(ref.get("optional")),
                )


def references(doc: Document) -> Iterator[Reference]:
    for where, spec in pod_specs(doc):
        yield from _refs_in_pod_spec(doc, where, spec)
    for container in containers(doc):
        yield from _refs_in_container(doc, f"{container.role} {container.name}", container.body)
    if doc.kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
        for arg in doc.body.get("spec", {}).get("args") or []:
            secret = (arg.get("valueFrom") or {}).get("secretKeyRef")
            if secret:
                yield Reference(
                    doc, f"arg {arg['name']}", "Secret", secret.get("name", ""), secret.get("key")
                )
    if doc.kind == "Rollout":
        strategy = doc.body.get("spec", {}).get("strategy", {})
        for name in ("canary", "blueGreen"):
            for key in ("canaryService", "stableService", "activeService", "previewService"):
                service = (strategy.get(name) or {}).get(key)
                if service:
                    yield Reference(doc, f"{name}.{key}", "Service", service)
    if doc.kind == "RoleBinding":
        role = doc.body.get("roleRef", {})
        if role.get("kind") == "Role":
            yield Reference(doc, "roleRef", "Role", role.get("name", ""))
        for subject in doc.body.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                yield Reference(doc, "subjects", "ServiceAccount", subject.get("name", ""))
    for text in strings(doc.body):
        for name, namespace in SERVICE_DNS.findall(text):
            yield Reference(
                doc, f"DNS name {name}.{namespace}.svc", "Service", name, key=None, optional=False
            )


def _dns_namespace(ref: Reference) -> str | None:
    found = SERVICE_DNS.search(ref.where)
    return found.group(2) if found else None


def _keys(doc: Document) -> set[str]:
    keys: set[str] = set()
    for field in ("data", "binaryData", "stringData"):
        keys |= set(doc.body.get(field) or {})
    return keys


def reference_problems(docs: list[Document]) -> list[str]:
    problems = []
    for doc in docs:
        for ref in references(doc):
            if ref.optional:
                continue
            namespace = _dns_namespace(ref) or doc.namespace
            # A document with no namespace lands in the context's: look in any.
            found = [
                d
                for d in docs
                if d.kind == ref.kind
                and d.name == ref.name
                and (namespace is None or d.namespace == namespace)
            ]
            ns = f"{namespace}/" if namespace else ""
            if not found:
                if _prerequisite(ref.kind, ref.name, namespace):
                    continue
                hint = ""
                if ref.kind in ("ConfigMap", "Secret") and " env" in ref.where:
                    hint = ": the pod would sit in CreateContainerConfigError"
                problems.append(
                    f"{doc}, {ref.where}: {ref.kind} {ns}{ref.name} is neither in ci/ nor a "
                    f"documented prerequisite{hint}"
                )
            elif ref.key is not None and all(ref.key not in _keys(d) for d in found):
                problems.append(
                    f"{doc}, {ref.where}: {ref.kind} {ns}{ref.name} ({found[0].path}) has "
                    f"no key {ref.key}: the pod would sit in CreateContainerConfigError"
                )
    return list(dict.fromkeys(problems))
