"""Why a request was asked travels with its response: stated by the caller (through
`client.map`'s threads too), or decided by the request's form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.spec_server import SpecServer, make_entries
from tlogcheck.client import Purpose, Response, TLogClient, asking, checking
from tlogcheck.client.profiles import CLIENT_PROFILES, TLOGCHECK_GZIP, ClientProfile
from tlogcheck.client.purpose import (
    CACHE,
    CLIENT_IDENTITY,
    CONDITIONAL,
    ENCODING,
    KINDS,
    PROBE,
    READ,
    current,
)

ROOT = "/v1/log/root"


@pytest.fixture
def client() -> Iterator[tuple[TLogClient, list[Response]]]:
    recorded: list[Response] = []
    with SpecServer(make_entries(8)) as server:
        with TLogClient(server.url, timeout=5.0, recorder=recorded.append) as c:
            yield c, recorded


def test_a_stated_purpose_and_check_are_recorded(
    client: tuple[TLogClient, list[Response]],
) -> None:
    c, recorded = client
    with checking("root"), asking(PROBE, "malformed index"):
        answer = c.get("/v1/log/entry/+0")
    assert answer.purpose == Purpose(PROBE, "malformed index", "root")
    assert recorded[-1].purpose == answer.purpose
    assert current() is None  # the block ended, and took its purpose with it


def test_no_purpose_stated_is_recorded_as_none(client: tuple[TLogClient, list[Response]]) -> None:
    c, recorded = client
    c.get(ROOT)
    assert recorded[-1].purpose is None


def test_an_explicit_purpose_wins_over_the_context(
    client: tuple[TLogClient, list[Response]],
) -> None:
    c, _ = client
    with asking(PROBE, "outer"):
        answer = c.get(ROOT, purpose=Purpose(READ, "the root"))
    assert answer.purpose == Purpose(READ, "the root")


def test_the_purpose_travels_into_map_threads(client: tuple[TLogClient, list[Response]]) -> None:
    c, recorded = client
    paths = [f"/v1/log/entry/{i}" for i in range(8)]
    with checking("cache"), asking(CACHE, "round 1"):
        c.map(c.get, paths)
    assert len(recorded) == 8
    assert {r.purpose for r in recorded} == {Purpose(CACHE, "round 1", "cache")}
    # Threads of a later map without a purpose do not inherit an old one.
    c.map(c.get, paths)
    assert {r.purpose for r in recorded[8:]} == {None}


@pytest.mark.parametrize(
    "headers, coding, kind",
    [
        ({"If-None-Match": '"abc"'}, "identity", CONDITIONAL),
        ({"if-modified-since": "Mon, 01 Jan 2024 00:00:00 GMT"}, "identity", CONDITIONAL),
        ({"Range": "bytes=0-1"}, "identity", CONDITIONAL),
        ({"User-Agent": "curl/8.5.0"}, "identity", CLIENT_IDENTITY),
        ({"Accept": "text/html"}, "identity", CLIENT_IDENTITY),
        ({}, "gzip", ENCODING),
    ],
)
def test_the_form_of_a_request_decides_whatever_was_stated(
    client: tuple[TLogClient, list[Response]], headers: dict[str, str], coding: str, kind: str
) -> None:
    c, _ = client
    with checking("etag"), asking(READ, "stated as a read"):
        answer = c.get(ROOT, headers=headers, accept_encoding=coding)
    assert answer.purpose == Purpose(kind, "stated as a read", "etag")
    assert not answer.purpose.claim


@pytest.mark.parametrize(
    "profile, kind",
    [*((p, CLIENT_IDENTITY) for p in CLIENT_PROFILES), (TLOGCHECK_GZIP, ENCODING)],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_a_read_as_another_client_is_never_a_claim(
    client: tuple[TLogClient, list[Response]], profile: ClientProfile, kind: str
) -> None:
    # Whatever is in force: as curl, Go, a browser it is their identity; tlogcheck's own
    # asking for gzip is a coding. Neither is the log's word as tlogcheck asked it.
    c, recorded = client
    with checking("parity"), asking(READ, "stated as a read"):
        answer = c.get(ROOT, as_client=profile)
    assert answer.purpose == Purpose(kind, "stated as a read", "parity")
    assert recorded[-1].purpose == answer.purpose and not answer.purpose.claim


def test_only_reads_are_claims_and_kinds_are_checked() -> None:
    assert {k for k in KINDS if Purpose(k).claim} == {READ, CACHE}
    with pytest.raises(ValueError, match="not one of"):
        Purpose("whatever")
    assert Purpose.from_json(None) is None
    assert Purpose.from_json(Purpose(PROBE, "x", "root").to_json()) == Purpose(PROBE, "x", "root")
    with pytest.raises(ValueError):
        Purpose.from_json({"kind": "lie"})
