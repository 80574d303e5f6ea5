"""How a check of tests_synthetic reports: a failure says expected, served, the
playbook's alert and section, the next step (`checks.explain`), without a traceback;
`inconclusive` says why the check cannot decide (the run then exits 6, not 1)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn

import pytest

from tlogcheck.errors import Inconclusive
from tlogcheck.playbook.checks import CHECKS, Check, explain

if TYPE_CHECKING:
    from tlogcheck.verify.served import Finding, Verdict

__all__ = [
    "ROLLOUT_KEY",
    "AlertFailed",
    "fail",
    "fail_finding",
    "inconclusive",
    "inconclusive_cause",
    "render",
]

# The Rollout and namespace a failure's `next:` line names (`checks.fill_next`), as the
# gate resolved them (--rollout, --rollout-namespace, the kubeconfig context).
ROLLOUT_KEY = pytest.StashKey[dict[str, str]]()


def fail(
    check: str | Check, *, expected: str, served: str, extra: Mapping[str, str] | None = None
) -> NoReturn:
    """Fail the running test with the playbook's explanation and no traceback."""
    pytest.fail(explain(check, expected=expected, served=served, extra=extra), pytrace=False)


class AlertFailed(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A failure under another alert than its check's (`Finding.alert`): the suite's
    report hook records the alert (`checks.ALERT_KEY`), as it does for a stall."""

    def __init__(self, msg: str, alert: str) -> None:
        super().__init__(msg, pytrace=False)
        self.alert = alert


def fail_finding(found: Finding, extra: Mapping[str, str] | None = None) -> NoReturn:
    """Fail the running test with a rule's finding, under the finding's alert."""
    check = CHECKS[found.check]
    if found.alert == check.alert:
        fail(check, expected=found.expected, served=found.served, extra=extra)
    other = replace(check, alert=found.alert)
    raise AlertFailed(
        explain(other, expected=found.expected, served=found.served, extra=extra), found.alert
    )


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
