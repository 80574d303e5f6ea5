"""Health — playbook §0 (`curl -sSf $URL/healthz`) and §3.1, alert TLogAvailabilityDown.

A view is healthy when `/healthz` answers 200 within the timeout with a body
`{"status": "ok", ...}`: a 200 saying `"degraded"` is a pod telling its users it is not
well, and a 200 that took longer than the timeout is what a probe with that timeout
calls down. The suite's health check, triage's §3.1 step and the daily checklist judge
a view with `judge_health`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlogcheck import spec
from tlogcheck.errors import FormatError
from tlogcheck.verify.served import Verdict, finding

if TYPE_CHECKING:
    from tlogcheck.client import Response

__all__ = ["judge_health"]


def judge_health(response: Response, timeout: float) -> Verdict:
    """Judge one view's `GET /healthz` answer (TLogAvailabilityDown when it fails)."""
    view = response.view
    expected = f"GET /healthz on the {view} view: 200 within {timeout:g}s"
    if response.status != 200:
        return Verdict.failed(
            finding("health", expected=expected, served=response.describe(), response=response)
        )
    if response.elapsed > timeout:
        return Verdict.failed(
            finding(
                "health",
                expected=expected,
                served=f"{response.elapsed:.2f}s: {response.describe()}",
                response=response,
            )
        )
    try:
        health = spec.parse_health(response.body)
    except FormatError as exc:
        return Verdict.failed(
            finding(
                "health",
                expected='a body {"status":"ok","tree_size":N,...}',
                served=f"{exc}; {response.describe()}",
                response=response,
            )
        )
    if health.status != "ok":
        return Verdict.failed(
            finding(
                "health",
                expected='"status": "ok"',
                served=f'"status": {health.status!r}; {response.describe()}',
                response=response,
            )
        )
    release = f", release {response.release}" if response.release else ""
    return Verdict.passed(
        f"{view}: 200 in {response.elapsed:.2f}s, status ok{release}",
        evidence=[response.describe()],
    )
