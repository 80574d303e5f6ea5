"""The client over TLS: the CAs it trusts, and every rejected certificate in plain words.

Real HTTPS servers (uvicorn, as the reference deployment serves) with certificates made
here by `refstack.certs`: a good one, an expired one, one for another name, one from a CA
the client was not given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tlogcheck.client import TLogClient, tls
from tlogcheck.errors import ConfigError, TargetCertificateError, TargetUnreachable
from tlogcheck.refstack.certs import CA, LeafFiles, make_ca
from tlogcheck.refstack.server import BackgroundServers, Listener, Receive, Scope, Send, ServerGroup


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b'{"status":"ok","tree_size":1,"release":"v1"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def https_server(leaf: LeafFiles) -> Iterator[str]:
    listener = Listener("tls", _ok, ssl_certfile=str(leaf.cert), ssl_keyfile=str(leaf.key))
    with BackgroundServers(ServerGroup([listener])) as bg:
        yield bg.urls["tls"]


@pytest.fixture
def ca(tmp_path: Path) -> CA:
    return make_ca(tmp_path / "ca")


@pytest.fixture(autouse=True)
def no_ambient_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    # The host's SSL_CERT_FILE must not decide what these tests trust.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def test_a_certificate_of_the_given_ca_is_trusted(ca: CA, tmp_path: Path) -> None:
    with https_server(ca.issue(tmp_path)) as url:
        assert url.startswith("https://")
        with TLogClient(url, timeout=5, ca_bundle=str(ca.path)) as client:
            assert client.get("/healthz").status == 200


def test_clients_given_one_ssl_context_share_what_it_trusts(ca: CA, tmp_path: Path) -> None:
    """The exporter's many clients share one context per CA bundle: the one given is used."""
    trusting, plain = tls.ssl_context(str(ca.path)), tls.ssl_context(None)
    with https_server(ca.issue(tmp_path)) as url:
        for _ in range(2):
            with TLogClient(url, timeout=5, ssl_context=trusting) as client:
                assert client.get("/healthz").status == 200
        with TLogClient(url, timeout=5, ssl_context=plain) as client:
            with pytest.raises(TargetCertificateError):
                client.get("/healthz")


def test_ssl_cert_file_is_honoured_without_a_bundle(
    ca: CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.path))
    with https_server(ca.issue(tmp_path)) as url, TLogClient(url, timeout=5) as client:
        assert client.get("/healthz").status == 200
    assert tls.trust_source(None) == f"CAs from SSL_CERT_FILE={ca.path}"


def test_a_private_ca_not_given_is_an_untrusted_issuer(ca: CA, tmp_path: Path) -> None:
    with https_server(ca.issue(tmp_path)) as url, TLogClient(url, timeout=5) as client:
        with pytest.raises(TargetCertificateError) as info:
            client.get("/healthz")
    message = str(info.value)
    assert "issuer not trusted: CN=tlogcheck reference CA" in message
    assert "--tlog-ca-bundle" in message
    # Not "could not ask": real users are refused the same way.
    assert not isinstance(info.value, TargetUnreachable)


def test_an_expired_certificate_says_when(ca: CA, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    ended = now - dt.timedelta(days=1)
    leaf = ca.issue(tmp_path, not_before=now - dt.timedelta(days=30), not_after=ended)
    with https_server(leaf) as url, TLogClient(url, timeout=5, ca_bundle=str(ca.path)) as c:
        with pytest.raises(TargetCertificateError) as info:
            c.get("/healthz")
    assert f"expired on {ended.strftime('%Y-%m-%d')}" in str(info.value)


def test_a_certificate_for_another_name_says_for_which(ca: CA, tmp_path: Path) -> None:
    leaf = ca.issue(tmp_path, names=("tlog.example.com",))
    with https_server(leaf) as url, TLogClient(url, timeout=5, ca_bundle=str(ca.path)) as c:
        with pytest.raises(TargetCertificateError) as info:
            c.get("/healthz")
    assert "not valid for 127.0.0.1 (it names tlog.example.com)" in str(info.value)


def test_a_certificate_of_another_ca_is_an_untrusted_issuer(ca: CA, tmp_path: Path) -> None:
    other = make_ca(tmp_path / "other", name="Some Other CA")
    leaf = other.issue(tmp_path / "leaf")
    with https_server(leaf) as url, TLogClient(url, timeout=5, ca_bundle=str(ca.path)) as c:
        with pytest.raises(TargetCertificateError, match="issuer not trusted: CN=Some Other CA"):
            c.get("/healthz")


def test_certificate_failures_are_not_retried(ca: CA, tmp_path: Path) -> None:
    waits: list[float] = []
    with https_server(ca.issue(tmp_path)) as url:
        with TLogClient(url, timeout=5, sleep=waits.append) as client:
            with pytest.raises(TargetCertificateError):
                client.get("/healthz")
    assert waits == []


def test_a_bundle_that_is_not_one_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bundle.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="cannot be loaded"):
        TLogClient("https://127.0.0.1:1", ca_bundle=str(bad))
