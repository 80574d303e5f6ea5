"""How a check of tests_synthetic reports: a failure says expected, served, the
playbook's alert and section, the next step (`checks.explain`), without a traceback;
`inconclusive` says why the check cannot decide (the run then exits 6, not 1).

A failure also keeps its parts as data (its `tlogcheck_record`: check, alert, section,
expected, served, extra, next step, and the served `facts` a check hands over: status
codes, indices, hashes, figures), which the report stores per failing test, so the
notice and the RCA quote what was served without reading the text back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from _pytest.outcomes import Failed

from tlogcheck.errors import Inconclusive
from tlogcheck.playbook.checks import CHECKS, Check, explain
from tlogcheck.verify.served import response_facts

if TYPE_CHECKING:
    from tlogcheck.verify import InclusionResult
    from tlogcheck.verify.served import Finding, Verdict

__all__ = [
    "ROLLOUT_KEY",
    "AlertFailed",
    "fail",
    "fail_finding",
    "inclusion_facts",
    "inconclusive",
    "inconclusive_cause",
    "render",
    "response_facts",
]

# The Rollout and namespace a failure's `next:` line names (`checks.fill_next`), as the
# gate resolved them (--rollout, --rollout-namespace, the kubeconfig context).
ROLLOUT_KEY = pytest.StashKey[dict[str, str]]()


def _record(
    c: Check,
    *,
    expected: str,
    served: str,
    extra: Mapping[str, str] | None,
    facts: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "check": c.name,
        "alert": c.alert,
        "section": c.section,
        "expected": expected,
        "served": served,
        "extra": dict(extra or {}),
        "next": c.next_step,
        "facts": dict(facts or {}),
    }


def fail(
    check: str | Check,
    *,
    expected: str,
    served: str,
    extra: Mapping[str, str] | None = None,
    facts: Mapping[str, Any] | None = None,
) -> NoReturn:
    """Fail the running test with the playbook's explanation and no traceback.

    `facts`: what was served, as JSON-able data (see `response_facts`), kept in the
    report beside the text."""
    c = CHECKS[check] if isinstance(check, str) else check
    # pytest's own failure (its name is what the gate and the terminal print), with the
    # record beside it for the report (`report.ReportPlugin` moves it to the test's report).
    exc = Failed(explain(check, expected=expected, served=served, extra=extra), pytrace=False)
    exc.tlogcheck_record = _record(  # type: ignore[attr-defined]
        c, expected=expected, served=served, extra=extra, facts=facts
    )
    raise exc


SHOWN_FACTS = 8  # failing indices whose responses are kept as facts (all are listed)


def inclusion_facts(failures: Sequence[InclusionResult]) -> dict[str, Any]:
    """The failing indices, and for the first few the rule broken, the leaf hash of the
    entry as served and each response (status, path, body SHA-256)."""
    return {
        "indices": [r.index for r in failures],
        "failures": [
            {
                "index": r.index,
                "rule": r.rule,
                "leaf_hash": r.leaf_hash.hex() if r.leaf_hash is not None else None,
                "responses": [response_facts(x) for x in r.responses],
            }
            for r in failures[:SHOWN_FACTS]
        ],
    }


class AlertFailed(Failed):
    """A failure under another alert than its check's (`Finding.alert`): the suite's
    report hook records the alert (`checks.ALERT_KEY`), as it does for a stall."""

    def __init__(self, msg: str, alert: str) -> None:
        super().__init__(msg, pytrace=False)
        self.alert = alert


def fail_finding(found: Finding, extra: Mapping[str, str] | None = None) -> NoReturn:
    """Fail the running test with a rule's finding, under the finding's alert, its served
    facts kept in the report as `fail` keeps them."""
    check = CHECKS[found.check]
    if found.alert == check.alert:
        fail(check, expected=found.expected, served=found.served, extra=extra, facts=found.facts)
    other = replace(check, alert=found.alert)
    exc = AlertFailed(
        explain(other, expected=found.expected, served=found.served, extra=extra), found.alert
    )
    exc.tlogcheck_record = _record(  # type: ignore[attr-defined]
        other, expected=found.expected, served=found.served, extra=extra, facts=found.facts
    )
    raise exc


def render(verdict: Verdict, extra: Mapping[str, str] | None = None) -> None:
    """End the running test as a rule's verdict says: fail with its first finding, skip
    or inconclusive with its reason; return on a pass."""
    if verdict.status == "failed" and verdict.findings:
        fail_finding(verdict.findings[0], extra)
    if verdict.status == "skipped":
        pytest.skip(verdict.summary)
    if verdict.status == "inconclusive":
        inconclusive(verdict.summary)


def inconclusive(reason: str) -> NoReturn:
    """End the running test as inconclusive: the target answered, we cannot judge it."""
    raise Inconclusive(reason)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    # An exception group (builtin from 3.11, the backport's on 3.10) by its shape.
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and inner and all(isinstance(e, BaseException) for e in inner):
        for e in inner:
            yield from _leaves(e)
    else:
        yield exc


def inconclusive_cause(exc: BaseException) -> Inconclusive | None:
    """The `Inconclusive` a test ended with, also inside exception groups: None otherwise.

    Hypothesis reports an error it could not reproduce (a connection that dropped once)
    as a `FlakyFailure` group around it; a group whose every exception is inconclusive
    is inconclusive. One real failure anywhere in it keeps the whole a failure.
    """
    leaves = list(_leaves(exc))
    if leaves and all(isinstance(e, Inconclusive) for e in leaves):
        first = leaves[0]
        assert isinstance(first, Inconclusive)
        return first
    return None
