"""Health — playbook §0 (`curl -sSf $URL/healthz`) and §3.1, alert TLogAvailabilityDown.

`/healthz` answers 200 within the timeout, on the edge and on the origin (X-Bypass: 1),
with `{"status": "ok", ...}`. `/healthz` is `no-store`, so the edge asks the origin every
time: a 5xx here is the origin pods, not a stale cache.
"""

from __future__ import annotations

import pytest

from tlogcheck import spec
from tlogcheck.client import TLogClient
from tlogcheck.client.purpose import HEALTH, asking
from tlogcheck.errors import FormatError
from tlogcheck.plugin.report import add_fact
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail
from tlogcheck.spec import PATH_HEALTH

pytestmark = pytest.mark.health


@pytest.mark.parametrize("view", ["edge", "origin"])
def test_healthz_answers_200_within_the_timeout(
    tlog_client: TLogClient, tlog_target: Target, view: str, request: pytest.FixtureRequest
) -> None:
    with asking(HEALTH, "the §3.1 health check"):
        response = tlog_client.get(PATH_HEALTH, view=view)
    add_fact(request.config, f"healthz_status.{view}", response.status)
    expected = f"GET /healthz on the {view} view: 200 within {tlog_target.timeout:g}s"
    if response.status != 200:
        fail("health", expected=expected, served=response.describe())
    if response.elapsed > tlog_target.timeout:
        fail("health", expected=expected, served=f"{response.elapsed:.2f}s: {response.describe()}")
    try:
        health = spec.parse_health(response.body)
    except FormatError as exc:
        fail("health", expected='a body {"status":"ok","tree_size":N,...}', served=str(exc))
    if health.status != "ok":
        fail(
            "health",
            expected='"status": "ok"',
            served=f'"status": {health.status!r}; {response.describe()}',
        )
