"""Kubernetes API access for the gate, as kubectl has it: where the configuration comes
from, the RBAC permissions asked for by name, and the requests themselves (retried,
recorded for dry run, their errors turned into what to do).

Every message built from an answer goes through `ClusterAccess.redact` before it is
shown: an API server may echo the credentials it rejected. The `kubernetes` package is
imported only when a request or a configuration needs it, so importing this module
costs nothing: a plain run of the suite does not pay for it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from tlogcheck.errors import ConfigError, GateError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "DEFAULT_NAMESPACE",
    "RETRY_STATUSES",
    "SA_NAMESPACE_FILE",
    "UNKNOWN_HOST",
    "ClusterAccess",
    "CustomObject",
    "GateRequest",
    "KubeTransport",
    "Permission",
    "clip",
    "events_path",
    "json_object",
    "load_access",
    "replicasets_path",
    "resolve_namespace",
    "status_message",
]

DEFAULT_NAMESPACE = "tlog"
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
UNKNOWN_HOST = "https://<api-server>"
# 409: another writer won the race, 429: throttled, 5xx: the server or what fronts it;
# the same request may well succeed a moment later. Anything else will not.
RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})

T = TypeVar("T")


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


# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomObject:
    """One namespaced custom object, and what a 404 for it tells the operator to check."""

    group: str
    version: str
    plural: str
    name: str
    not_found: str

    def path(self, namespace: str, *, status: bool = False) -> str:
        base = f"/apis/{self.group}/{self.version}/namespaces/{namespace}/{self.plural}/{self.name}"
        return base + "/status" if status else base

    def client_args(self, namespace: str) -> tuple[str, str, str, str, str]:
        """The leading arguments of every CustomObjectsApi call on a namespaced object."""
        return self.group, self.version, namespace, self.plural, self.name


def replicasets_path(namespace: str, selector: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/replicasets?labelSelector={quote(selector)}"


def events_path(namespace: str) -> str:
    return f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"


@dataclass
class GateRequest:
    """One request the gate sent (or, in dry run, would send), with what came back."""

    step: str
    method: str
    path: str
    content_type: str | None
    body: Any
    permission: Permission
    attempt: int = 1
    sent: bool = False
    status: int | None = None
    sent_at: float | None = None
    elapsed: float | None = None
    error: str | None = None

    def line(self, host: str) -> str:
        text = f"{self.method} {host}{self.path}"
        if self.content_type:
            text += f"  Content-Type: {self.content_type}"
        if self.body is not None:
            text += "  " + json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)
        return text

    def to_json(self, host: str) -> dict[str, Any]:
        return {
            "step": self.step,
            "method": self.method,
            "url": host + self.path,
            "content_type": self.content_type,
            "body": self.body,
            "attempt": self.attempt,
            "sent": self.sent,
            "status": self.status,
            "sent_at": self.sent_at,
            "elapsed_s": self.elapsed,
            "error": self.error,
        }


class KubeTransport:
    """Requests to one namespace: retried with backoff, recorded, and only recorded in dry run.

    5xx, 409 and 429 answers and transport errors are retried (Retry-After honoured);
    every other error, and the last retry, raises `GateError` with a message that says
    what to do: the RBAC verb and resource on 403, the caller's `not_found` on 404.
    """

    def __init__(
        self,
        access: ClusterAccess | None,
        namespace: str,
        *,
        dry_run: bool = False,
        attempts: int = 4,
        backoff: float = 0.25,
        timeout: tuple[float, float] = (3.0, 10.0),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if access is None and not dry_run:
            raise GateError("the gate needs Kubernetes access unless it is a dry run")
        self.access = access
        self.namespace = namespace
        self.dry_run = dry_run
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = timeout
        self._deadline: float | None = None
        self._sleep = sleep
        self.requests: list[GateRequest] = []

    @property
    def host(self) -> str:
        return self.access.host if self.access is not None else UNKNOWN_HOST

    def redact(self, text: str) -> str:
        return self.access.redact(text) if self.access is not None else text

    def close(self) -> None:
        if self.access is not None:
            self.access.close()

    @contextmanager
    def deadline(self, budget: float) -> Iterator[None]:
        """No retry starts that would end more than `budget` seconds from now."""
        self._deadline = time.monotonic() + budget
        try:
            yield
        finally:
            self._deadline = None

    # retries

    def _delay(self, attempt: int, headers: Mapping[str, str] | None) -> float:
        retry_after = (headers or {}).get("Retry-After")
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), 5.0)
        return float(min(self.backoff * 2 ** (attempt - 1), 4.0))

    def _retry(self, attempt: int, headers: Mapping[str, str] | None) -> bool:
        """Sleep before another attempt, or say there is none left."""
        if attempt >= self.attempts:
            return False
        delay = self._delay(attempt, headers)
        if self._deadline is not None and time.monotonic() + delay > self._deadline:
            return False
        self._sleep(delay)
        return True

    def send(
        self,
        step: str,
        method: str,
        path: str,
        content_type: str | None,
        body: Any,
        permission: Permission,
        call: Callable[[], T],
        *,
        not_found: str | None = None,
    ) -> T | None:
        """`call()` (None in dry run), recorded under `step` as METHOD PATH with its body.

        `not_found`: what a 404 means here, in words that say what to check.
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        for attempt in range(1, self.attempts + 1):
            req = GateRequest(step, method, path, content_type, body, permission, attempt)
            self.requests.append(req)
            if self.dry_run:
                return None
            req.sent = True
            req.sent_at = time.time()
            started = time.perf_counter()
            try:
                result = call()
            except ApiException as exc:
                req.elapsed = time.perf_counter() - started
                req.status = int(exc.status) if exc.status is not None else None
                req.error = self.redact(status_message(exc))
                if req.status in RETRY_STATUSES and self._retry(attempt, exc.headers):
                    continue
                raise self._api_error(req, not_found) from None
            except (HTTPError, OSError) as exc:
                req.elapsed = time.perf_counter() - started
                req.error = self.redact(f"{type(exc).__name__}: {exc}")
                if self._retry(attempt, None):
                    continue
                raise GateError(
                    self.redact(
                        f"{step}: the API server {self.host} is unreachable after {attempt} "
                        f"attempt(s): {req.error}"
                    )
                ) from None
            req.elapsed = time.perf_counter() - started
            req.status = int(getattr(result, "status", 200) or 200)
            # Read the whole answer: that hands the connection back to the pool.
            getattr(result, "data", None)
            return result
        raise GateError(f"{step}: no attempt was made")  # attempts >= 1: not reached

    def _api_error(self, req: GateRequest, not_found: str | None) -> GateError:
        perm, ns, status = req.permission, self.namespace, req.status
        if status == 401:
            text = (
                "401 Unauthorized: the API server rejected the credentials from "
                f"{self.access.source if self.access else 'the configuration'} "
                "(token or certificate invalid or expired)"
            )
        elif status == 403:
            group = perm.group or '"" (core)'
            text = (
                f"403 Forbidden: RBAC does not allow verb '{perm.verb}' on resource "
                f"'{perm.resource}' (apiGroup {group}) in namespace '{ns}'; grant it "
                f"(see ci/rbac.yaml), check with `{perm.can_i(ns)}`"
            )
        elif status == 404 and not_found:
            text = f"404 Not Found: {not_found}"
        elif status == 409:
            text = f"409 Conflict after {req.attempt} attempt(s)"
        elif status is not None and status >= 500:
            text = f"{status} from the API server after {req.attempt} attempt(s)"
        else:
            text = f"HTTP {status}"
        return GateError(self.redact(f"{req.step}: {text}: {req.error} [{req.method} {req.path}]"))

    # the kubernetes client's calls

    def _raw(self) -> dict[str, Any]:
        # Raw responses: the JSON as the server sent it (the client still raises
        # ApiException on non-2xx), and a bounded wait.
        return {"_preload_content": False, "_request_timeout": self.timeout}

    def _api_client(self) -> ApiClient:
        assert self.access is not None  # send() makes no call in dry run, the only access-less mode
        return self.access.api_client

    def _custom(self) -> Any:
        from kubernetes.client import CustomObjectsApi

        return CustomObjectsApi(self._api_client())

    def warm(self) -> None:
        """Prepare the custom object patches before they are needed.

        The client validates each method's arguments with a validator it builds on the
        method's first call (tens of ms). Calling the patch methods once with arguments
        they reject builds them now; validation fails before anything is sent.
        """
        if self.access is None:
            return
        api = self._custom()
        for method in (
            api.patch_namespaced_custom_object_status,
            api.patch_namespaced_custom_object,
        ):
            try:
                method(None, None, None, None, None, None)
            except ValueError:  # pydantic's ValidationError: nothing was sent
                pass

    def get_custom_object(
        self, step: str, obj: CustomObject, permission: Permission
    ) -> dict[str, Any] | None:
        resp = self.send(
            step,
            "GET",
            obj.path(self.namespace),
            None,
            None,
            permission,
            lambda: self._custom().get_namespaced_custom_object(
                *obj.client_args(self.namespace), **self._raw()
            ),
            not_found=obj.not_found,
        )
        return None if resp is None else json_object(resp)

    def patch_custom_object(
        self,
        step: str,
        obj: CustomObject,
        body: Any,
        content_type: str,
        permission: Permission,
        *,
        status: bool,
    ) -> dict[str, Any] | None:
        """PATCH the object, or its status subresource, with `content_type`'s semantics."""

        def call() -> Any:
            api = self._custom()
            method = (
                api.patch_namespaced_custom_object_status
                if status
                else api.patch_namespaced_custom_object
            )
            return method(
                *obj.client_args(self.namespace), body, _content_type=content_type, **self._raw()
            )

        path = obj.path(self.namespace, status=status)
        resp = self.send(
            step, "PATCH", path, content_type, body, permission, call, not_found=obj.not_found
        )
        return None if resp is None else json_object(resp)

    def list_replica_sets(
        self, step: str, selector: str, permission: Permission
    ) -> list[dict[str, Any]]:
        """The ReplicaSets matching the label selector; none in dry run."""

        def call() -> Any:
            from kubernetes.client import AppsV1Api

            return AppsV1Api(self._api_client()).list_namespaced_replica_set(
                self.namespace, label_selector=selector, **self._raw()
            )

        path = replicasets_path(self.namespace, selector)
        resp = self.send(step, "GET", path, None, None, permission, call)
        if resp is None:
            return []
        # The raw JSON, not the client's models: a template read here can go back into
        # another object as the server holds it, including fields newer than this client knows.
        doc = json_object(resp)
        return [item for item in doc.get("items") or [] if isinstance(item, dict)]

    def create_event(self, step: str, body: dict[str, Any], permission: Permission) -> None:
        """POST an events.k8s.io/v1 Event."""

        def call() -> Any:
            # events.k8s.io/v1: the current Events API (core/v1 events are its legacy
            # view), and a client module that imports in milliseconds, not seconds.
            from kubernetes.client import EventsV1Api

            # The body as a dict (typed as the model; the client validates a dict into
            # it). The generated create method sets no Content-Type of its own.
            events: Any = EventsV1Api(self._api_client())
            return events.create_namespaced_event(
                self.namespace, body, _headers={"Content-Type": "application/json"}, **self._raw()
            )

        path = events_path(self.namespace)
        self.send(step, "POST", path, "application/json", body, permission, call)

    # --- read-only calls of `tlogcheck triage` (tlogcheck/incident/kube.py) ---------------

    def list_pods(self, step: str, selector: str, permission: Permission) -> list[dict[str, Any]]:
        """The pods matching the label selector (raw JSON items)."""

        def call() -> Any:
            from kubernetes.client import CoreV1Api

            return CoreV1Api(self._api_client()).list_namespaced_pod(
                self.namespace, label_selector=selector, **self._raw()
            )

        path = f"/api/v1/namespaces/{self.namespace}/pods?labelSelector={quote(selector)}"
        resp = self.send(step, "GET", path, None, None, permission, call)
        if resp is None:
            return []
        return [i for i in json_object(resp).get("items") or [] if isinstance(i, dict)]

    def read_pod_log(
        self, step: str, pod: str, tail: int, permission: Permission, *, limit: int = 2**20
    ) -> str:
        """The last `tail` lines of a pod's log, at most `limit` bytes of them."""

        def call() -> Any:
            from kubernetes.client import CoreV1Api

            return CoreV1Api(self._api_client()).read_namespaced_pod_log(
                pod, self.namespace, tail_lines=tail, limit_bytes=limit, **self._raw()
            )

        path = f"/api/v1/namespaces/{self.namespace}/pods/{pod}/log?tailLines={tail}"
        resp = self.send(step, "GET", path, None, None, permission, call)
        if resp is None:
            return ""
        data = resp.data if isinstance(resp.data, bytes) else str(resp.data).encode()
        return data[:limit].decode("utf-8", "replace")
