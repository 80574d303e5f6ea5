"""Each document of ci/ against the schema of its kind, as the receiving end holds it.

- Argo Rollouts kinds (and any kind whose CRD is dropped below tests/ci/schemas/ as a
  `*-crd.yaml`): the CRD's `openAPIV3Schema`, read as the API server reads a structural
  schema under kubectl's default `--validate=strict`: `x-kubernetes-int-or-string` is
  an integer or a string, `x-kubernetes-preserve-unknown-fields` keeps anything below
  it, and any other field the schema does not name is rejected; `nullable`, `enum`,
  `pattern`, bounds and the uniqueness of `x-kubernetes-list-type` set / map lists are
  checked. Not evaluated: CEL rules (`x-kubernetes-validations`) and `format`.
  `metadata` (which a CRD leaves to the API server) and the Kubernetes objects a CRD
  embeds (a Rollout's pod template, a Job metric's Job) are also checked as core
  objects, where the CRD is looser (it keeps `volumes` unchecked).
- core kinds: kubernetes-validate, strict, for each of KUBERNETES_VERSIONS: the
  newest it knows and the oldest Kubernetes release the manifests support.
- a document of any other kind fails: a new kind needs its CRD below tests/ci/schemas/.
- the files of manifests.FILE_KINDS by their own validators: the GitHub workflow with
  check-jsonschema's vendored workflow schema, the Dockerfile with hadolint.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tests.ci import file_checks
from tests.ci.manifests import Document, walk

SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES_VERSIONS = ("1.29", "1.37")

# Kinds with no namespace; everything else in ci/ is namespaced (CRDs say their scope).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)


# --- CRDs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crd:
    api_version: str
    kind: str
    namespaced: bool
    schema: Mapping[str, Any]
    source: str


@functools.cache
def crds() -> dict[tuple[str, str], Crd]:
    """The served versions of every CRD below tests/ci/schemas/, by (apiVersion, kind)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 2.5 MB of YAML
    found: dict[tuple[str, str], Crd] = {}
    for path in sorted(SCHEMAS.rglob("*-crd.yaml")):
        crd = yaml.load(path.read_text(), Loader=loader)
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            api_version = f"{spec['group']}/{version['name']}"
            found[(api_version, spec["names"]["kind"])] = Crd(
                api_version=api_version,
                kind=spec["names"]["kind"],
                namespaced=spec["scope"] == "Namespaced",
                schema=version["schema"]["openAPIV3Schema"],
                source=path.relative_to(SCHEMAS.parent).as_posix(),
            )
    return found


def namespaced(api_version: str, kind: str) -> bool:
    crd = crds().get((api_version, kind))
    return crd.namespaced if crd else kind not in CLUSTER_SCOPED


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _has_type(value: Any, want: str) -> bool:
    got = _type_name(value)
    return got == want or (want == "number" and got == "integer")


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def structural_errors(schema: Mapping[str, Any], value: Any, path: str = "") -> list[str]:
    """Where `value` breaks a structural schema: one sentence per problem, empty if none."""
    errors: list[str] = []
    _check(schema, value, path, errors)
    return errors


def _check(schema: Mapping[str, Any], value: Any, path: str, errors: list[str]) -> None:
    here = path or "<root>"
    if value is None:
        if not schema.get("nullable"):
            errors.append(f"{here}: null is not allowed (not nullable)")
        return
    for sub in schema.get("allOf", ()):
        _check(sub, value, path, errors)
    if schema.get("x-kubernetes-int-or-string"):
        if not _has_type(value, "integer") and not isinstance(value, str):
            errors.append(f"{here}: want an integer or a string, got {_type_name(value)}")
        elif isinstance(value, str) and "pattern" in schema:
            _check_string(schema, value, here, errors)
        return
    for key in ("anyOf", "oneOf"):
        if key in schema:
            passing = sum(not structural_errors(sub, value, path) for sub in schema[key])
            if passing == 0 or (key == "oneOf" and passing > 1):
                errors.append(f"{here}: matches {passing} of the {key} alternatives")
    want = schema.get("type")
    if want is not None and not _has_type(value, want):
        errors.append(f"{here}: want {want}, got {_type_name(value)} {value!r:.40}")
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{here}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        _check_string(schema, value, here, errors)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{here}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{here}: {value} is above the maximum {schema['maximum']}")
    elif isinstance(value, list):
        _check_list(schema, value, path, errors)
    elif isinstance(value, dict):
        _check_object(schema, value, path, errors)


def _check_string(schema: Mapping[str, Any], value: str, here: str, errors: list[str]) -> None:
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{here}: {value!r} does not match {schema['pattern']!r}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{here}: longer than {schema['maxLength']} characters")
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{here}: shorter than {schema['minLength']} characters")


def _check_list(schema: Mapping[str, Any], value: list[Any], path: str, errors: list[str]) -> None:
    here = path or "<root>"
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{here}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{here}: more than {schema['maxItems']} items")
    items = schema.get("items")
    if isinstance(items, Mapping):
        for i, item in enumerate(value):
            _check(items, item, _at(path, i), errors)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: list[Any] = []
        for item in value:
            if item in seen:
                errors.append(f"{here}: {item!r} appears twice in a set")
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen_keys: set[tuple[str, ...]] = set()
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key = tuple(repr(item.get(k)) for k in keys)
            if key in seen_keys:
                named = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
                errors.append(f"{_at(path, i)}: a second item with {named}")
            seen_keys.add(key)


def _check_object(
    schema: Mapping[str, Any], value: dict[Any, Any], path: str, errors: list[str]
) -> None:
    here = path or "<root>"
    properties: Mapping[str, Any] = schema.get("properties", {})
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
    for key in schema.get("required", ()):
        if key not in value:
            errors.append(f"{here}: required field {key!r} is missing")
    for key, item in value.items():
        if key in properties:
            _check(properties[key], item, _at(path, key), errors)
        elif isinstance(additional, Mapping):
            _check(additional, item, _at(path, key), errors)
        elif additional is True or preserve:
            continue
        else:
            close = difflib.get_close_matches(str(key), list(properties), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{_at(path, str(key))}: unknown field{hint}")


# --- core kinds: kubernetes-validate -------------------------------------------------------


class UnknownKind(Exception):
    pass


def kubernetes_errors(body: Mapping[str, Any], version: str) -> list[str]:
    """kubernetes-validate, strict; UnknownKind when it has no schema for the kind."""
    try:
        kubernetes_validate.validate(dict(body), version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise UnknownKind(exc.message) from None
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "<root>"
        return [f"{where}: {exc.message} (Kubernetes {exc.version}, strict)"]
    return []


def _embedded_errors(wrapper: dict[str, Any], prefix: str, strip: int, version: str) -> list[str]:
    """A Kubernetes object a CRD embeds, checked as the core object it becomes."""
    try:
        kubernetes_validate.validate(wrapper, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        rest = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in list(exc.path)[strip:]]
        return [f"{prefix}{''.join(rest)}: {exc.message} (Kubernetes {exc.version}, strict)"]
    return []


def _metadata_errors(metadata: Any, version: str) -> list[str]:
    wrapper = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    return _embedded_errors(wrapper, "metadata", 1, version)


# Kubernetes objects inside CRD kinds: (path, how to wrap it as a core object).
def _pod_template(value: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"}, "template": value}


def _job(value: Any) -> dict[str, Any]:
    # Argo's Job metric metadata holds labels and annotations; a Job needs a name too.
    meta = {"name": "x", **(value.get("metadata") or {})} if isinstance(value, dict) else {}
    spec = value.get("spec") if isinstance(value, dict) else value
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


EMBEDDED: dict[str, tuple[tuple[tuple[str, ...], Callable[[Any], dict[str, Any]], int], ...]] = {
    "Rollout": ((("spec", "template"), _pod_template, 1),),
    "AnalysisTemplate": ((("spec", "metrics", "*", "provider", "job"), _job, 0),),
    "ClusterAnalysisTemplate": ((("spec", "metrics", "*", "provider", "job"), _job, 0),),
}


def document_errors(doc: Document) -> list[str]:
    """What the API server (or kubectl's strict validation) would reject in `doc`."""
    if not doc.api_version or not doc.kind:
        return [
            f"{doc}: no apiVersion and kind, so no Kubernetes manifest; a file of another "
            "kind belongs in manifests.FILE_KINDS with its validator"
        ]
    crd = crds().get((doc.api_version, doc.kind))
    if crd is not None:
        body = {k: v for k, v in doc.body.items() if k != "metadata"}
        errors = [f"{e} ({crd.source})" for e in structural_errors(crd.schema, body)]
        version = KUBERNETES_VERSIONS[-1]
        errors += _metadata_errors(doc.body.get("metadata"), version)
        for path, wrap, strip in EMBEDDED.get(doc.kind, ()):
            for where, value in walk(doc.body, path):
                for version in KUBERNETES_VERSIONS:
                    errors += _embedded_errors(wrap(value), where, strip, version)
        return [f"{doc}: {e}" for e in dict.fromkeys(errors)]
    errors = []
    unknown = []
    for version in KUBERNETES_VERSIONS:
        try:
            errors += kubernetes_errors(doc.body, version)
        except UnknownKind as exc:
            unknown.append(str(exc))
    if len(unknown) == len(KUBERNETES_VERSIONS):
        known = sorted({f"{k} ({a})" for a, k in crds()})
        return [
            f"{doc}: unknown kind {doc.kind} ({doc.api_version}): neither a Kubernetes "
            f"{'/'.join(KUBERNETES_VERSIONS)} kind nor one of the CRDs below "
            f"tests/ci/schemas/ ({', '.join(known)}); add its CRD there"
        ]
    return [f"{doc}: {e}" for e in unknown + errors]


# --- files that are no Kubernetes manifest -------------------------------------------------


def tool(name: str) -> str | None:
    """An executable installed with the test extra (beside this Python) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def has_check_jsonschema() -> bool:
    return importlib.util.find_spec("check_jsonschema") is not None


def github_workflow_errors(path: Path) -> list[str]:
    """check-jsonschema's vendored GitHub workflow schema (a YAML 1.2 reading, as GitHub's)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            "--disable-formats",
            "*",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode == 0:
        return []
    return [f"{path.name}: {line}" for line in (done.stdout + done.stderr).splitlines() if line]


def dockerfile_errors(path: Path) -> list[str]:
    """hadolint with its defaults: any finding (error, warning, info, style) is one."""
    exe = tool("hadolint")
    if exe is None:
        raise FileNotFoundError("hadolint")
    done = subprocess.run(
        [exe, "--no-color", str(path)], capture_output=True, text=True, timeout=120
    )
    if done.returncode == 0:
        return []
    return [line for line in (done.stdout + done.stderr).splitlines() if line]


def prometheus_rules_errors(path: Path) -> list[str]:
    """promtool's own check of a Prometheus rules file (Debian package prometheus)."""
    exe = tool("promtool")
    if exe is None:
        raise FileNotFoundError("promtool")
    done = subprocess.run(
        [exe, "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    if done.returncode == 0:
        return []
    return [line for line in (done.stdout + done.stderr).splitlines() if line]


def prometheus_config_errors(path: Path) -> list[str]:
    """promtool's own check of a Prometheus config file (and the rule files it names)."""
    exe = tool("promtool")
    if exe is None:
        raise FileNotFoundError("promtool")
    done = subprocess.run(
        [exe, "check", "config", str(path)], capture_output=True, text=True, timeout=120
    )
    if done.returncode == 0:
        return []
    return [line for line in (done.stdout + done.stderr).splitlines() if line]


FILE_VALIDATORS: dict[str, Callable[[Path], list[str]]] = {
    "github-workflow": github_workflow_errors,
    "prometheus-rules": prometheus_rules_errors,
    "prometheus-config": prometheus_config_errors,
    "dockerfile": dockerfile_errors,
    "vscode-tasks": file_checks.vscode_tasks_errors,
    "shell-script": file_checks.shell_script_errors,
}
