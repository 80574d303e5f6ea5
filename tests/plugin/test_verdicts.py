"""Verdicts of a run: inconclusive and exit 6, the explained failures, the JSON report,
the state file (recorded only after a fully passing run, proved from on the next)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tlogcheck.errors import EXIT_INCONCLUSIVE
from tlogcheck.refstack.stack import RunningStack
from tlogcheck.runs import run_suite

pytest_plugins = ["pytester"]

UNREACHABLE_TESTS = """
import pytest
from tlogcheck.errors import TargetUnreachable

@pytest.fixture(scope="session")
def root():
    raise TargetUnreachable("edge GET /v1/log/root: no answer after 3 attempt(s)")

def test_uses_the_root_a(root):
    pass

def test_uses_the_root_b(root):
    pass

def test_asks_itself():
    raise TargetUnreachable("edge GET /healthz: connection refused")

def test_passes():
    pass
"""


def test_unreachable_target_is_inconclusive_with_exit_6(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unreachable=UNREACHABLE_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rA")
    assert result.ret == EXIT_INCONCLUSIVE
    result.stdout.fnmatch_lines(["*1 passed, 3 inconclusive*"])
    # Reported as skipped (what junit and the gate read), with the reason.
    reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    skipped = [r for r in reports if r.skipped]
    assert len(skipped) == 3
    for rep in skipped:
        assert rep.longrepr[2].startswith("inconclusive: edge GET")
        assert ("tlogcheck_inconclusive", rep.longrepr[2].removeprefix("inconclusive: ")) in (
            rep.user_properties
        )


def test_a_failure_outranks_inconclusive(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mixed=UNREACHABLE_TESTS + "\ndef test_fails():\n    assert False\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_inconclusive_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unreachable=UNREACHABLE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    assert result.ret == EXIT_INCONCLUSIVE
    result.stdout.fnmatch_lines(["*1 passed, 3 inconclusive*"])


BLIP_UNDER_HYPOTHESIS = """
from hypothesis import given, settings, strategies as st
from tlogcheck.errors import TargetUnreachable

calls = []

@settings(database=None, deadline=None, max_examples=5)
@given(st.integers(0, 10))
def test_a_connection_drops_once(i):
    calls.append(i)
    if len(calls) == 1:
        raise TargetUnreachable("edge GET /v1/log/entry/3: connection reset")
"""

GROUPS = """
import pytest
from tlogcheck.errors import ProofError, TargetUnreachable

def test_a_group_of_unreachables():
    raise ExceptionGroup("two asks", [
        TargetUnreachable("edge GET /a: refused"),
        ExceptionGroup("nested", [TargetUnreachable("origin GET /b: refused")]),
    ])

def test_a_group_with_a_real_failure():
    raise ExceptionGroup("two asks", [
        TargetUnreachable("edge GET /a: refused"),
        ProofError("calculated root ab does not match root cd"),
    ])
"""


def test_a_blip_inside_hypothesis_is_inconclusive_not_flaky(pytester: pytest.Pytester) -> None:
    # Hypothesis cannot reproduce the dropped connection and raises FlakyFailure around it:
    # that is still "we could not ask", never a failure.
    pytester.makepyfile(test_blip=BLIP_UNDER_HYPOTHESIS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rA")
    assert result.ret == EXIT_INCONCLUSIVE, result.stdout.str()
    result.stdout.fnmatch_lines(["*1 inconclusive*"])
    reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    (call,) = [r for r in reports if r.when == "call"]
    assert call.skipped
    assert call.longrepr[2] == "inconclusive: edge GET /v1/log/entry/3: connection reset"


def test_exception_groups_are_inconclusive_only_when_every_cause_is(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_groups=GROUPS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rA")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 failed*1 inconclusive*"])
    reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    outcome = {r.nodeid.split("::")[-1]: r.outcome for r in reports if r.when == "call"}
    assert outcome == {
        "test_a_group_of_unreachables": "skipped",
        "test_a_group_with_a_real_failure": "failed",
    }


def test_escaped_format_error_is_explained(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_explained="""
import pytest
from tlogcheck.errors import ProofError

@pytest.mark.inclusion
def test_proof():
    raise ProofError("calculated root ab does not match root cd")
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "expected: an answer of the form and content the spec fixes",
            "served:   ProofError: calculated root ab does not match root cd",
            "alert:    TLogInclusionProofFail (playbook §3.2)",
            "next:     re-verify the failing index*",
        ]
    )


def test_unreachable_deployment_makes_the_suite_inconclusive(tmp_path: Path) -> None:
    # Nothing listens on port 9 of loopback: every request is refused.
    run = run_suite(
        ["--tlog-url=http://127.0.0.1:9", "--tlog-timeout=0.5", "-m", "health or inclusion"]
    )
    assert run.exitstatus == EXIT_INCONCLUSIVE, run.output
    assert run.report["summary"]["verdict"] == "inconclusive"
    assert set(run.report["summary"]["inconclusive_checks"]) == {"health", "inclusion"}
    assert "verdict: INCONCLUSIVE" in run.output


# --- against a live deployment ------------------------------------------------------------

MakeRefstack = Callable[..., RunningStack]


def _live(stack: RunningStack) -> list[str]:
    info = stack.info
    return [
        f"--tlog-url={info.edge_url}",
        f"--tlog-vkey={info.vkey}",
        f"--tlog-db={info.db_path}",
        f"--tlog-db-sha256={info.db_sha256_path}",
    ]


def _state(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def test_state_is_recorded_after_a_full_pass_and_proved_from_next(
    make_refstack: MakeRefstack, tmp_path: Path
) -> None:
    stack = make_refstack(entries=256)
    state = tmp_path / "state.json"
    first = run_suite([*_live(stack), f"--tlog-state={state}", "-m", "consistency"])
    assert first.exitstatus == 0, first.output
    recorded = _state(state)
    assert recorded["tree_size"] == 256 and recorded["url"] == stack.info.edge_url
    assert "now records tree 256:" in first.output
    second = run_suite([*_live(stack), f"--tlog-state={state}", "-m", "consistency"])
    assert second.exitstatus == 0, second.output
    tests = second.report["checks"]["consistency"]["tests"]
    state_test = [t for t in tests if "state_tree" in t["nodeid"]]
    assert [t["outcome"] for t in state_test] == ["passed"]
    recorded = _state(state)

    # A log that rewrote history: the state proves it, the run fails, the file stays.
    forked = make_refstack(entries=256, faults=["history-rewrite"])
    third = run_suite([*_live(forked), f"--tlog-state={state}", "-m", "consistency"])
    assert third.exitstatus == 1, third.output
    assert "consistency" in third.report["summary"]["failed_checks"]
    assert _state(state) == recorded
    assert "not updated: the run did not fully pass" in third.output


def test_state_survives_a_lagging_edge(make_refstack: MakeRefstack, tmp_path: Path) -> None:
    stack = make_refstack(entries=256)
    state = tmp_path / "state.json"
    assert run_suite([*_live(stack), f"--tlog-state={state}", "-m", "consistency"]).exitstatus == 0
    recorded = _state(state)
    # The edge now shows an older, consistent tree: fine, and the state keeps the newer.
    stack.set_faults(["edge-lag"])
    lagging = run_suite([*_live(stack), f"--tlog-state={state}", "-m", "consistency"])
    assert lagging.exitstatus == 0, lagging.output
    assert _state(state)["tree_size"] == recorded["tree_size"]
    assert _state(state)["root_hash"] == recorded["root_hash"]


def test_report_json_and_skips_without_key_or_db(make_refstack: MakeRefstack) -> None:
    stack = make_refstack(entries=256)
    run = run_suite([f"--tlog-url={stack.info.edge_url}", "-m", "checkpoint or db or health"])
    assert run.exitstatus == 0, run.output
    doc = run.report
    assert doc["target"]["url"] == stack.info.edge_url and doc["target"]["embedded"] is False
    assert doc["summary"]["verdict"] == "passed"
    assert doc["releases"] == {stack.info.release: doc["releases"][stack.info.release]}
    checkpoint = {t["nodeid"].split("::")[1]: t for t in doc["checks"]["checkpoint"]["tests"]}
    signature = checkpoint["test_checkpoint_signature_verifies"]
    assert signature["outcome"] == "skipped"
    assert "no --tlog-vkey given" in signature["message"]
    assert doc["checks"]["db"]["verdict"] == "skipped"
    assert all("no --tlog-db given" in t["message"] for t in doc["checks"]["db"]["tests"])
    assert "the checkpoint's signature is NOT verified" in run.output


def test_replay_command_re_runs_just_the_failing_index() -> None:
    embedded = ["--tlog-embedded-entries=256", "--tlog-embedded-fault=corrupt-entry:128"]
    failing = run_suite([*embedded, "-m", "inclusion", "--tlog-index=128"])
    assert failing.exitstatus == 1, failing.output
    assert "1 failed: 128" in failing.output
    assert "re-run one: pytest --pyargs tests_synthetic --tlog-embedded-entries=256 " in (
        failing.output
    )
    tests = {t["nodeid"].split("::")[1]: t for t in failing.report["checks"]["inclusion"]["tests"]}
    assert tests["test_edge_case_indices_are_included"]["outcome"] == "skipped"
    assert (
        "each of 1 sampled entries"
        in tests["test_sampled_entries_are_included_in_the_served_root"]["message"]
    )
    other = run_suite([*embedded, "-m", "inclusion", "--tlog-index=127", "--tlog-index=129"])
    assert other.exitstatus == 0, other.output


def test_db_line_that_is_not_a_json_object_fails_the_db_check(
    make_refstack: MakeRefstack, tmp_path: Path
) -> None:
    stack = make_refstack(entries=64)
    lines = Path(stack.info.db_path).read_bytes().splitlines(keepends=True)
    # `{"a" 1}` starts with { and ends with }: only a full JSON parse tells it is no object.
    lines[5] = b'{"a" 1}\n'
    bad = tmp_path / "db.jsonl"
    bad.write_bytes(b"".join(lines))
    run = run_suite([f"--tlog-url={stack.info.edge_url}", f"--tlog-db={bad}", "-m", "db"])
    assert run.exitstatus == 1, run.output
    assert "db" in run.report["summary"]["failed_checks"]
    assert ":6:" in run.output and "JSON" in run.output
