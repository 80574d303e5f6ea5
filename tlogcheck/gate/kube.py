"""Kubernetes access as kubectl has it: where the configuration comes from, the RBAC
permissions asked for by name, and API answers read without letting a token through.

Every message built from an answer goes through `ClusterAccess.redact` before it is
shown: an API server may echo the credentials it rejected. The `kubernetes` package is
imported inside `load_access`, so importing this module costs nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tlogcheck.errors import ConfigError, GateError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "DEFAULT_NAMESPACE",
    "SA_NAMESPACE_FILE",
    "ClusterAccess",
    "Permission",
    "clip",
    "json_object",
    "load_access",
    "resolve_namespace",
    "status_message",
]

DEFAULT_NAMESPACE = "tlog"
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass(frozen=True)
class Permission:
    """One RBAC permission the gate needs: ci/rbac.yaml grants exactly these."""

    verb: str
    group: str
    resource: str

    def can_i(self, namespace: str) -> str:
        base, _, sub = self.resource.partition("/")
        name = f"{base}.{self.group}" if self.group else base
        sub_flag = f" --subresource={sub}" if sub else ""
        return f"kubectl auth can-i {self.verb} {name}{sub_flag} -n {namespace}"


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ClusterAccess:
    """An ApiClient with where its configuration came from and how to hide its secrets."""

    def __init__(
        self, api_client: ApiClient, *, host: str, namespace: str | None, source: str
    ) -> None:
        self.api_client = api_client
        self.host = host
        self.namespace = namespace
        self.source = source

    def secrets(self) -> list[str]:
        # Read at redaction time: an exec credential plugin may have refreshed the token.
        cfg = self.api_client.configuration
        found: list[str] = []
        for raw in list((cfg.api_key or {}).values()) + [cfg.password or ""]:
            text = str(raw)
            found.append(text)
            found.extend(text.split()[1:])
        return [s for s in found if len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "<redacted>")
        return text

    def close(self) -> None:
        closer: Any = self.api_client
        closer.close()


def load_access(kubeconfig: str | None = None) -> ClusterAccess:
    """Configuration as kubectl finds it: KUBECONFIG, ~/.kube/config, else in-cluster.

    The namespace is the current context's (or the service account's in a pod);
    the caller prefers an explicit option and falls back to `DEFAULT_NAMESPACE`.
    """
    from kubernetes import client
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    # kubernetes.config is untyped; its loaders are called as documented.
    config: Any = kube_config

    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    paths = [os.path.expanduser(p) for p in path.split(os.pathsep) if p]
    cfg = client.Configuration()
    namespace: str | None = None
    try:
        if any(os.path.exists(p) for p in paths):
            source = f"kubeconfig {path}"
            config.load_kube_config(
                config_file=path, client_configuration=cfg, persist_config=False
            )
            _, current = config.list_kube_config_contexts(config_file=path)
            namespace = ((current or {}).get("context") or {}).get("namespace")
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            source = "in-cluster service account"
            config.load_incluster_config(client_configuration=cfg)
            if os.path.exists(SA_NAMESPACE_FILE):
                with open(SA_NAMESPACE_FILE, encoding="utf-8") as fh:
                    namespace = fh.read().strip() or None
        else:
            raise ConfigError(
                f"no Kubernetes credentials for the gate: {path} does not exist and this is not "
                "a pod (KUBERNETES_SERVICE_HOST unset); set KUBECONFIG"
            )
    except ConfigException as exc:
        raise ConfigError(f"cannot load the Kubernetes configuration ({source}): {exc}") from None
    # Our own loop retries with backoff and knows which statuses are worth it.
    cfg.retries = False
    api_client = client.ApiClient(cfg)
    from tlogcheck import __version__

    api_client.user_agent = f"tlogcheck/{__version__} (kubernetes-python)"
    return ClusterAccess(api_client, host=str(cfg.host), namespace=namespace, source=source)


def status_message(exc: Any) -> str:
    """The `message` of a Kubernetes Status body, else the HTTP reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            doc = json.loads(body)
        except (TypeError, ValueError):
            return clip(str(body), 300)
        if isinstance(doc, dict) and doc.get("message"):
            return clip(str(doc["message"]), 300)
    return str(getattr(exc, "reason", "") or "error")


def json_object(resp: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(resp.data)
    except (TypeError, ValueError):
        parsed = None
    if not isinstance(parsed, dict):
        raise GateError("unexpected answer from the API server: not a JSON object")
    return parsed


def resolve_namespace(option: str | None, access: ClusterAccess | None) -> tuple[str, str]:
    """(namespace, where it came from): the option, the context, else the default."""
    if option:
        return option, "option"
    if access is not None and access.namespace:
        return access.namespace, access.source
    return DEFAULT_NAMESPACE, "default"
