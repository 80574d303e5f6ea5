"""How a check of tests_synthetic reports a failure: expected, served, the playbook's
alert and section, the next step (`checks.explain`), without a traceback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn

import pytest

from tlogcheck.checks import Check, explain

__all__ = ["fail"]


def fail(
    check: str | Check, *, expected: str, served: str, extra: Mapping[str, str] | None = None
) -> NoReturn:
    """Fail the running test with the playbook's explanation and no traceback."""
    pytest.fail(explain(check, expected=expected, served=served, extra=extra), pytrace=False)
