"""Compressed reads of the reference deployment: both edges gzip when asked, and the
`gzip-variant` fault makes the gzip copy differ from the identity bytes (edge only)."""

from __future__ import annotations

import pytest

from tlogcheck.client import TLogClient
from tlogcheck.refstack.nginx import nginx_available
from tlogcheck.refstack.stack import start_stack

PATHS = ("/v1/log/root", "/v1/log/checkpoint", "/v1/log/entry/3")


@pytest.mark.parametrize(
    "edge",
    [
        "builtin",
        pytest.param(
            "nginx",
            marks=pytest.mark.skipif(nginx_available() is None, reason="nginx is not installed"),
        ),
    ],
)
def test_edges_serve_gzip_that_decodes_to_the_identity_bytes(edge: str) -> None:
    with start_stack(entries=64, edge=edge, subprocess=False) as s, TLogClient(
        s.info.edge_url, timeout=5
    ) as client:
        for path in PATHS:
            plain = client.get(path)
            coded = client.get(path, accept_encoding="gzip")
            assert plain.header("content-encoding") is None
            assert coded.header("content-encoding") == "gzip"
            assert coded.body == plain.body


def test_gzip_variant_changes_only_the_gzip_copy_on_the_edge() -> None:
    with start_stack(entries=64, faults=["gzip-variant"], subprocess=False) as s, TLogClient(
        s.info.edge_url, timeout=5
    ) as client:
        for path in PATHS:
            plain = client.get(path)
            coded = client.get(path, accept_encoding="gzip")
            bypass = client.get(path, view="origin", headers={"Accept-Encoding": "gzip"})
            assert coded.header("content-encoding") == "gzip"
            assert len(coded.body) == len(plain.body) and coded.body != plain.body
            assert coded.etag == plain.etag  # the lie is in the bytes, not the headers
            assert bypass.body == plain.body


def test_edge_brotli_serves_browsers_br_that_decodes_to_the_identity_bytes() -> None:
    pytest.importorskip("brotli")
    from tlogcheck.client.profiles import CLIENT_PROFILES

    browser = next(p for p in CLIENT_PROFILES if p.name == "browser")
    go = next(p for p in CLIENT_PROFILES if p.name == "go-net-http")
    with start_stack(entries=64, faults=["edge-brotli"], subprocess=False) as s, TLogClient(
        s.info.edge_url, timeout=5
    ) as client:
        for path in PATHS:
            plain = client.get(path)
            coded = client.get(path, as_client=browser)
            assert coded.header("content-encoding") == "br"
            assert coded.body == plain.body
            # Only to those that ask for br.
            assert client.get(path, as_client=go).header("content-encoding") == "gzip"
