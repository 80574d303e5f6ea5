"""The files of ci/ as a user copies them: found, loaded, and walked.

Every `*.yaml` / `*.yml` below ci/ is found (recursively, so a file added later is
checked without anyone listing it). A YAML file is a Kubernetes manifest unless it is
one of the few files of FILE_KINDS (the GitHub workflow, and later Prometheus rule
files and the like), which name what validates them instead. A file of any other type
must be in FILE_KINDS or in CHECKED_ELSEWHERE, so nothing lands in ci/ unchecked.

YAML is read as the receiving end reads it: manifests with PyYAML's YAML 1.1 rules,
which are kubectl's (sigs.k8s.io/yaml reads a bare `on` or `yes` as a boolean too).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "ci"

# ci/ files that are no Kubernetes manifest -> what they are (kube_schema.FILE_VALIDATORS
# holds the validator of each kind).
FILE_KINDS: dict[str, str] = {
    "github-workflow.yaml": "github-workflow",
    "prometheus/tlog-alerts.rules.yaml": "prometheus-rules",
    "exporter/prometheus-scrape.yaml": "prometheus-config",
    "Dockerfile": "dockerfile",
    "vscode/tasks.json": "vscode-tasks",
    "cdn/cloudfront-invalidate.sh": "shell-script",
    "cdn/cloudflare-purge.sh": "shell-script",
}

# ci/ files whose check is a test of its own: path -> that test.
CHECKED_ELSEWHERE: dict[str, str] = {
    "edge/nginx.conf": "tests/refstack/test_nginx.py renders it and runs nginx with it",
}


@dataclass
class Document:
    """One YAML document of a manifest in ci/."""

    path: str  # relative to ci/
    index: int  # position in its file, from 0
    body: dict[str, Any]

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str | None:
        ns = self.metadata.get("namespace")
        return None if ns is None else str(ns)

    def __str__(self) -> str:
        where = f"ci/{self.path}" + (f" (document {self.index + 1})" if self.index else "")
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{where} {self.kind} {ns}{self.name}"


def files(ci: Path = CI) -> list[str]:
    """Every file below ci/, relative to it."""
    return sorted(p.relative_to(ci).as_posix() for p in ci.rglob("*") if p.is_file())


def yaml_files(ci: Path = CI) -> list[str]:
    return [f for f in files(ci) if f.endswith((".yaml", ".yml"))]


def manifest_files(ci: Path = CI) -> list[str]:
    return [f for f in yaml_files(ci) if f not in FILE_KINDS]


def unchecked_files(ci: Path = CI) -> list[str]:
    """Files in ci/ that no check of this package or of another test covers."""
    return [
        f
        for f in files(ci)
        if not f.endswith((".yaml", ".yml")) and f not in FILE_KINDS and f not in CHECKED_ELSEWHERE
    ]


def load(ci: Path = CI) -> list[Document]:
    """Every document of every manifest in ci/, in file order."""
    docs: list[Document] = []
    for rel in manifest_files(ci):
        loaded = [d for d in yaml.safe_load_all((ci / rel).read_text()) if d is not None]
        for i, body in enumerate(loaded):
            if not isinstance(body, dict):
                raise ValueError(f"ci/{rel} document {i + 1} is not a mapping: {body!r:.60}")
            docs.append(Document(rel, i, body))
    return docs


def load_workflow(ci: Path = CI) -> dict[str, Any]:
    (rel,) = [f for f, kind in FILE_KINDS.items() if kind == "github-workflow"]
    wf = yaml.safe_load((ci / rel).read_text())
    assert isinstance(wf, dict)
    return wf


def find(docs: list[Document], kind: str, name: str) -> Document:
    (found,) = [d for d in docs if d.kind == kind and d.name == name]
    return found


def without(docs: list[Document], kind: str, name: str) -> list[Document]:
    """A deep copy of `docs` less one document: a defect reintroduced in memory."""
    return [copy.deepcopy(d) for d in docs if not (d.kind == kind and d.name == name)]


def clone(docs: list[Document]) -> list[Document]:
    return copy.deepcopy(docs)


# --- pod specs and containers --------------------------------------------------------------

# Where each kind keeps the pod specs it makes (paths of dict keys; "*" is every item).
POD_SPEC_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Pod": (("spec",),),
    "PodTemplate": (("template", "spec"),),
    "Deployment": (("spec", "template", "spec"),),
    "StatefulSet": (("spec", "template", "spec"),),
    "DaemonSet": (("spec", "template", "spec"),),
    "ReplicaSet": (("spec", "template", "spec"),),
    "Job": (("spec", "template", "spec"),),
    "CronJob": (("spec", "jobTemplate", "spec", "template", "spec"),),
    "Rollout": (("spec", "template", "spec"),),
    "AnalysisTemplate": (("spec", "metrics", "*", "provider", "job", "spec", "template", "spec"),),
    "ClusterAnalysisTemplate": (
        ("spec", "metrics", "*", "provider", "job", "spec", "template", "spec"),
    ),
}


def walk(obj: Any, path: tuple[str, ...], where: str = "") -> Iterator[tuple[str, Any]]:
    """The values at `path` below `obj`, each with its dotted location."""
    if not path:
        yield where, obj
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                yield from walk(item, rest, f"{where}[{i}]")
    elif isinstance(obj, dict) and head in obj:
        yield from walk(obj[head], rest, f"{where}.{head}" if where else head)


def pod_specs(doc: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in POD_SPEC_PATHS.get(doc.kind, ()):
        for where, spec in walk(doc.body, path):
            if isinstance(spec, dict):
                yield where, spec


@dataclass
class Container:
    doc: Document
    where: str  # e.g. spec.jobTemplate.spec.template.spec.initContainers[0]
    role: str  # container, init container, ephemeral container
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.body.get("name", ""))

    def __str__(self) -> str:
        return f"{self.doc}, {self.role} {self.name}"


def containers(doc: Document) -> Iterator[Container]:
    for where, spec in pod_specs(doc):
        for key, role in (
            ("initContainers", "init container"),
            ("containers", "container"),
            ("ephemeralContainers", "ephemeral container"),
        ):
            for i, body in enumerate(spec.get(key) or []):
                yield Container(doc, f"{where}.{key}[{i}]", role, body)
