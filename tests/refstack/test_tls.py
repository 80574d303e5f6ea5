"""The reference deployment over HTTPS (builtin edge and nginx), behind an access gateway.

`tlogcheck serve --tls` makes a CA at start and serves origin and edge with its
certificates; `--require-header` answers 401 without the header. The suite run as users
run it (a subprocess):

- passes with `--tlog-ca-bundle` and `--tlog-header`, and no output of the run (stdout,
  JSON report, JUnit XML) holds the header's value;
- without the CA, fails the health check under TLogAvailabilityDown, saying the issuer
  is not trusted and naming `--tlog-ca-bundle`;
- with a wrong header value, fails (401) without printing either value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.refstack.edges import EDGES
from tlogcheck.refstack.stack import RunningStack, start_stack
from tlogcheck.runs import SuiteRun, run_suite

SECRET = "s3cr3t-T0ken-9f2c"
HEADER = f"X-Access: {SECRET}"
ARGS = ("--tlog-sample=8", "-m", "not load")


def _why(run: SuiteRun) -> str:
    return f"exit {run.exitstatus}\n" + "\n".join(run.output.splitlines()[-40:])


@pytest.fixture(scope="module", params=EDGES)
def stack(request: pytest.FixtureRequest) -> Iterator[RunningStack]:
    with start_stack(
        entries=128, edge=request.param, tls=True, require_header=HEADER, subprocess=False
    ) as s:
        yield s


def _target(stack: RunningStack) -> list[str]:
    info = stack.info
    return [f"--tlog-url={info.edge_url}", f"--tlog-vkey={info.vkey}", f"--tlog-db={info.db_path}"]


def test_stack_serves_https_with_its_ca(stack: RunningStack) -> None:
    info = stack.info
    assert info.edge_url.startswith("https://") and info.origin_url.startswith("https://")
    assert info.ca_path is not None and Path(info.ca_path).is_file()
    assert info.require_header == "X-Access"


def test_suite_passes_over_tls_and_the_header_never_shows(
    stack: RunningStack, tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    run = run_suite(
        [
            *_target(stack),
            *ARGS,
            f"--tlog-ca-bundle={stack.info.ca_path}",
            f"--tlog-header={HEADER}",
            f"--junitxml={junit}",
            "-rA",
        ]
    )
    assert run.exitstatus == 0, _why(run)
    assert "tlogcheck: headers sent on every request: X-Access: <redacted>" in run.output
    assert "TLOG_HEADER" in run.output  # the replay command says what to set
    assert junit.is_file()
    assert SECRET not in junit.read_text()
    assert SECRET not in run.output
    # The JSON report (run_suite's --tlog-report-json), every field of it.
    assert run.report["target"]["headers"] == ["X-Access: <redacted>"]
    assert SECRET not in json.dumps(run.report)


def test_header_from_the_environment_is_not_shown_either(stack: RunningStack) -> None:
    run = run_suite(
        [*_target(stack), *ARGS, f"--tlog-ca-bundle={stack.info.ca_path}"],
        env={"TLOG_HEADER": HEADER},
    )
    assert run.exitstatus == 0, _why(run)
    assert SECRET not in run.output and SECRET not in str(run.report)


def test_without_the_ca_health_fails_as_users_would(stack: RunningStack) -> None:
    run = run_suite([*_target(stack), *ARGS, f"--tlog-header={HEADER}", "-m", "health"])
    assert run.exitstatus == 1, _why(run)
    assert run.check_verdicts()["health"] == "failed", _why(run)
    messages = [t["message"] for t in run.report["checks"]["health"]["tests"]]
    for message in messages:
        assert "issuer not trusted: CN=tlogcheck reference CA" in message, message
        assert "--tlog-ca-bundle" in message
        assert "alert:    TLogAvailabilityDown" in message
    assert SECRET not in run.output


def test_a_wrong_header_value_fails_without_showing_a_value(stack: RunningStack) -> None:
    wrong = "X-Access: not-the-one-71c3"
    run = run_suite(
        [
            *_target(stack),
            *ARGS,
            f"--tlog-ca-bundle={stack.info.ca_path}",
            f"--tlog-header={wrong}",
            "-m",
            "health",
        ]
    )
    assert run.exitstatus == 1, _why(run)
    assert "HTTP 401" in run.output, _why(run)
    assert "not-the-one-71c3" not in run.output and SECRET not in run.output


def test_a_malformed_header_option_is_a_usage_error_without_its_value() -> None:
    run = run_suite([*ARGS, "--tlog-header=Authorization Bearer zz-hidden-zz"])
    assert run.exitstatus == 4, _why(run)
    assert "--tlog-header" in run.output
    assert "zz-hidden-zz" not in run.output


def test_the_load_phase_sends_the_header_and_trusts_the_ca(stack: RunningStack) -> None:
    run = run_suite(
        [
            *_target(stack),
            f"--tlog-ca-bundle={stack.info.ca_path}",
            f"--tlog-header={HEADER}",
            "--load",
            "--load-duration=2",
            "--load-users=2",
            "--load-max-requests=400",
            "-m",
            "load",
        ]
    )
    assert run.exitstatus == 0, _why(run)
    total = run.report["load"]["total"]
    assert total["requests"] > 0 and total["failures"] == 0, run.report["load"]
    assert SECRET not in run.output and SECRET not in json.dumps(run.report)
