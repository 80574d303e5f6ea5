"""The client in real deployments: extra headers, proxies, the shared answers, the run budget.

Real servers on loopback: `SpecServer` (API v1), a forward proxy (`forward_proxy`) that
alone resolves `tlog.internal.test`, and an HTTPS server with a CA made here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.test_http import make_entries
from tests.client.test_tls import https_server
from tests.forward_proxy import ForwardProxy
from tests.spec_server import SpecServer
from tlogcheck.client import ResponseMemo, TLogClient, parse_header, proxy_for, redact_url
from tlogcheck.errors import ConfigError, RunBudgetSpent, TargetStalled, TargetUnreachable
from tlogcheck.refstack.certs import make_ca

ROOT = "/v1/log/root"
HIDDEN = "tlog.internal.test"
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def server() -> Iterator[SpecServer]:
    with SpecServer(make_entries(16)) as s:
        yield s


# -- headers ------------------------------------------------------------------------------


def test_extra_headers_go_on_every_request_of_both_views(server: SpecServer) -> None:
    with TLogClient(server.url, timeout=5, headers=[("X-Access", "t0ken")]) as client:
        client.get(ROOT)
        client.get(ROOT, view="origin")
    assert [s.headers.get("x-access") for s in server.seen] == ["t0ken", "t0ken"]


def test_a_bad_header_line_never_echoes_its_value() -> None:
    with pytest.raises(ValueError) as info:
        parse_header("Authorization Bearer s3cret")
    assert "s3cret" not in str(info.value)
    with pytest.raises(ValueError, match="set by tlogcheck"):
        parse_header("Host: elsewhere")
    assert parse_header("X-Access:  v a l ") == ("X-Access", "v a l")


# -- shared answers and stalls ------------------------------------------------------------


def test_a_shared_read_is_asked_once_per_view(server: SpecServer) -> None:
    memo = ResponseMemo()
    with TLogClient(server.url, timeout=5, memo=memo) as a, TLogClient(
        server.url, timeout=5, memo=memo
    ) as b:
        first = a.get(ROOT, shared=True)
        again = b.get(ROOT, shared=True)
        origin = b.get(ROOT, view="origin", shared=True)
        fresh = a.get(ROOT)
    assert again is first and origin is not first and fresh is not first
    assert server.paths() == [ROOT, ROOT, ROOT]  # edge once, origin once, the fresh read


def test_a_stalled_url_is_not_asked_again_in_the_run(server: SpecServer) -> None:
    server.knobs.delay = 60.0
    memo = ResponseMemo()
    with TLogClient(server.url, timeout=5, deadline=0.5, memo=memo) as client:
        with pytest.raises(TargetStalled) as first:
            client.get(ROOT)
        started = time.monotonic()
        with pytest.raises(TargetStalled) as again:
            client.get(ROOT, shared=True)
        assert time.monotonic() - started < 0.4  # raised again, not waited for again
    assert str(again.value) == str(first.value)
    assert server.paths() == [ROOT]


def test_an_unreachable_shared_read_is_shared_too() -> None:
    memo = ResponseMemo()
    waits: list[float] = []
    with TLogClient("http://127.0.0.1:9", timeout=1, memo=memo, sleep=waits.append) as c:
        with pytest.raises(TargetUnreachable):
            c.get(ROOT, shared=True)
        with pytest.raises(TargetUnreachable):
            c.get(ROOT, shared=True)
    assert waits == [0.2, 0.4]  # the retries of the first read only


# -- the run budget -----------------------------------------------------------------------


def test_a_spent_budget_asks_nothing(server: SpecServer) -> None:
    with TLogClient(
        server.url, timeout=5, run_end=time.monotonic() - 1, run_budget=30
    ) as client:
        with pytest.raises(RunBudgetSpent, match="run budget of 30 s spent"):
            client.get(ROOT)
    assert server.seen == []


def test_the_budget_abandons_a_request_in_flight(server: SpecServer) -> None:
    server.knobs.delay = 60.0
    with TLogClient(
        server.url, timeout=5, run_end=time.monotonic() + 0.5, run_budget=7
    ) as client:
        # Inconclusive (our budget ran out), not the target failing.
        with pytest.raises(RunBudgetSpent, match="abandoned: run budget of 7 s spent"):
            client.get(ROOT)


# -- proxies ------------------------------------------------------------------------------


def test_no_proxy_reads_as_curl() -> None:
    env_url = "http://proxy.corp:3128"
    assert proxy_for("http://a.example/x", env_url, trust_env=False) == env_url
    assert proxy_for("http://a.example/x", None, trust_env=False) is None


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("", False),
        ("*", True),
        ("tlog.internal.test", True),
        (".internal.test", True),
        ("internal.test", True),
        ("other.test, tlog.internal.test:8080", False),
        ("ternal.test", False),
    ],
)
def test_no_proxy_matching(monkeypatch: pytest.MonkeyPatch, no_proxy: str, bypassed: bool) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    chosen = proxy_for(f"http://{HIDDEN}:9000/", None, trust_env=True)
    assert chosen == (None if bypassed else "http://proxy.corp:3128")


def test_given_proxy_reaches_a_host_only_it_resolves(server: SpecServer) -> None:
    with ForwardProxy({HIDDEN: "127.0.0.1"}) as proxy:
        url = f"http://{HIDDEN}:{server.port}"
        with TLogClient(url, timeout=5, proxy=proxy.url) as client:
            assert client.get(ROOT).status == 200
            assert client.get(ROOT, view="origin").status == 200
            assert client.proxy_of() == proxy.url
    assert [r.target for r in proxy.requests] == [url + ROOT, url + ROOT]


def test_http_proxy_from_the_environment_and_no_proxy(
    server: SpecServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ForwardProxy({HIDDEN: "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        url = f"http://{HIDDEN}:{server.port}"
        with TLogClient(url, timeout=5) as client:
            assert client.get(ROOT).status == 200
        monkeypatch.setenv("NO_PROXY", ".internal.test")
        # Direct now: the name resolves nowhere but in the proxy, so nobody answers.
        with TLogClient(url, timeout=2, retries=0) as client:
            with pytest.raises(TargetUnreachable):
                client.get(ROOT)
    assert len(proxy.requests) == 1


def test_https_through_connect_verifies_the_hidden_name(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    leaf = ca.issue(tmp_path, names=(HIDDEN,))
    with https_server(leaf) as direct, ForwardProxy({HIDDEN: "127.0.0.1"}) as proxy:
        port = direct.rsplit(":", 1)[1]
        url = f"https://{HIDDEN}:{port}"
        with TLogClient(url, timeout=5, proxy=proxy.url, ca_bundle=str(ca.path)) as client:
            assert client.get("/healthz").status == 200
    assert proxy.requests[0].method == "CONNECT"
    assert proxy.requests[0].target == f"{HIDDEN}:{port}"


def test_proxy_credentials_are_sent_and_never_shown(server: SpecServer) -> None:
    with ForwardProxy({HIDDEN: "127.0.0.1"}, credentials="ops:pr0xy-pw") as proxy:
        with_creds = proxy.url.replace("http://", "http://ops:pr0xy-pw@")
        url = f"http://{HIDDEN}:{server.port}"
        with TLogClient(url, timeout=5, proxy=with_creds) as client:
            assert client.get(ROOT).status == 200
            shown = client.proxy_of()
    assert shown is not None and "pr0xy-pw" not in shown and "<redacted>" in shown
    assert "pr0xy-pw" not in redact_url(with_creds)
    assert proxy.requests[0].headers["proxy-authorization"].startswith("Basic ")


# -- compressed reads ---------------------------------------------------------------------


def test_a_gzip_read_is_decoded(server: SpecServer) -> None:
    with TLogClient(server.url, timeout=5) as client:
        plain = client.get(ROOT)
        server.knobs.gzip = True
        coded = client.get(ROOT, accept_encoding="gzip")
    assert coded.header("content-encoding") == "gzip" and coded.body == plain.body
    assert server.seen[-1].headers["accept-encoding"] == "gzip"


def test_a_coding_the_client_cannot_decode_is_not_asked_for(server: SpecServer) -> None:
    with TLogClient(server.url, timeout=5) as client:
        with pytest.raises(ConfigError, match="cannot decode 'br'"):
            client.get(ROOT, accept_encoding="br")
    assert server.seen == []
