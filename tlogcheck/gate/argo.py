"""The Argo Rollouts gate: abort, undo and the reason, with the official kubernetes client.

The requests are the ones the `kubectl argo rollouts` plugin sends (cmd/abort,
cmd/undo), so a Rollout aborted by tlogcheck looks the same to the controller and
to an operator as one aborted by hand (playbook §0, §3.4):

    abort   PATCH  /apis/argoproj.io/v1alpha1/namespaces/NS/rollouts/NAME/status
                   application/merge-patch+json  {"status":{"abort":true}}
            404 from the status subresource -> the same patch on the main resource
    undo    GET    .../rollouts/NAME
            GET    /apis/apps/v1/namespaces/NS/replicasets?labelSelector=<spec.selector>
                   (only those controlled by the Rollout; the previous revision by the
                   rollout.argoproj.io/revision annotation)
            PATCH  .../rollouts/NAME  application/json-patch+json
                   [{"op":"replace","path":"/spec/template","value":<its template>}]
                   (without the rollouts-pod-template-hash label; skipped when the
                   templates already match)
    reason  POST   /apis/events.k8s.io/v1/namespaces/NS/events  (a Warning regarding
                   the Rollout: `kubectl describe rollout` and `kubectl events` show it)
            PATCH  .../rollouts/NAME  merge patch of two annotations

How a request goes out (retries, dry-run recording, error messages that name the
RBAC verb, token redaction) is `tlogcheck.gate.kube`'s business; this module is which
requests the gate sends, in what order, and what it makes of the answers.
"""

from __future__ import annotations

import copy
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from tlogcheck.errors import GateError
from tlogcheck.gate.kube import (
    ClusterAccess,
    CustomObject,
    GateRequest,
    KubeTransport,
    Permission,
    clip,
)

GROUP = "argoproj.io"
VERSION = "v1alpha1"
PLURAL = "rollouts"
KIND = "Rollout"
REVISION_ANNOTATION = "rollout.argoproj.io/revision"
POD_TEMPLATE_HASH_LABEL = "rollouts-pod-template-hash"
ABORT_PATCH: dict[str, Any] = {"status": {"abort": True}}
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
REASON_ANNOTATION = "tlogcheck/gate-reason"
ACTED_AT_ANNOTATION = "tlogcheck/gate-acted-at"
EVENT_COMPONENT = "tlogcheck"
ACTIONS = ("abort", "abort+undo", "none")

# Events carry at most 1 KiB of message in events.k8s.io; keep core/v1 the same.
MESSAGE_LIMIT = 1024
EVIDENCE_LIMIT = 300

GET_ROLLOUT = Permission("get", GROUP, "rollouts")
PATCH_ROLLOUT = Permission("patch", GROUP, "rollouts")
PATCH_ROLLOUT_STATUS = Permission("patch", GROUP, "rollouts/status")
LIST_REPLICASETS = Permission("list", "apps", "replicasets")
CREATE_EVENT = Permission("create", "events.k8s.io", "events")
PERMISSIONS = (GET_ROLLOUT, PATCH_ROLLOUT, PATCH_ROLLOUT_STATUS, LIST_REPLICASETS, CREATE_EVENT)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> datetime:
    now = datetime.now(timezone.utc)
    # isoformat() drops a zero fraction, and the API server parses MicroTime with
    # exactly six digits: never send a whole second.
    return now.replace(microsecond=max(now.microsecond, 1))


# --- what the gate reports ----------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why the gate acted: the failing test, its check and the playbook's words for it."""

    test: str
    check: str | None = None
    alert: str | None = None
    section: str | None = None
    evidence: str = ""
    inconclusive: bool = False
    # The evidence bundle the run writes at its end (`--tlog-evidence`), named up front:
    # the gate acts at the first failure, before the bundle exists.
    bundle: str | None = None
    # The level of what was recorded up to the failure, verified offline with the run's
    # keys: "proven: split view", "shown: entry", "nothing shown".
    evidence_level: str | None = None

    def message(self, done: str) -> str:
        what = f"check '{self.check}'" if self.check else "gated test"
        verdict = "was inconclusive" if self.inconclusive else "failed"
        alert = f" [{self.alert}, playbook {self.section}]" if self.alert else ""
        evidence = f": {clip(self.evidence, EVIDENCE_LIMIT)}" if self.evidence else ""
        # Before the evidence text, which the message's limit may cut.
        level = f"; recorded so far: {self.evidence_level}" if self.evidence_level else ""
        bundle = f" (evidence bundle: {self.bundle}{level})" if self.bundle else ""
        return clip(
            f"tlogcheck: rollout {done}: {what} {verdict}{alert} in {self.test}{bundle}"
            f"{evidence}",
            MESSAGE_LIMIT,
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "evidence": clip(self.evidence, EVIDENCE_LIMIT)}


@dataclass(frozen=True)
class UndoResult:
    from_revision: int | None
    to_revision: int | None
    image: str | None
    skipped: bool

    def describe(self) -> str:
        if self.to_revision is None:
            return "rolled back to the previous revision"
        image = f" ({self.image})" if self.image else ""
        if self.skipped:
            return f"not rolled back: its template already is revision {self.to_revision}{image}"
        return f"rolled back to revision {self.to_revision}{image}"


@dataclass
class GateOutcome:
    """What the gate did for one trigger; `error` set means it could not do it all."""

    action: str
    dry_run: bool
    rollout: str
    namespace: str
    host: str
    aborted: bool = False
    undo: UndoResult | None = None
    event: str | None = None
    annotated: bool = False
    error: str | None = None
    requests: list[GateRequest] = field(default_factory=list)

    def first_sent_at(self) -> float | None:
        for req in self.requests:
            if req.sent_at is not None:
                return req.sent_at
        return None

    def done(self, *, as_sent: bool = False) -> str:
        """What happened to the rollout: "aborted and rolled back to revision 2 (...)".

        `as_sent`: the words of a real run even in dry run, so the Event a dry run
        shows is the one a real run sends.
        """
        if self.action == "none":
            return "left alone (--gate-action none)"
        if not self.aborted:
            return "not aborted"
        text = "would be aborted" if self.dry_run and not as_sent else "aborted"
        if self.undo is not None:
            text += " and " + self.undo.describe()
        elif self.action == "abort+undo" and not self.dry_run:
            text += " (undo failed)"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "rollout": self.rollout,
            "namespace": self.namespace,
            "api_server": self.host,
            "aborted": self.aborted,
            "undo": None
            if self.undo is None
            else {
                "from_revision": self.undo.from_revision,
                "to_revision": self.undo.to_revision,
                "image": self.undo.image,
                "skipped": self.undo.skipped,
            },
            "event": self.event,
            "annotated": self.annotated,
            "error": self.error,
            "requests": [r.to_json(self.host) for r in self.requests],
        }


# --- undo: the kubectl-argo-rollouts algorithm -------------------------------------------


def label_selector(selector: Mapping[str, Any] | None) -> str:
    """metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key."""
    if not selector:
        raise GateError("the Rollout has no spec.selector: cannot find its ReplicaSets")
    reqs: list[tuple[str, str]] = []
    for key, val in (selector.get("matchLabels") or {}).items():
        reqs.append((key, f"{key}={val}"))
    for expr in selector.get("matchExpressions") or []:
        key, op = expr["key"], expr["operator"]
        values = ",".join(sorted(expr.get("values") or []))
        text = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(op)
        if text is None:
            raise GateError(f"the Rollout's selector has an unknown operator {op!r}")
        reqs.append((key, text))
    return ",".join(text for _, text in sorted(reqs))


def controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") == uid:
            return True
    return False


def revision_of(obj: Mapping[str, Any]) -> int | None:
    """The revision annotation; 0 when absent (as upstream), None when unparsable."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    if raw is None:
        return 0
    try:
        return int(raw, 10)
    except ValueError:
        return None


def previous_revision(
    rollout: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]]
) -> tuple[int, int, Mapping[str, Any]]:
    """(latest revision, previous revision, its ReplicaSet) among those the Rollout controls."""
    uid = (rollout.get("metadata") or {}).get("uid", "")
    latest: tuple[int, Mapping[str, Any]] | None = None
    previous: tuple[int, Mapping[str, Any]] | None = None
    for rs in replicasets:
        if not controlled_by(rs, uid):
            continue
        rev = revision_of(rs)
        if rev is None:
            continue
        if latest is None or rev > latest[0]:
            previous, latest = latest, (rev, rs)
        elif previous is None or rev > previous[0]:
            previous = (rev, rs)
    if latest is None or previous is None:
        name = (rollout.get("metadata") or {}).get("name")
        raise GateError(f"undo: no previous revision found for rollout {name!r}")
    return latest[0], previous[0], previous[1]


def without_hash_label(template: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(template))
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return out


def derivative(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepDerivative: what `a` leaves unset is not compared.

    The API server defaults fields in a ReplicaSet's template (imagePullPolicy,
    restartPolicy, ...) that the Rollout's template leaves out; they still match.
    """
    if a is None or a == "" or a == {} or a == []:
        return True
    if isinstance(a, dict):
        return isinstance(b, dict) and all(derivative(v, b.get(k)) for k, v in a.items())
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) <= len(b)
            and all(derivative(x, y) for x, y in zip(a, b[: len(a)], strict=True))
        )
    return bool(a == b)


def equal_ignore_hash(current: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    return derivative(without_hash_label(current), without_hash_label(target))


def first_image(template: Mapping[str, Any]) -> str | None:
    containers = (template.get("spec") or {}).get("containers") or []
    return str(containers[0].get("image")) if containers else None


# --- the gate ------------------------------------------------------------------------------


class RolloutGate:
    """Acts on one Rollout. In dry run, records the requests it would send and sends none."""

    def __init__(
        self,
        name: str,
        namespace: str,
        *,
        access: ClusterAccess | None,
        dry_run: bool = False,
        attempts: int = 4,
        backoff: float = 0.25,
        timeout: tuple[float, float] = (3.0, 10.0),
        budget: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kube = KubeTransport(
            access,
            namespace,
            dry_run=dry_run,
            attempts=attempts,
            backoff=backoff,
            timeout=timeout,
            sleep=sleep,
        )
        self.name = name
        self.namespace = namespace
        self.dry_run = dry_run
        # act() as a whole gives up retrying after this long: the run waits for it.
        self.budget = budget
        # The Rollout as the abort answered it: later Events regard the same object.
        self.last_rollout: dict[str, Any] | None = None
        self.ref = CustomObject(
            GROUP,
            VERSION,
            PLURAL,
            name,
            not_found=(
                f"no Rollout '{name}' in namespace '{namespace}' "
                "(check --rollout, --rollout-namespace and the kubeconfig context)"
            ),
        )

    @property
    def host(self) -> str:
        return self.kube.host

    def redact(self, text: str) -> str:
        return self.kube.redact(text)

    def close(self) -> None:
        self.kube.close()

    def warm(self) -> None:
        """Prepare the abort path (its two patches) before it is needed."""
        self.kube.warm()

    def get_rollout(self, step: str = "read the Rollout") -> dict[str, Any] | None:
        return self.kube.get_custom_object(step, self.ref, GET_ROLLOUT)

    def _patch(
        self, step: str, body: Any, content_type: str, permission: Permission, *, status: bool
    ) -> dict[str, Any] | None:
        return self.kube.patch_custom_object(
            step, self.ref, body, content_type, permission, status=status
        )

    def abort(self) -> dict[str, Any] | None:
        """`kubectl argo rollouts abort`: the status subresource first, then the main one."""
        try:
            ro = self._patch("abort", ABORT_PATCH, MERGE_PATCH, PATCH_ROLLOUT_STATUS, status=True)
        except GateError:
            if self.kube.requests[-1].status != 404:
                raise
            ro = self._patch(
                "abort (main resource: no status subresource)",
                ABORT_PATCH,
                MERGE_PATCH,
                PATCH_ROLLOUT,
                status=False,
            )
        if ro is not None and (ro.get("status") or {}).get("abort") is not True:
            raise GateError(
                f"abort: the API server accepted the patch but Rollout '{self.name}' does not "
                "show status.abort=true; abort it by hand: "
                f"kubectl -n {self.namespace} argo rollouts abort {self.name}"
            )
        return ro

    def undo(self) -> UndoResult:
        """`kubectl argo rollouts undo`: the previous revision's template back into the spec."""
        ro = self.get_rollout("undo: read the Rollout")
        if ro is None:  # dry run: nothing was read, so describe what would be sent
            self._list_replicasets("<spec.selector of the Rollout>")
            self._restore_template(
                "<spec.template of the previous revision's ReplicaSet, without the "
                f"{POD_TEMPLATE_HASH_LABEL} label>"
            )
            return UndoResult(None, None, None, skipped=False)
        spec = ro.get("spec") or {}
        if not spec.get("template") and spec.get("workloadRef"):
            raise GateError(
                f"undo: Rollout '{self.name}' takes its template from a workloadRef; roll the "
                "referenced Deployment back by hand (the abort went out)"
            )
        selector = label_selector(spec.get("selector"))
        listed = self._list_replicasets(selector)
        latest, prev, rs = previous_revision(ro, listed)
        template = without_hash_label((rs.get("spec") or {}).get("template") or {})
        image = first_image(template)
        if equal_ignore_hash(spec.get("template") or {}, template):
            return UndoResult(latest, prev, image, skipped=True)
        self._restore_template(template)
        return UndoResult(latest, prev, image, skipped=False)

    def _list_replicasets(self, selector: str) -> list[dict[str, Any]]:
        return self.kube.list_replica_sets("undo: list its ReplicaSets", selector, LIST_REPLICASETS)

    def _restore_template(self, template: Any) -> None:
        self._patch(
            "undo: restore the previous template",
            [{"op": "replace", "path": "/spec/template", "value": template}],
            JSON_PATCH,
            PATCH_ROLLOUT,
            status=False,
        )

    def event_body(
        self,
        reason: Reason,
        done: str,
        rollout: Mapping[str, Any] | None,
        *,
        action: str = "Abort",
        event_reason: str | None = None,
        note: str | None = None,
        event_type: str = "Warning",
    ) -> dict[str, Any]:
        """An events.k8s.io/v1 Event regarding the Rollout, named as client-go names them."""
        meta = (rollout or {}).get("metadata") or {}
        if event_reason is None:
            event_reason = "TLogCheckInconclusive" if reason.inconclusive else "TLogCheckFailed"
        return {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "name": f"{self.name}.{time.time_ns():x}",
                "namespace": self.namespace,
            },
            "eventTime": _micro_now().isoformat(),
            "reportingController": EVENT_COMPONENT,
            "reportingInstance": clip(socket.gethostname() or EVENT_COMPONENT, 128),
            "action": action,
            "reason": event_reason,
            "regarding": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": self.name,
                "namespace": self.namespace,
                "uid": meta.get("uid", "<uid of the Rollout>"),
                "resourceVersion": meta.get("resourceVersion", "<resourceVersion>"),
            },
            "note": reason.message(done) if note is None else clip(note, MESSAGE_LIMIT),
            "type": event_type,
        }

    def record_invalidation(self, reason: Reason, text: str, ok: bool) -> str:
        """A second Event after the CDN invalidation hook ran: its exit status and
        output tail, beside the abort's Event. Returns the Event's name."""
        body = self.event_body(
            reason,
            "",
            self.last_rollout,
            action="InvalidateCDN",
            event_reason="TLogCheckCDNInvalidated" if ok else "TLogCheckCDNInvalidationFailed",
            note=f"tlogcheck: CDN invalidation after the abort: {text}",
            event_type="Normal" if ok else "Warning",
        )
        with self.kube.deadline(self.budget):
            self.kube.create_event("invalidate: create the Event", body, CREATE_EVENT)
        return str(body["metadata"]["name"])

    def record_reason(
        self, reason: Reason, done: str, rollout: Mapping[str, Any] | None
    ) -> tuple[str | None, bool]:
        """The Event and the annotations; (event name, annotated). Both are tried."""
        errors: list[str] = []
        body = self.event_body(reason, done, rollout)
        event_name: str | None = None
        try:
            self.kube.create_event("reason: create the Event", body, CREATE_EVENT)
            event_name = body["metadata"]["name"]
        except GateError as exc:
            errors.append(str(exc))
        annotations = {REASON_ANNOTATION: body["note"], ACTED_AT_ANNOTATION: _now()}
        annotated = False
        try:
            self._patch(
                "reason: annotate the Rollout",
                {"metadata": {"annotations": annotations}},
                MERGE_PATCH,
                PATCH_ROLLOUT,
                status=False,
            )
            annotated = True
        except GateError as exc:
            errors.append(str(exc))
        if errors:
            raise GateError("; ".join(errors))
        return event_name, annotated

    def act(self, action: str, reason: Reason) -> GateOutcome:
        """Abort (and undo), then record why. Never raises: `error` says what failed."""
        outcome = GateOutcome(action, self.dry_run, self.name, self.namespace, self.host)
        if action not in ACTIONS:
            outcome.error = f"unknown gate action {action!r}"
            return outcome
        if action == "none":
            return outcome
        first = len(self.kube.requests)
        errors: list[str] = []
        with self.kube.deadline(self.budget):
            try:
                rollout = self.abort()
                self.last_rollout = rollout
                outcome.aborted = True
                if action == "abort+undo":
                    try:
                        outcome.undo = self.undo()
                    except GateError as exc:
                        errors.append(str(exc))
                try:
                    outcome.event, outcome.annotated = self.record_reason(
                        reason, outcome.done(as_sent=True), rollout
                    )
                except GateError as exc:
                    errors.append(str(exc))
            except GateError as exc:
                errors.append(str(exc))
        if errors:
            outcome.error = self.redact("; ".join(errors))
        outcome.requests = self.kube.requests[first:]
        return outcome
