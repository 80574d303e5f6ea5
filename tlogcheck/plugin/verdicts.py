"""How a check of tests_synthetic reports: a failure says expected, served, the
playbook's alert and section, the next step (`checks.explain`), without a traceback;
`inconclusive` says why the check cannot decide (the run then exits 6, not 1)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NoReturn

import pytest

from tlogcheck.errors import Inconclusive
from tlogcheck.playbook.checks import Check, explain

__all__ = ["fail", "inconclusive", "inconclusive_cause"]


def fail(
    check: str | Check, *, expected: str, served: str, extra: Mapping[str, str] | None = None
) -> NoReturn:
    """Fail the running test with the playbook's explanation and no traceback."""
    pytest.fail(explain(check, expected=expected, served=served, extra=extra), pytrace=False)


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
