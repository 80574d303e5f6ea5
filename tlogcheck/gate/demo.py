"""The gate's part of `make demo`: a dry run of the Argo Rollouts abort.

The suite runs against the embedded deployment with a corrupted entry, with the gate
armed for a Rollout `tlog/tlog-ro` in dry run: the inclusion check fails, and the
gate prints the exact requests it would send (the abort first: the merge patch
`{"status":{"abort":true}}` of the Rollout's status subresource, as
`kubectl argo rollouts abort` sends it), and sends nothing. No cluster is needed:
without a kubeconfig the requests are shown against a placeholder host.

    python -m tlogcheck.gate.demo      this step alone (exit 0 when it went as expected)

`demo_steps()` gives the step to `tlogcheck demo`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tlogcheck.errors import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from tlogcheck.runs import DemoStep, SuiteRun

ROLLOUT = "tlog-ro"
NAMESPACE = "tlog"
FAULT = "corrupt-entry"
ABORT_PATH = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/rollouts/{ROLLOUT}/status"


def gate_args() -> tuple[str, ...]:
    from tlogcheck.runs import DEMO_ENTRIES

    return (
        f"--tlog-embedded-entries={DEMO_ENTRIES}",
        f"--tlog-embedded-fault={FAULT}",
        "-m",
        "not load",
        f"--rollout={ROLLOUT}",
        f"--rollout-namespace={NAMESPACE}",
        "--gate-dry-run",
    )


def demo_steps() -> list[DemoStep]:
    from tlogcheck.runs import DemoStep

    return [
        DemoStep(
            "3. The canary gate, in dry run",
            "The same broken deployment, now as a canary gate would run it: "
            f"`--rollout {ROLLOUT}` arms the gate for the Argo Rollout {NAMESPACE}/{ROLLOUT}, "
            "`--gate-dry-run` makes it print the requests instead of sending them. On the "
            "first failing check the gate would abort the rollout, as `kubectl argo rollouts "
            "abort` does, and record why in an Event on the Rollout.",
            gate_args(),
            EXIT_FAILED,
            frozenset({"inclusion"}),
            after="Look at the 'gate (dry run)' lines of the tlogcheck section: the PATCH "
            f'of .../rollouts/{ROLLOUT}/status with {{"status":{{"abort":true}}}} '
            "(application/merge-patch+json) is the abort; then the Event and the annotation "
            "that say which check failed, its alert and playbook section. Nothing was sent.",
        )
    ]


def would_abort(run: SuiteRun) -> str | None:
    """The abort request line the run's report shows, or None when the gate would not act."""
    gate: dict[str, Any] = run.report.get("gate") or {}
    outcome = gate.get("outcome") or {}
    for req in outcome.get("requests") or []:
        if req.get("method") == "PATCH" and str(req.get("url", "")).endswith(ABORT_PATH):
            if req.get("sent") or req.get("body") != {"status": {"abort": True}}:
                return None
            return f"PATCH {req['url']}  Content-Type: {req['content_type']}  " + (
                '{"status":{"abort":true}}'
            )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from tlogcheck.runs import run_suite

    del argv
    (step,) = demo_steps()
    print(step.before)
    print("\n$ pytest --pyargs tests_synthetic " + " ".join(step.args) + "\n", flush=True)
    run = run_suite(step.args, echo=False)
    tail = [line for line in run.output.splitlines() if line.startswith(("gate", "  "))]
    print("\n".join(tail[-12:]))
    line = would_abort(run)
    if line is None or not step.succeeded(run):
        print(f"\n--> NOT as expected: exit status {run.exitstatus}, no dry-run abort found")
        return EXIT_FAILED
    print(f"\n--> the abort the gate would have sent:\n    {line}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
