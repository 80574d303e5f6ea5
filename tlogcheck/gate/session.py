"""What the gate is told and what it did in one session: its options, its settings as
resolved, the failing test that triggered it, and its outcome (`GateState`, kept in the
controller's pytest stash by `tlogcheck.gate.plugin`). The gate part of the plugin
(`tlogcheck.gate.plugin`) acts on them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tlogcheck.gate.argo import ACTIONS, GateOutcome, Reason, RolloutGate
from tlogcheck.gate.invalidate import Invalidation, iso
from tlogcheck.options import Option, positive_float
from tlogcheck.options.rollout import ROLLOUT as ROLLOUT
from tlogcheck.options.rollout import ROLLOUT_NAMESPACE as ROLLOUT_NAMESPACE

__all__ = [
    "GATE_ACTION",
    "GATE_DRY_RUN",
    "GATE_INVALIDATE",
    "GATE_INVALIDATE_TIMEOUT",
    "GATE_ON_INCONCLUSIVE",
    "OPTIONS",
    "ROLLOUT",
    "ROLLOUT_NAMESPACE",
    "GateSettings",
    "GateState",
    "Trigger",
]

GATE_ACTION = Option(
    "--gate-action",
    "TLOG_GATE_ACTION",
    "what the gate does on the first failing gated test: abort (kubectl argo rollouts "
    "abort), abort+undo (then roll the template back to the previous revision) or none.",
    default="abort",
    choices=ACTIONS,
)
GATE_DRY_RUN = Option(
    "--gate-dry-run",
    "TLOG_GATE_DRY_RUN",
    "print the exact requests the gate would send, and send nothing.",
    is_flag=True,
)
GATE_ON_INCONCLUSIVE = Option(
    "--gate-on-inconclusive",
    "TLOG_GATE_ON_INCONCLUSIVE",
    "whether an inconclusive gated test (the target could not be asked) triggers the gate: "
    "ignore or abort.",
    default="ignore",
    choices=("ignore", "abort"),
)
GATE_INVALIDATE = Option(
    "--gate-invalidate",
    "TLOG_GATE_INVALIDATE",
    "after the gate's abort (and undo) succeeded, run this command with `sh -c` to "
    "invalidate the CDN (e.g. ci/cdn/cloudfront-invalidate.sh). It sees TLOG_ROLLOUT, "
    "TLOG_NAMESPACE, TLOG_CHECK, TLOG_ALERT, TLOG_RELEASE (the releases that answered, "
    "most first, comma-separated), TLOG_URL and TLOG_REASON; its exit status and output "
    "tail go to the summary, the JSON report and an Event. Never run in dry run (shown "
    "instead) nor when the gate did not act.",
    metavar="CMD",
)
GATE_INVALIDATE_TIMEOUT = Option(
    "--gate-invalidate-timeout",
    "TLOG_GATE_INVALIDATE_TIMEOUT",
    "seconds the invalidation command may take; then it and what it started are killed.",
    default="300",
    convert=positive_float,
    metavar="SECONDS",
)
OPTIONS: list[Option] = [
    ROLLOUT,
    ROLLOUT_NAMESPACE,
    GATE_ACTION,
    GATE_DRY_RUN,
    GATE_ON_INCONCLUSIVE,
    GATE_INVALIDATE,
    GATE_INVALIDATE_TIMEOUT,
]


@dataclass(frozen=True)
class GateSettings:
    rollout: str | None
    namespace: str
    namespace_source: str
    action: str
    dry_run: bool
    on_inconclusive: str
    invalidate: str | None = None
    invalidate_timeout: float = 300.0

    @property
    def armed(self) -> bool:
        return self.rollout is not None and self.action != "none"

    def to_json(self) -> dict[str, Any]:
        return {
            "rollout": self.rollout,
            "namespace": self.namespace,
            "namespace_source": self.namespace_source,
            "action": self.action,
            "dry_run": self.dry_run,
            "on_inconclusive": self.on_inconclusive,
            "invalidate": self.invalidate,
            "invalidate_timeout": self.invalidate_timeout,
        }


@dataclass
class Trigger:
    nodeid: str
    when: str
    reason: Reason
    report_stop: float | None
    received_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "when": self.when,
            **self.reason.to_json(),
            "report_stop": self.report_stop,
            "received_at": self.received_at,
        }


@dataclass
class GateState:
    """The gate of one session (controller side), in the pytest stash (`gate.plugin.GATE_KEY`)."""

    settings: GateSettings
    gate: RolloutGate | None = None
    credentials: str | None = None
    preflight_error: str | None = None
    preflight_ok: bool = False
    trigger: Trigger | None = None
    outcome: GateOutcome | None = None
    later_failures: int = 0
    inconclusive_ignored: set[str] = field(default_factory=set)
    invalidation: Invalidation | None = None
    invalidation_skipped: str | None = None
    invalidation_thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self) -> str | None:
        """Why the gate failed the run, or None."""
        if self.outcome is not None:
            return self.outcome.error
        if self.trigger is None and self.preflight_error is not None:
            return f"the gate is not armed: {self.preflight_error}"
        return None

    def latency(self) -> dict[str, float] | None:
        sent = self.outcome.first_sent_at() if self.outcome else None
        if sent is None or self.trigger is None:
            return None
        # From the end of the failing test (its report's `stop`, on the worker under
        # xdist) and from the moment the controller received the report.
        out = {"report_received_to_abort_s": round(sent - self.trigger.received_at, 6)}
        if self.trigger.report_stop:
            out["test_end_to_abort_s"] = round(sent - self.trigger.report_stop, 6)
        return out

    def verdict(self) -> str:
        s = self.settings
        if s.rollout is None:
            return "off"
        if self.failed():
            return "failed"
        if self.outcome is None:
            return "not needed"
        if s.action == "none":
            return "no action (--gate-action none)"
        return "would act (dry run)" if s.dry_run else "acted"

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        return {
            **s.to_json(),
            "armed": s.armed,
            "api_server": self.gate.host if self.gate else None,
            "credentials": self.credentials,
            "preflight": None
            if s.dry_run or not s.armed
            else {"ok": self.preflight_ok, "error": self.preflight_error},
            "verdict": self.verdict(),
            "error": self.failed(),
            "triggered_by": self.trigger.to_json() if self.trigger else None,
            "outcome": self.outcome.to_json() if self.outcome else None,
            "latency": self.latency(),
            "acted_at": iso(self.outcome.first_sent_at()) if self.outcome else None,
            "invalidation": self.invalidation.to_json() if self.invalidation else None,
            "invalidation_skipped": self.invalidation_skipped,
            "later_failures": self.later_failures,
            "inconclusive_ignored": len(self.inconclusive_ignored),
        }

