"""Bounded verdicts: a target that takes the request and does not answer fails, in bounded
time, under the alert of its symptom; a spent run budget is inconclusive, and the summary,
report and exit status still come.

The suite runs as users run it (`run_suite`: a subprocess) against the embedded
deployment with `hang:/v1/log/root` or `trickle:/v1/log/root`; /healthz stays healthy.
"""

from __future__ import annotations

from typing import Any

from tlogcheck.cli.demo import MATRIX_ARGS
from tlogcheck.runs import SuiteRun, run_suite

ROOT = "/v1/log/root"


def _tests(run: SuiteRun, outcome: str) -> list[dict[str, Any]]:
    return [
        t
        for c in run.report.get("checks", {}).values()
        for t in c["tests"]
        if t["outcome"] == outcome
    ]


def _why(run: SuiteRun) -> str:
    return f"exit {run.exitstatus}\n" + "\n".join(run.output.splitlines()[-40:])


def test_a_hung_root_fails_under_availability_not_as_a_proof() -> None:
    run = run_suite([*MATRIX_ARGS, f"--tlog-embedded-fault=hang:{ROOT}", "--tlog-timeout=1"])
    assert run.exitstatus == 1, _why(run)
    failed = _tests(run, "failed")
    assert failed, _why(run)
    for test in failed:
        message = test["message"]
        assert "alert:    TLogAvailabilityDown" in message, message
        assert "connected and asked, no response" in message, message
        assert "TLogInclusionProofFail" not in message and "FormatError" not in message
    # Health itself is fine: only what reads the root fails.
    assert run.check_verdicts()["health"] == "passed", _why(run)
    assert _tests(run, "inconclusive") == []
    # Asked once per view (the run's shared answers): every failure quotes one of two
    # recorded stalls, never a fresh one per test.
    stalls = {line for t in failed for line in t["message"].splitlines() if "served:" in line}
    assert len(stalls) == 2, stalls


def test_a_trickled_root_fails_under_latency() -> None:
    run = run_suite(
        [*MATRIX_ARGS, f"--tlog-embedded-fault=trickle:{ROOT}", "--tlog-timeout=1", "-m", "root"]
    )
    assert run.exitstatus == 1, _why(run)
    failed = _tests(run, "failed")
    assert failed, _why(run)
    for test in failed:
        assert "alert:    LatencyP95High" in test["message"], test["message"]
        assert "body did not complete" in test["message"]


def test_a_spent_run_budget_is_inconclusive_and_still_reports() -> None:
    run = run_suite(
        [
            *MATRIX_ARGS,
            f"--tlog-embedded-fault=hang:{ROOT}",
            "--tlog-timeout=5",
            "--tlog-run-timeout=2",
        ]
    )
    assert run.exitstatus == 6, _why(run)
    assert run.report["summary"]["verdict"] == "inconclusive", _why(run)
    inconclusive = _tests(run, "inconclusive")
    assert inconclusive, _why(run)
    assert all("run budget of 2 s spent" in t["message"] for t in inconclusive), inconclusive
    assert _tests(run, "failed") == [], _why(run)
    assert "verdict: INCONCLUSIVE" in run.output
    assert "replay this sample:" in run.output


def test_a_bad_run_timeout_is_a_usage_error() -> None:
    run = run_suite([*MATRIX_ARGS, "--tlog-run-timeout=0"])
    assert run.exitstatus == 4
    assert "--tlog-run-timeout" in run.output and "positive" in run.output
