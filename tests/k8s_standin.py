"""A Kubernetes API stand-in on loopback for the gate's tests.

A real HTTP server (threads, HTTP/1.1 keep-alive) speaking the REST paths the
official `kubernetes` client uses for Argo Rollouts, ReplicaSets and Events, with
the answers a real API server gives: objects with kind/apiVersion/metadata,
`Status` bodies with code and reason on errors, merge patch (RFC 7386) and JSON
patch (RFC 6902) applied for real, a status subresource that only takes status
(and a main resource that then ignores status), 415 for a patch type a custom
resource does not accept, Bearer-token authentication and RBAC rules in the
shape of a Role. Every request is recorded with its arrival time.

Knobs: `fail(code, times, when)` answers a request with an error status,
`status_subresource=False` makes `/status` answer 404 (the abort falls back),
`rules=[...]` enforces RBAC (e.g. the rules of ci/rbac.yaml).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

ROLLOUT_PATH = re.compile(
    r"^/apis/argoproj\.io/v1alpha1/namespaces/(?P<ns>[^/]+)/rollouts/(?P<name>[^/]+)"
    r"(?P<sub>/status)?$"
)
REPLICASETS_PATH = re.compile(r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/replicasets$")
PODS_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
POD_LOG_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$")
EVENTS_PATH = re.compile(r"^/apis/events\.k8s\.io/v1/namespaces/(?P<ns>[^/]+)/events$")
# metav1.MicroTime is parsed with RFC3339Micro: exactly six fractional digits.
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
HASH_LABEL = "rollouts-pod-template-hash"
REVISION_ANNOTATION = "rollout.argoproj.io/revision"

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    405: "MethodNotAllowed",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Recorded:
    """One request as it reached the stand-in (never the token itself)."""

    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    body: Any
    at: float
    bearer_ok: bool
    status: int = 0

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class _Failure:
    code: int
    times: int
    when: Callable[[Recorded], bool]
    message: str | None


@dataclass
class _Access:
    verb: str
    group: str
    resource: str
    name: str
    kind_plural: str  # for Status details: "rollouts", "replicasets", "events"


class ApiStatus(Exception):
    def __init__(self, code: int, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": REASONS.get(self.code, "Unknown"),
            "code": self.code,
        }
        if self.details:
            out["details"] = self.details
        return out


# --- RFC 7386 merge patch and RFC 6902 JSON patch ---------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, parts[-1]


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise ValueError("a JSON patch is a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, parts = op["op"], _pointer(op["path"])
        if not parts:
            raise ValueError("patching the whole document is not supported")
        if kind in ("move", "copy"):
            src_parent, src_key = _parent(doc, _pointer(op["from"]))
            idx = int(src_key) if isinstance(src_parent, list) else src_key
            value = copy.deepcopy(src_parent[idx])
            if kind == "move":
                del src_parent[idx]
            op = {"op": "add", "path": op["path"], "value": value}
            kind = "add"
        parent, key = _parent(doc, parts)
        if kind == "test":
            current = parent[int(key)] if isinstance(parent, list) else parent[key]
            if current != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif kind == "remove":
            del parent[int(key) if isinstance(parent, list) else key]
        elif kind == "replace":
            if isinstance(parent, list):
                parent[int(key)] = op["value"]
            else:
                if key not in parent:
                    raise ValueError(f"replace: no value at {op['path']}")
                parent[key] = op["value"]
        elif kind == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if key == "-" else int(key), op["value"])
            else:
                parent[key] = op["value"]
        else:
            raise ValueError(f"unknown op {kind!r}")
    return doc


# --- label selectors ---------------------------------------------------------------------


def _split_selector(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    for req in _split_selector(selector):
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", req)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            present = m.group(1) in labels and labels[m.group(1)] in values
            if (m.group(2) == "in") != present:
                return False
            continue
        m = re.fullmatch(r"([^!=\s]+)\s*(==|=|!=)\s*(\S*)", req)
        if m:
            equal = labels.get(m.group(1)) == m.group(3)
            if (m.group(2) == "!=") == equal:
                return False
            continue
        if req.startswith("!"):
            if req[1:] in labels:
                return False
        elif req not in labels:
            return False
    return True


# --- the server --------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, standin: K8sStandIn) -> None:
        self.standin = standin
        self.open_connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conn_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conn_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that exits with a keep-alive connection open resets it: not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30
    # As a Go API server does: without it, headers and body go in two segments and the
    # second waits for the client's delayed ACK (40 ms a request on Linux).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        del format, args

    def _handle(self) -> None:
        at = time.time()
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        ctype = self.headers.get("Content-Type")
        standin = self.server.standin
        rec = Recorded(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            content_type=ctype.split(";")[0].strip() if ctype else None,
            body=body,
            at=at,
            bearer_ok=self.headers.get("Authorization") == f"Bearer {standin.token}",
        )
        try:
            code, payload = standin.dispatch(rec)
        except ApiStatus as exc:
            code, payload = exc.code, exc.body()
        rec.status = code
        standin.record(rec)
        text = isinstance(payload, str)  # pods/log answers text/plain
        data = payload.encode() if text else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _handle
    do_POST = _handle
    do_PATCH = _handle
    do_PUT = _handle
    do_DELETE = _handle


class K8sStandIn:
    """The API server stand-in: rollouts, replicasets and events in memory."""

    def __init__(
        self,
        *,
        token: str,
        status_subresource: bool = True,
        rules: list[dict[str, Any]] | None = None,
        user: str = "system:serviceaccount:tlog:tlogcheck",
    ) -> None:
        self.token = token
        self.status_subresource = status_subresource
        self.rules = rules
        self.user = user
        self.rollouts: dict[tuple[str, str], dict[str, Any]] = {}
        self.replicasets: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.pod_logs: dict[tuple[str, str], list[str]] = {}
        self.requests: list[Recorded] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._rv = 1000
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> K8sStandIn:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.conn_lock:
            conns = list(server.open_connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> K8sStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_kubeconfig(self, path: Path, *, namespace: str | None = "tlog") -> Path:
        context: dict[str, Any] = {"cluster": "standin", "user": "gate"}
        if namespace is not None:
            context["namespace"] = namespace
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "gate", "user": {"token": self.token}}],
            "contexts": [{"name": "standin", "context": context}],
            "current-context": "standin",
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    # knobs and introspection

    def fail(
        self,
        code: int,
        *,
        times: int = 1,
        when: Callable[[Recorded], bool] | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` requests matching `when` with status `code`."""
        with self._lock:
            self._failures.append(_Failure(code, times, when or (lambda r: True), message))

    def record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def writes(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.is_write]

    def rollout(self, name: str = "tlog-ro", namespace: str = "tlog") -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.rollouts[(namespace, name)])

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    # seeding

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def seed_rollout(
        self,
        name: str = "tlog-ro",
        namespace: str = "tlog",
        *,
        images: Iterable[str] = (
            "ghcr.io/example/tlog-ro:v1.0.0",
            "ghcr.io/example/tlog-ro:v1.0.5",
            "ghcr.io/example/tlog-ro:v1.1.0",
        ),
        current: int | None = None,
    ) -> dict[str, Any]:
        """A canary Rollout with one ReplicaSet per image (revision 1, 2, ...).

        The Rollout's template is the last image's unless `current` names another
        revision. A decoy ReplicaSet with the same labels but another owner is added:
        undo must not pick it.
        """
        images = list(images)
        uid = str(uuid.uuid4())
        labels = {"app": name}

        def template(image: str) -> dict[str, Any]:
            return {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {"name": name, "image": image, "ports": [{"containerPort": 8080}]}
                    ]
                },
            }

        cur = current if current is not None else len(images)
        with self._lock:
            rollout = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": uid,
                    "resourceVersion": self._next_rv(),
                    "generation": 1,
                    "creationTimestamp": now_rfc3339(),
                },
                "spec": {
                    "replicas": 5,
                    "selector": {"matchLabels": dict(labels)},
                    "template": template(images[cur - 1]),
                    "strategy": {
                        "canary": {
                            "steps": [
                                {"setWeight": 10},
                                {"setWeight": 30},
                                {"setWeight": 60},
                                {"setWeight": 100},
                            ]
                        }
                    },
                },
                "status": {"phase": "Progressing", "currentStepIndex": 1},
            }
            self.rollouts[(namespace, name)] = rollout
            owners = [(uid, rev, image) for rev, image in enumerate(images, start=1)]
            owners.append((str(uuid.uuid4()), 99, "ghcr.io/example/other:v9"))
            for owner_uid, rev, image in owners:
                tmpl = template(image)
                pod_hash = hashlib.sha256(json.dumps(tmpl, sort_keys=True).encode()).hexdigest()
                pod_hash = pod_hash[:10]
                tmpl["metadata"]["labels"][HASH_LABEL] = pod_hash
                # The API server defaults fields in a ReplicaSet's template that the
                # Rollout's template leaves unset; undo must still see them as equal.
                tmpl["spec"]["restartPolicy"] = "Always"
                tmpl["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
                rs_name = f"{name}-{pod_hash}" if rev != 99 else f"{name}-decoy"
                self.replicasets[(namespace, rs_name)] = {
                    "metadata": {
                        "name": rs_name,
                        "namespace": namespace,
                        "uid": str(uuid.uuid4()),
                        "resourceVersion": self._next_rv(),
                        "labels": {**labels, HASH_LABEL: pod_hash},
                        "annotations": {REVISION_ANNOTATION: str(rev)},
                        "ownerReferences": [
                            {
                                "apiVersion": "argoproj.io/v1alpha1",
                                "kind": "Rollout",
                                "name": name if rev != 99 else "other",
                                "uid": owner_uid,
                                "controller": True,
                                "blockOwnerDeletion": True,
                            }
                        ],
                    },
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {**labels, HASH_LABEL: pod_hash}},
                        "template": tmpl,
                    },
                    "status": {"replicas": 1},
                }
            return copy.deepcopy(rollout)

    # request handling

    def _access(self, rec: Recorded) -> _Access | None:
        m = ROLLOUT_PATH.match(rec.path)
        if m:
            verb = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(
                rec.method, rec.method.lower()
            )
            resource = "rollouts/status" if m.group("sub") else "rollouts"
            return _Access(verb, "argoproj.io", resource, m.group("name"), "rollouts")
        if REPLICASETS_PATH.match(rec.path):
            verb = "list" if rec.method == "GET" else "create"
            return _Access(verb, "apps", "replicasets", "", "replicasets")
        if PODS_PATH.match(rec.path) and rec.method == "GET":
            return _Access("list", "", "pods", "", "pods")
        m = POD_LOG_PATH.match(rec.path)
        if m and rec.method == "GET":
            return _Access("get", "", "pods/log", m.group("name"), "pods")
        if EVENTS_PATH.match(rec.path):
            verb = "list" if rec.method == "GET" else "create"
            return _Access(verb, "events.k8s.io", "events", "", "events")
        return None

    def _allowed(self, access: _Access) -> bool:
        if self.rules is None:
            return True
        for rule in self.rules:
            groups = rule.get("apiGroups") or []
            resources = rule.get("resources") or []
            verbs = rule.get("verbs") or []
            names = rule.get("resourceNames") or []
            if not ("*" in groups or access.group in groups):
                continue
            if not ("*" in resources or access.resource in resources):
                continue
            if not ("*" in verbs or access.verb in verbs):
                continue
            if names and access.name not in names:
                continue
            return True
        return False

    def dispatch(self, rec: Recorded) -> tuple[int, Any]:
        if not rec.bearer_ok:
            raise ApiStatus(401, "Unauthorized")
        access = self._access(rec)
        with self._lock:
            for failure in self._failures:
                if failure.times > 0 and failure.when(rec):
                    failure.times -= 1
                    raise self._injected(failure, access)
        if access is None:
            raise ApiStatus(404, "the server could not find the requested resource")
        if not self._allowed(access):
            group = f' in API group "{access.group}"'
            scope = f'resource "{access.resource}"{group}'
            target = (
                f'{access.kind_plural}.{access.group} "{access.name}"'
                if access.name
                else (f"{access.kind_plural}{'.' + access.group if access.group else ''}")
            )
            ns = rec.path.split("/namespaces/")[1].split("/")[0]
            raise ApiStatus(
                403,
                f'{target} is forbidden: User "{self.user}" cannot {access.verb} {scope} '
                f'in the namespace "{ns}"',
                {"name": access.name, "group": access.group, "kind": access.kind_plural},
            )
        with self._lock:
            m = ROLLOUT_PATH.match(rec.path)
            if m:
                return self._rollout(rec, m.group("ns"), m.group("name"), bool(m.group("sub")))
            m = REPLICASETS_PATH.match(rec.path)
            if m:
                return self._list_replicasets(rec, m.group("ns"))
            m = PODS_PATH.match(rec.path)
            if m:
                return self._list_pods(rec, m.group("ns"))
            m = POD_LOG_PATH.match(rec.path)
            if m:
                return self._pod_log(rec, m.group("ns"), m.group("name"))
            m = EVENTS_PATH.match(rec.path)
            assert m is not None
            return self._events(rec, m.group("ns"))

    def seed_pod(
        self,
        name: str,
        *,
        namespace: str = "tlog",
        labels: Mapping[str, str],
        image: str,
        ready: bool = True,
        restarts: int = 0,
        node: str = "node-a",
        log: Iterable[str] = (),
    ) -> None:
        """A pod (and its log lines) that `pods` lists and `pods/log` reads."""
        with self._lock:
            self.pods[(namespace, name)] = {
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
                "spec": {"nodeName": node, "containers": [{"name": "tlog-ro", "image": image}]},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {
                            "name": "tlog-ro",
                            "image": image,
                            "ready": ready,
                            "restartCount": restarts,
                        }
                    ],
                },
            }
            self.pod_logs[(namespace, name)] = list(log)

    def _list_pods(self, rec: Recorded, ns: str) -> tuple[int, Any]:
        selector = (rec.query.get("labelSelector") or [""])[0]
        items = [
            copy.deepcopy(p)
            for (p_ns, _), p in sorted(self.pods.items())
            if p_ns == ns and selector_matches(selector, p["metadata"]["labels"])
        ]
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}

    def _pod_log(self, rec: Recorded, ns: str, name: str) -> tuple[int, Any]:
        if (ns, name) not in self.pod_logs:
            raise ApiStatus(404, f'pods "{name}" not found', {"name": name, "kind": "pods"})
        lines = self.pod_logs[(ns, name)]
        tail = (rec.query.get("tailLines") or [""])[0]
        if tail.isdigit():
            lines = lines[-int(tail) :] if int(tail) else []
        return 200, "".join(f"{line}\n" for line in lines)

    def _injected(self, failure: _Failure, access: _Access | None) -> ApiStatus:
        name = access.name if access else ""
        kind = access.kind_plural if access else ""
        group = access.group if access else ""
        default = {
            404: f'{kind}.{group} "{name}" not found',
            409: f'Operation cannot be fulfilled on {kind}.{group} "{name}": the object has '
            "been modified; please apply your changes to the latest version and try again",
            500: "Internal error occurred: etcdserver: request timed out",
            503: "the server is currently unable to handle the request",
        }.get(failure.code, REASONS.get(failure.code, "error"))
        details = {"name": name, "group": group, "kind": kind} if access else None
        return ApiStatus(failure.code, failure.message or default, details)

    def _rollout(self, rec: Recorded, ns: str, name: str, status: bool) -> tuple[int, Any]:
        if status and not self.status_subresource:
            raise ApiStatus(404, "the server could not find the requested resource")
        current = self.rollouts.get((ns, name))
        if current is None:
            raise ApiStatus(
                404,
                f'rollouts.argoproj.io "{name}" not found',
                {"name": name, "group": "argoproj.io", "kind": "rollouts"},
            )
        if rec.method == "GET":
            return 200, copy.deepcopy(current)
        if rec.method != "PATCH":
            raise ApiStatus(405, f"method {rec.method} not supported here")
        if rec.content_type == MERGE_PATCH:
            patched = merge_patch(current, rec.body)
        elif rec.content_type == JSON_PATCH:
            try:
                patched = json_patch(current, rec.body)
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise ApiStatus(422, f"the server rejected our request: {exc}") from None
        else:
            raise ApiStatus(
                415,
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml",
            )
        if not isinstance(patched, dict) or patched.get("metadata", {}).get("name") != name:
            raise ApiStatus(422, "metadata.name: Invalid value: the name cannot change")
        if self.status_subresource:
            if status:
                # The status subresource takes status only; everything else stays.
                result = copy.deepcopy(current)
                result["status"] = patched.get("status", {})
            else:
                result = patched
                result["status"] = copy.deepcopy(current.get("status", {}))
        else:
            result = patched
        if result.get("spec") != current.get("spec"):
            result["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        result["metadata"]["resourceVersion"] = self._next_rv()
        self.rollouts[(ns, name)] = result
        return 200, copy.deepcopy(result)

    def _list_replicasets(self, rec: Recorded, ns: str) -> tuple[int, Any]:
        if rec.method != "GET":
            raise ApiStatus(405, "only list is served for replicasets")
        selector = (rec.query.get("labelSelector") or [""])[0]
        items = [
            copy.deepcopy(rs)
            for (rs_ns, _), rs in sorted(self.replicasets.items())
            if rs_ns == ns and selector_matches(selector, rs["metadata"].get("labels", {}))
        ]
        return 200, {
            "kind": "ReplicaSetList",
            "apiVersion": "apps/v1",
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    def _events(self, rec: Recorded, ns: str) -> tuple[int, Any]:
        if rec.method == "GET":
            return 200, {
                "kind": "EventList",
                "apiVersion": "events.k8s.io/v1",
                "metadata": {"resourceVersion": str(self._rv)},
                "items": [
                    copy.deepcopy(e) for e in self.events if e["metadata"]["namespace"] == ns
                ],
            }
        event = rec.body
        if not isinstance(event, dict):
            raise ApiStatus(400, "the body of the request is not an Event")
        meta = event.setdefault("metadata", {})
        if meta.get("namespace", ns) != ns:
            raise ApiStatus(
                400,
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        # The validation of events.k8s.io/v1 for a new Event.
        required = ("eventTime", "reportingController", "reportingInstance", "action", "reason")
        missing = [f for f in required if not event.get(f)]
        if not (meta.get("name") or meta.get("generateName")):
            missing.append("metadata.name")
        if missing:
            raise ApiStatus(422, f"Event.events.k8s.io is invalid: {', '.join(missing)}: Required")
        if not MICRO_TIME.match(str(event["eventTime"])):
            raise ApiStatus(400, f"eventTime: cannot parse {event['eventTime']!r} as RFC3339Micro")
        if len(str(event.get("note", ""))) > 1024:
            raise ApiStatus(
                422, "Event.events.k8s.io is invalid: note: Too long: must have at most 1024 bytes"
            )
        regarding = event.get("regarding") or {}
        if regarding.get("namespace") not in (None, ns):
            raise ApiStatus(
                422,
                "Event.events.k8s.io is invalid: regarding.namespace: "
                "does not match event.namespace",
            )
        meta.update(
            namespace=ns,
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_rv(),
            creationTimestamp=now_rfc3339(),
        )
        event.setdefault("kind", "Event")
        event.setdefault("apiVersion", "events.k8s.io/v1")
        self.events.append(event)
        return 201, copy.deepcopy(event)


def rbac_rules(path: Path) -> list[dict[str, Any]]:
    """The rules of the Role in a multi-document RBAC manifest (ci/rbac.yaml)."""
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "Role":
            return list(doc["rules"])
    raise LookupError(f"no Role in {path}")


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connection refused, fast."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


__all__ = [
    "K8sStandIn",
    "Recorded",
    "closed_port_url",
    "json_patch",
    "merge_patch",
    "rbac_rules",
    "selector_matches",
]
