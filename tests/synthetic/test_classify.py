"""Classify by what was observed: a 5xx is what users saw, never a proof verdict.

The suite against the reference deployment with `error-rate:5` (5 % of the answers are
500s): whichever check meets a 500 fails under Ingress5xxHigh, naming the status and
path served, never TLogInclusionProofFail ("the log is not append-only"). And a
failure's `next:` line names the run's own Rollout, namespace and target.
"""

from __future__ import annotations

import re
from typing import Any

from tlogcheck.cli.demo import MATRIX_ARGS
from tlogcheck.runs import run_suite


def _failed(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        t
        for c in report.get("checks", {}).values()
        for t in c["tests"]
        if t["outcome"] == "failed"
    ]


def test_a_5xx_is_an_availability_finding_whichever_check_met_it() -> None:
    run = run_suite([*MATRIX_ARGS, "--tlog-embedded-fault=error-rate:5"])
    failed = _failed(run.report)
    assert run.exitstatus == 1 and failed, run.output[-3000:]
    for t in failed:
        # /healthz answering 500 is the health check's own TLogAvailabilityDown.
        assert t["alert"] in ("Ingress5xxHigh", "TLogAvailabilityDown"), t
        assert "TLogInclusionProofFail" not in t["message"], t["message"]
        assert "not append-only" not in t["message"], t["message"]
        if t["alert"] == "Ingress5xxHigh":
            # The served status and path are named.
            assert re.search(r"(edge|origin) GET /\S+ -> HTTP 5\d\d", t["message"]), t["message"]


def test_next_steps_name_the_runs_rollout_namespace_and_target() -> None:
    run = run_suite(
        [
            *MATRIX_ARGS,
            "--tlog-embedded-fault=signer-stall",
            "--rollout=tlog-canary-7",
            "--rollout-namespace=payments",
            "--gate-dry-run",
        ]
    )
    failed = _failed(run.report)
    assert failed, run.output[-3000:]
    nexts = [line for t in failed for line in t["message"].splitlines() if line.startswith("next:")]
    assert nexts, failed
    text = "\n".join(nexts)
    assert "tlog-ro" not in text and "-n tlog " not in text, text
    assert "<rollout>" not in text and "<namespace>" not in text, text
    assert "$URL" not in text, text
    assert "tlog-canary-7" in text and "payments" in text, text
