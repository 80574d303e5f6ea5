"""Health — playbook §0 (`curl -sSf $URL/healthz`) and §3.1, alert TLogAvailabilityDown.

`/healthz` answers 200 within the timeout, on the edge and on the origin (X-Bypass: 1),
with `{"status": "ok", ...}`. `/healthz` is `no-store`, so the edge asks the origin every
time: a 5xx here is the origin pods, not a stale cache.
"""

from __future__ import annotations

import pytest

from tlogcheck.client import TLogClient
from tlogcheck.client.purpose import HEALTH, asking
from tlogcheck.plugin.report import add_fact
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import render
from tlogcheck.spec import PATH_HEALTH
from tlogcheck.verify.health import judge_health

pytestmark = pytest.mark.health


@pytest.mark.parametrize("view", ["edge", "origin"])
def test_healthz_answers_200_within_the_timeout(
    tlog_client: TLogClient, tlog_target: Target, view: str, request: pytest.FixtureRequest
) -> None:
    with asking(HEALTH, "the §3.1 health check"):
        response = tlog_client.get(PATH_HEALTH, view=view)
    add_fact(request.config, f"healthz_status.{view}", response.status)
    # The rule (status, time, body `{"status": "ok"}`) is verify.health's: triage and the
    # daily checklist judge a view with it too.
    render(judge_health(response, tlog_target.timeout))
