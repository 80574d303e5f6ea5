"""The suite through a forward proxy: a target name only the proxy resolves.

The embedded reference deployment listens on loopback; `tests/forward_proxy.py` maps
`tlog.internal.test` to it, so the suite reaches `http://tlog.internal.test:PORT` only
through the proxy — given with `--tlog-proxy` (credentials in the URL, never printed) or
taken from `HTTP_PROXY`, as curl and httpx do.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.forward_proxy import ForwardProxy
from tlogcheck.refstack.stack import RunningStack, start_stack
from tlogcheck.runs import SuiteRun, run_suite

HIDDEN = "tlog.internal.test"
ARGS = ("--tlog-sample=4", "-m", "health or root or inclusion")


def _why(run: SuiteRun) -> str:
    return f"exit {run.exitstatus}\n" + "\n".join(run.output.splitlines()[-40:])


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with start_stack(entries=64, subprocess=False) as s:
        yield s


def _hidden_url(stack: RunningStack) -> str:
    port = stack.info.edge_url.rsplit(":", 1)[1]
    return f"http://{HIDDEN}:{port}"


def test_given_proxy_with_credentials(stack: RunningStack) -> None:
    with ForwardProxy({HIDDEN: "127.0.0.1"}, credentials="ops:pw-7f3a") as proxy:
        with_creds = proxy.url.replace("http://", "http://ops:pw-7f3a@")
        run = run_suite(
            [f"--tlog-url={_hidden_url(stack)}", f"--tlog-proxy={with_creds}", *ARGS]
        )
        seen = len(proxy.requests)
    assert run.exitstatus == 0, _why(run)
    assert seen > 0
    header = f"tlogcheck: proxy: {_hidden_url(stack)} via proxy http://<redacted>@127.0.0.1:"
    assert header in run.output, _why(run)
    assert "pw-7f3a" not in run.output
    assert "pw-7f3a" not in str(run.report)


def test_proxy_from_the_environment(stack: RunningStack) -> None:
    with ForwardProxy({HIDDEN: "127.0.0.1"}) as proxy:
        run = run_suite(
            [f"--tlog-url={_hidden_url(stack)}", *ARGS], env={"HTTP_PROXY": proxy.url}
        )
    assert run.exitstatus == 0, _why(run)
    assert f"via proxy {proxy.url} (from the environment)" in run.output


def test_no_proxy_makes_the_hidden_name_unreachable(stack: RunningStack) -> None:
    with ForwardProxy({HIDDEN: "127.0.0.1"}) as proxy:
        run = run_suite(
            [f"--tlog-url={_hidden_url(stack)}", "--tlog-timeout=2", "-m", "health"],
            env={"HTTP_PROXY": proxy.url, "NO_PROXY": ".internal.test"},
        )
    # Direct, the name resolves nowhere: could not ask, inconclusive.
    assert run.exitstatus == 6, _why(run)
    assert proxy.requests == []
