"""The Rollout a run is about: `--rollout` and `--rollout-namespace` with their env twins.

The gate arms itself with them (`tlogcheck.gate.session`), triage reads the Rollout's
pods and logs with them, and a failure's next step names them; one definition, so the
flags mean one thing everywhere."""

from __future__ import annotations

from tlogcheck.options import Option

__all__ = ["ROLLOUT", "ROLLOUT_NAMESPACE"]

ROLLOUT = Option(
    "--rollout",
    "TLOG_ROLLOUT",
    "arm the gate: abort this Argo Rollout when a gated test fails (every test of "
    "tests_synthetic, tests marked `gate`, tests using the `rollout_gate` fixture).",
    metavar="NAME",
)
ROLLOUT_NAMESPACE = Option(
    "--rollout-namespace",
    "TLOG_ROLLOUT_NAMESPACE",
    "namespace of the Rollout. Default: the kubeconfig context's namespace (the service "
    "account's in a pod), else tlog.",
    metavar="NS",
)
