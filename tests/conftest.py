"""Fixtures that start the reference stack for the project's own tests.

- `make_refstack(**kwargs)`: start a stack (`refstack.stack.start_stack` keywords; in
  this process's background thread unless `subprocess=True`); every stack it started
  is stopped when the test ends, pass or fail.
- `refstack`: a healthy stack of 2048 demo entries with the builtin edge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tlogcheck.refstack.stack import RunningStack, start_stack

MakeRefstack = Callable[..., RunningStack]


@pytest.fixture
def make_refstack() -> Iterator[MakeRefstack]:
    started: list[RunningStack] = []

    def make(**kwargs: Any) -> RunningStack:
        kwargs.setdefault("subprocess", False)
        stack = start_stack(**kwargs)
        started.append(stack)
        return stack

    yield make
    errors: list[BaseException] = []
    for stack in reversed(started):
        try:
            stack.close()
        except Exception as exc:  # stop the others before reporting
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def refstack(make_refstack: MakeRefstack) -> RunningStack:
    return make_refstack(entries=2048)
