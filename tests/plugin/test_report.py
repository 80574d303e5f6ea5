"""tlogcheck.plugin.report: outcomes per check, worker records merged, the JSON document, and
parts adding sections and summary lines (also from xdist workers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tlogcheck.playbook.checks import (
    ALERT_KEY,
    CHECKS,
    INCONCLUSIVE_KEY,
    explain,
    read_explanation,
)
from tlogcheck.plugin import report

pytest_plugins = ["pytester"]


def _rep(
    nodeid: str, outcome: str, when: str = "call", check: str = "inclusion", **kw: Any
) -> pytest.TestReport:
    longrepr: Any = None
    if outcome == "skipped":
        longrepr = ("x.py", 1, kw.pop("reason", "Skipped: why"))
    elif outcome == "failed":
        longrepr = kw.pop("message", "expected: this\nserved:   that")
    return pytest.TestReport(
        nodeid, ("x.py", 0, nodeid), {check: 1, "x.py": 1}, outcome, longrepr, when,  # type: ignore[arg-type]
        user_properties=kw.pop("props", []),
    )  # fmt: skip


@pytest.fixture
def config(pytester: pytest.Pytester) -> pytest.Config:
    return pytester.parseconfig()


def test_outcomes_per_check_and_verdict(config: pytest.Config) -> None:
    for rep in [
        _rep("a", "passed", "setup"),
        _rep("a", "passed"),
        _rep("a", "passed", "teardown"),
        _rep("b", "passed", check="root"),
        _rep("b", "failed", "teardown", check="root", message="teardown broke"),
        _rep("c", "skipped", check="db", reason="Skipped: no --tlog-db given"),
        _rep("d", "skipped", "setup", props=[(INCONCLUSIVE_KEY, "refused")], reason="refused"),
    ]:
        report.note_test(config, rep)
    run = report.run(config)
    assert run.counts() == {"passed": 1, "skipped": 1, "inconclusive": 1, "failed": 1}
    checks = run.checks()
    assert list(checks) == ["root", "inclusion", "db"]  # the playbook's order
    assert checks["root"]["verdict"] == "failed"
    assert checks["root"]["tests"][0]["message"] == "teardown broke"
    assert checks["inclusion"]["verdict"] == "inconclusive"
    assert checks["db"] == {
        "passed": 0, "skipped": 1, "inconclusive": 0, "failed": 0, "verdict": "skipped",
        "tests": [{"nodeid": "c", "outcome": "skipped", "when": "call", "duration": 0.0,
                   "message": "no --tlog-db given", "finished_at": None}],
    }  # fmt: skip
    assert run.verdict() == "failed"


def test_verified_tree_is_the_largest_offered_by_a_passing_test(config: pytest.Config) -> None:
    key = report.VERIFIED_TREE_KEY
    report.note_test(config, _rep("a", "passed", props=[(key, (10, "aa"))]))
    report.note_test(config, _rep("b", "skipped", props=[(key, [12, "bb"])]))
    report.note_test(config, _rep("c", "failed", props=[(key, (99, "cc"))]))
    assert report.run(config).verified_tree() == (12, "bb")


def test_worker_records_merge_into_the_controllers(config: pytest.Config) -> None:
    report.record(config, "load", {"p95": 0.1, "groups": ["root"]})
    report.record(config, "events", ["a"])
    report.summary_line(config, "load: p95 100 ms")
    report.add_releases(config, {"v1": 2})
    report.merge_worker_payload(
        config,
        {
            "sections": {"load": {"p95": 0.2, "rps": 9}, "events": ["b"], "gate": "none"},
            "lines": ["load: p95 100 ms", "gate: dry run"],
            "releases": {"v1": 1, "v2": 3},
        },
    )
    doc = report.build(config, 0)
    assert doc["load"] == {"p95": 0.2, "groups": ["root"], "rps": 9}
    assert doc["events"] == ["a", "b"] and doc["gate"] == "none"
    assert doc["releases"] == {"v1": 3, "v2": 3}
    assert report.run(config).lines == ["load: p95 100 ms", "gate: dry run"]
    assert doc["summary"]["verdict"] == "no tests" and doc["summary"]["exitstatus"] == 0


PART = """
import pytest
from tlogcheck.plugin import report

@pytest.fixture(autouse=True)
def records(request):
    report.record(request.config, "part-" + request.node.name, {"ran": True})
    report.summary_line(request.config, "load: a line from " + request.node.name)

@pytest.mark.health
def test_one():
    pass

@pytest.mark.db
def test_two():
    pass
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_parts_sections_reach_the_json_and_the_terminal(
    pytester: pytest.Pytester, tmp_path: Path, workers: str | None
) -> None:
    pytester.makepyfile(test_part=PART)
    out = tmp_path / "sub" / "report.json"
    args = ["-p", "no:cacheprovider", f"--tlog-report-json={out}"]
    if workers:
        args += ["-n", workers]
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 0
    doc = json.loads(out.read_text())
    assert doc["part-test_one"] == doc["part-test_two"] == {"ran": True}
    assert doc["checks"]["health"]["verdict"] == "passed"
    assert doc["checks"]["db"]["passed"] == 1
    assert doc["summary"]["counts"]["passed"] == 2
    # No target in this run: the "tlogcheck" terminal section is not printed at all.
    assert "load: a line from" not in result.stdout.str()


# --- a failure's explanation as data -----------------------------------------------------


def test_a_failure_keeps_its_explanation_and_facts(config: pytest.Config) -> None:
    record = {
        "check": "inclusion", "alert": "TLogInclusionProofFail", "section": "§3.2",
        "expected": "each entry included", "served": "1 failed: 512", "extra": {"seed": "7"},
        "next": "re-verify", "facts": {"indices": [512]},
    }  # fmt: skip
    text = explain("inclusion", expected="each entry included", served="1 failed: 512")
    props = [(report.FAILURE_KEY, json.dumps(record))]
    report.note_test(config, _rep("a", "failed", message=text, props=props))
    found = report.run(config).checks()["inclusion"]["tests"][0]
    assert found["alert"] == "TLogInclusionProofFail"
    assert found["failure"] == record and found["message"] == text


def test_the_alert_a_failure_was_given_afterwards_wins(config: pytest.Config) -> None:
    """A 5xx or a stall names its alert on the report (ALERT_KEY): the record follows."""
    record = {"alert": "TLogInclusionProofFail", "expected": "e", "served": "HTTP 500"}
    props = [(report.FAILURE_KEY, json.dumps(record)), (ALERT_KEY, "Ingress5xxHigh")]
    report.note_test(config, _rep("a", "failed", props=props))
    found = report.run(config).checks()["inclusion"]["tests"][0]
    assert found["alert"] == found["failure"]["alert"] == "Ingress5xxHigh"


def test_a_failure_without_a_record_is_read_from_its_explanation(config: pytest.Config) -> None:
    text = explain(
        "health",
        expected="GET /healthz: 200",
        served="edge GET /healthz -> HTTP 503\n          after 3 attempts",
        extra={"seed": "7"},
    )
    report.note_test(config, _rep("a", "failed", check="health", message=text))
    report.note_test(config, _rep("b", "failed", check="db", message="assert 1 == 2"))
    checks = report.run(config).checks()
    failure = checks["health"]["tests"][0]["failure"]
    assert failure["expected"] == "GET /healthz: 200"
    assert failure["served"] == "edge GET /healthz -> HTTP 503\nafter 3 attempts"
    assert failure["alert"] == "TLogAvailabilityDown" and failure["facts"] == {}
    # pytest's own text is no explanation: no record, the check's alert.
    assert checks["db"]["tests"][0]["failure"] is None
    assert checks["db"]["tests"][0]["alert"] == "TLogInclusionProofFail"


def test_the_explanation_reads_back_as_written() -> None:
    for served in ("one line", "first\n          second\n            third"):
        text = explain("db", expected="x: y", served=served, extra={"seed": "1", "or": "z"})
        assert read_explanation(text) == {
            "expected": "x: y",
            "served": "\n".join(line.strip() for line in served.splitlines()),
            "alert": "TLogInclusionProofFail",
            "next": CHECKS["db"].next_step,
        }
    assert read_explanation("AssertionError: assert False") is None


FACTS = """
import pytest
from tlogcheck.plugin.verdicts import fail

@pytest.mark.inclusion
def test_fails_with_facts():
    fail("inclusion", expected="e", served="1 failed: 512", facts={"indices": [512]})
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_facts_reach_the_json_report(
    pytester: pytest.Pytester, tmp_path: Path, workers: str | None
) -> None:
    pytester.makepyfile(test_facts=FACTS)
    out = tmp_path / "report.json"
    args = [
        "-p",
        "no:cacheprovider",
        f"--tlog-report-json={out}",
        *(["-n", workers] if workers else []),
    ]
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 1
    test = json.loads(out.read_text())["checks"]["inclusion"]["tests"][0]
    assert test["failure"]["facts"] == {"indices": [512]}
    assert "expected: e\nserved:   1 failed: 512\n" in test["message"]
    # pytest's own name for the failure, as before (the gate quotes the crash line).
    assert "CheckFailed" not in result.stdout.str()
