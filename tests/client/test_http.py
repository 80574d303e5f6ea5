"""tlogcheck.client against a real loopback server: views, bounds, retries, cache status."""

from __future__ import annotations

import email.utils
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from tests.spec_server import SpecServer, make_entries
from tlogcheck.client import USER_AGENT, Response, TLogClient
from tlogcheck.client.profiles import CLIENT_PROFILES, TLOGCHECK_GZIP, ClientProfile
from tlogcheck.errors import ConfigError, FormatError, TargetStalled, TargetUnreachable
from tlogcheck.merkle import leaf_hash, verify_consistency, verify_inclusion
from tlogcheck.refstack.server import free_port

ROOT = "/v1/log/root"
# One socket read of httpcore: the most a body may overshoot the cap by.
READ_SIZE = 64 * 1024


@pytest.fixture
def server() -> Iterator[SpecServer]:
    with SpecServer(make_entries(64)) as s:
        yield s


@pytest.fixture
def other() -> Iterator[SpecServer]:
    """A second server: an origin of its own, another host to redirect to."""
    with SpecServer(make_entries(64), release="v1.1.0") as s:
        yield s


class Sleeps(list[float]):
    """Records the client's retry waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(url: str, **kwargs: Any) -> TLogClient:
    kwargs.setdefault("timeout", 5.0)
    return TLogClient(url, **kwargs)


# -- views -------------------------------------------------------------------------------


def test_edge_and_origin_views_on_one_url(server: SpecServer) -> None:
    with make_client(server.url) as client:
        edge = client.get(ROOT)
        origin = client.get(ROOT, view="origin")
        assert not client.has_separate_origin and client.origin_url == client.edge_url
    assert (edge.status, edge.view, origin.view) == (200, "edge", "origin")
    assert edge.body == origin.body
    sent_edge, sent_origin = server.seen
    assert "x-bypass" not in sent_edge.headers
    assert sent_origin.headers["x-bypass"] == "1"
    for sent in server.seen:
        assert sent.headers["accept-encoding"] == "identity"
        assert sent.headers["user-agent"] == USER_AGENT


def test_origin_url_is_used_when_given(server: SpecServer, other: SpecServer) -> None:
    with make_client(server.url, origin_url=other.url + "/") as client:
        assert client.has_separate_origin and client.origin_url == other.url
        edge = client.get(ROOT)
        origin = client.get(ROOT, view="origin")
    assert (edge.release, origin.release) == ("v1.0.0", "v1.1.0")
    assert origin.url == other.url + ROOT
    assert server.paths() == [ROOT] and other.paths() == [ROOT]
    assert "x-bypass" not in other.seen[0].headers


def test_base_url_path_prefix_is_kept(server: SpecServer) -> None:
    with make_client(server.url + "/tlog") as client:
        response = client.get(ROOT)
    assert response.status == 404
    assert server.paths() == ["/tlog" + ROOT]


def test_accept_encoding_stays_identity_and_caller_headers_go_through(
    server: SpecServer,
) -> None:
    with make_client(server.url) as client:
        first = client.get(ROOT)
        again = client.get(
            ROOT, headers={"If-None-Match": first.etag or "", "accept-encoding": "gzip"}
        )
    assert again.status == 304 and again.body == b""
    assert server.seen[1].headers["accept-encoding"] == "identity"
    assert server.seen[1].headers["if-none-match"] == first.etag


@pytest.mark.parametrize("profile", [*CLIENT_PROFILES, TLOGCHECK_GZIP], ids=lambda p: p.name)
def test_as_a_client_its_whole_request_and_nothing_of_ours(
    server: SpecServer, profile: ClientProfile
) -> None:
    with make_client(server.url, headers=[("X-Access-Token", "s3cret")]) as client:
        response = client.get(ROOT, as_client=profile, headers={"If-None-Match": '"x"'})
    assert response.status == 200
    seen = server.seen[0].headers
    sent = {k.lower(): v for k, v in profile.headers}
    # Exactly the client's headers, the caller's and the deployment's, and Host.
    assert set(seen) == {*sent, "host", "if-none-match", "x-access-token"}
    assert {k: seen[k] for k in sent} == sent
    # curl sends no Accept-Encoding at all; none of them sends tlogcheck's identity.
    assert ("accept-encoding" in seen) is (profile.name != "curl")
    assert seen.get("accept-encoding") != "identity"


def test_a_browser_is_served_br_and_it_is_decoded(server: SpecServer) -> None:
    brotli = pytest.importorskip("brotli")
    with make_client(server.url) as client:
        plain = client.get(ROOT)
        server.knobs.bodies = {ROOT: brotli.compress(plain.body)}
        server.knobs.headers = {"Content-Encoding": "br"}
        browser = next(p for p in CLIENT_PROFILES if p.name == "browser")
        coded = client.get(ROOT, as_client=browser)
        assert coded.body == plain.body
        # br that was not asked for is refused, not guessed at.
        with pytest.raises(FormatError, match="Content-Encoding 'br'"):
            client.get(ROOT)


def test_a_br_bomb_is_capped(server: SpecServer) -> None:
    brotli = pytest.importorskip("brotli")
    server.knobs.bodies = {ROOT: brotli.compress(b"\0" * 16 * 2**20)}
    server.knobs.headers = {"Content-Encoding": "br"}
    browser = next(p for p in CLIENT_PROFILES if p.name == "browser")
    with make_client(server.url, max_body=2**20) as client:
        with pytest.raises(FormatError, match="over the 1 MiB cap"):
            client.get(ROOT, as_client=browser)


def test_keep_alive_reuses_one_connection(server: SpecServer) -> None:
    with make_client(server.url) as client:
        for i in range(5):
            assert client.entry(i).status == 200
    assert server.connections == 1


# -- the deadline ------------------------------------------------------------------------


def test_trickling_body_stalls_at_the_deadline(server: SpecServer) -> None:
    server.knobs.trickle = 0.2  # the ~150-byte root would take ~30 s
    with make_client(server.url, timeout=5.0, deadline=1.0) as client:
        with pytest.raises(TargetStalled, match=r"body did not complete within the 1s") as info:
            client.get(ROOT)
    # Cut off mid-body: a few bytes of the ~150 arrived, not the whole trickle.
    assert "bytes read" in str(info.value)
    assert info.value.started  # a response began: slow, not down
    assert not isinstance(info.value, (FormatError, TargetUnreachable))
    assert len(server.seen) == 1  # a target answering too slowly is not retried


def test_silent_server_stalls_at_the_deadline(server: SpecServer) -> None:
    server.knobs.delay = 60.0
    with make_client(server.url, timeout=5.0, deadline=1.0) as client:
        # One attempt, not three 5-s read timeouts: the deadline ended it.
        with pytest.raises(TargetStalled, match="connected and asked, no response") as info:
            client.get(ROOT)
    assert "after 1 attempt" in str(info.value)
    assert not info.value.started


def test_read_timeout_before_the_deadline_is_retried(server: SpecServer, sleeps: Sleeps) -> None:
    server.knobs.delay = 60.0
    with make_client(server.url, timeout=0.3, deadline=30.0, sleep=sleeps) as client:
        with pytest.raises(TargetStalled, match=r"after 3 attempt\(s\).*ReadTimeout"):
            client.get(ROOT)
    assert len(server.seen) == 3
    assert sleeps == [0.2, 0.4]


# -- the size cap ------------------------------------------------------------------------


def test_declared_length_over_the_cap_is_refused_unread(server: SpecServer) -> None:
    server.knobs.huge = "length"
    with make_client(server.url, max_body=2**20) as client:
        with pytest.raises(FormatError, match=r"over the 1 MiB cap \(Content-Length 1073741824\)"):
            client.get(ROOT)


def test_endless_body_stops_at_the_cap_in_bounded_memory(server: SpecServer) -> None:
    server.knobs.huge = "endless"
    cap = 256 * 1024
    with make_client(server.url, max_body=cap) as client:
        tracemalloc.start()
        try:
            with pytest.raises(FormatError, match="over the 0.25 MiB cap") as info:
                client.get(ROOT)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    read = int(str(info.value).split("(")[1].split()[0])
    assert cap < read <= cap + READ_SIZE
    # The body buffer, one read and the final copy; not the endless stream.
    assert peak < 4 * (cap + READ_SIZE) + 2**20


def test_gzip_served_anyway_is_decoded(server: SpecServer) -> None:
    with make_client(server.url) as client:
        plain = client.get(ROOT)
        server.knobs.gzip = True
        coded = client.get(ROOT)
    assert coded.headers["content-encoding"] == "gzip"
    assert coded.body == plain.body


def test_gzip_bomb_is_capped_in_bounded_memory(server: SpecServer) -> None:
    server.knobs.gzip = True
    server.knobs.bomb = 16 * 2**20  # ~16 KB on the wire
    cap = 2**20
    with make_client(server.url, max_body=cap) as client:
        tracemalloc.start()
        try:
            with pytest.raises(FormatError, match="over the 1 MiB cap"):
                client.get(ROOT)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # The server's own 1 MiB zero block is traced too.
    assert peak < 6 * cap


def test_content_coding_not_asked_for_is_refused(server: SpecServer) -> None:
    server.knobs.headers = {"Content-Encoding": "br"}
    with make_client(server.url) as client:
        with pytest.raises(FormatError, match="Content-Encoding 'br'.*identity"):
            client.get(ROOT)


# -- retries -----------------------------------------------------------------------------


def test_503_with_retry_after_then_ok(server: SpecServer, sleeps: Sleeps) -> None:
    server.knobs.failures = [(503, {"Retry-After": "1"})]
    with make_client(server.url, sleep=sleeps) as client:
        response = client.get(ROOT)
    assert (response.status, response.attempts) == (200, 2)
    assert sleeps == [1.0]
    assert server.paths() == [ROOT, ROOT]


def test_retry_after_is_capped_and_takes_an_http_date(server: SpecServer, sleeps: Sleeps) -> None:
    soon = email.utils.formatdate(time.time() + 3, usegmt=True)
    server.knobs.failures = [(503, {"Retry-After": "3600"}), (502, {"Retry-After": soon})]
    with make_client(server.url, sleep=sleeps) as client:
        response = client.get(ROOT)
    assert (response.status, response.attempts) == (200, 3)
    assert sleeps[0] == 5.0
    assert 0.0 < sleeps[1] <= 5.0


def test_gateway_errors_after_the_retries_are_returned(server: SpecServer, sleeps: Sleeps) -> None:
    server.knobs.failures = [(503, {}), (504, {}), (502, {}), (503, {})]
    with make_client(server.url, sleep=sleeps) as client:
        response = client.get(ROOT)
    assert (response.status, response.attempts) == (502, 3)
    assert sleeps == [0.2, 0.4]  # the default backoff
    assert "after 3 attempts" in response.describe()


def test_retry_wait_past_the_deadline_is_not_started(server: SpecServer, sleeps: Sleeps) -> None:
    server.knobs.failures = [(503, {"Retry-After": "4"})]
    with make_client(server.url, deadline=2.0, sleep=sleeps) as client:
        response = client.get(ROOT)
    assert (response.status, response.attempts) == (503, 1)
    assert sleeps == []


def test_reset_connection_is_retried(server: SpecServer, sleeps: Sleeps) -> None:
    server.knobs.resets = 1
    with make_client(server.url, sleep=sleeps) as client:
        response = client.get(ROOT)
    assert (response.status, response.attempts) == (200, 2)
    assert sleeps == [0.2]


def test_reset_every_time_is_unreachable(server: SpecServer, sleeps: Sleeps) -> None:
    server.knobs.resets = 10
    with make_client(server.url, sleep=sleeps, retries=2) as client:
        with pytest.raises(TargetUnreachable, match=r"after 3 attempt\(s\)"):
            client.get(ROOT)
    assert len(server.seen) == 3


@pytest.mark.parametrize("status", [500, 404, 400, 429])
def test_other_errors_are_not_retried(server: SpecServer, sleeps: Sleeps, status: int) -> None:
    server.knobs.status = status
    with make_client(server.url, sleep=sleeps) as client:
        response = client.get(ROOT)
    assert (response.status, response.attempts) == (status, 1)
    assert len(server.seen) == 1 and sleeps == []


def test_refused_port_is_unreachable_not_failed(sleeps: Sleeps) -> None:
    # Nothing listens on the port now.
    with make_client(f"http://127.0.0.1:{free_port()}", sleep=sleeps) as client:
        with pytest.raises(TargetUnreachable, match=r"after 3 attempt\(s\).*ConnectError") as info:
            client.get("/healthz")
    assert not isinstance(info.value, FormatError)
    assert sleeps == [0.2, 0.4]


# -- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_redirect_to_another_host_or_port_is_not_followed(
    server: SpecServer, other: SpecServer, host: str
) -> None:
    elsewhere = f"http://{host}:{other.port}{ROOT}"
    server.knobs.redirects = {ROOT: elsewhere}
    with make_client(server.url) as client:
        response = client.get(ROOT)
    assert response.status == 302
    assert response.headers["location"] == elsewhere
    assert f"location: {elsewhere}" in response.describe()
    assert other.seen == []


def test_same_host_redirect_is_followed(server: SpecServer) -> None:
    server.knobs.redirects = {"/old/root": ROOT}
    with make_client(server.url) as client:
        response = client.get("/old/root")
    assert response.status == 200
    assert response.url == server.url + ROOT and response.path == "/old/root"
    assert server.paths() == ["/old/root", ROOT]
    # What finally answered is what rules by path kind judge.
    assert response.served_path == ROOT and response.redirected_to == ROOT
    assert f"(redirected to {ROOT})" in response.describe()
    with make_client(server.url) as client:
        direct = client.get(ROOT)
    assert direct.redirected_to is None and direct.served_path == ROOT


def test_cross_origin_redirect_reaches_nothing_and_carries_no_header(
    server: SpecServer, other: SpecServer
) -> None:
    """The headers a client was given (an access gateway's token) go to its origin only:
    a 3xx elsewhere is answered as it is, and the other server is never connected to."""
    server.knobs.redirects = {ROOT: f"http://localhost:{other.port}{ROOT}"}
    with make_client(server.url, headers=[("X-Access-Token", "tok-123")]) as client:
        response = client.get(ROOT)
    assert response.status == 302
    assert other.connections == 0 and other.seen == []
    assert server.seen[0].headers["x-access-token"] == "tok-123"


def test_redirect_allowed_narrows_same_origin_redirects(server: SpecServer) -> None:
    server.knobs.redirects = {"/pop/root": ROOT, "/pop/old": "/pop/root"}
    asked: list[str] = []

    def within_pop(url: str) -> bool:
        asked.append(url)
        return url.startswith(server.url + "/pop/")

    with make_client(server.url, redirect_allowed=within_pop) as client:
        response = client.get("/pop/old")
    assert response.status == 302 and response.headers["location"] == ROOT
    assert server.paths() == ["/pop/old", "/pop/root"]
    assert asked == [server.url + "/pop/root", server.url + ROOT]


def test_reset_counts_forgets_what_was_counted(server: SpecServer) -> None:
    with make_client(server.url) as client:
        client.get(ROOT)
        assert client.releases_seen() and client.responses_seen() and client.cache_seen()
        client.reset_counts()
        assert client.releases_seen() == client.responses_seen() == client.cache_seen() == {}


def test_redirect_loop_stops_after_three(server: SpecServer) -> None:
    server.knobs.redirects = {"/a": "/b", "/b": "/a"}
    with make_client(server.url) as client:
        response = client.get("/a")
    assert response.status == 302
    assert server.paths() == ["/a", "/b", "/a", "/b"]


# -- cache status (the words themselves: tests/client/test_cdn.py) ----------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("X-Cache", "RefreshHit from cloudfront", "REFRESHHIT"),
        ("x-cache", "MISS, HIT", "HIT"),
        ("CF-Cache-Status", "dynamic", "DYNAMIC"),
        ("X-Cache-Status", "EXPIRED", "EXPIRED"),
    ],
)
def test_cache_status_read_from_a_live_response(
    server: SpecServer, name: str, value: str, expected: str
) -> None:
    server.knobs.headers = {name: value}
    with make_client(server.url) as client:
        assert client.get(ROOT).cache_status == expected


# -- the spec's endpoints ----------------------------------------------------------------


def test_endpoints_parse_and_verify(server: SpecServer) -> None:
    with make_client(server.url) as client:
        health, _ = client.health()
        root, root_resp = client.root()
        entry = client.entry(17)
        proof, _ = client.inclusion_proof(17, root.tree_size)
        cons, _ = client.consistency_proof(40, root.tree_size)
        missing = client.entry(root.tree_size)
    assert (health.status, health.tree_size) == ("ok", 64)
    assert root.raw == root_resp.body and root.release == "v1.0.0"
    assert entry.body == server.entries[17]
    assert entry.cache_control == "public, max-age=31536000, immutable"
    assert entry.etag == f'"{entry.sha256}"'
    assert proof.leaf_hash == leaf_hash(entry.body)
    verify_inclusion(proof.leaf_hash, 17, root.tree_size, proof.audit_path, root.root_hash)
    verify_consistency(40, 64, cons.path, server.tree.root(40), root.root_hash)
    assert missing.status == 404


def test_endpoint_helpers_refuse_a_non_200(server: SpecServer, sleeps: Sleeps) -> None:
    with make_client(server.url, sleep=sleeps) as client:
        with pytest.raises(FormatError, match=r"/v1/log/proof/64\?tree_size=64: HTTP 404"):
            client.inclusion_proof(64, 64)
        server.knobs.status = 503
        with pytest.raises(FormatError, match="/v1/log/root: HTTP 503, expected 200"):
            client.root()


def test_describe_is_one_line_of_evidence(server: SpecServer) -> None:
    server.knobs.headers = {"X-Cache": "Hit from cloudfront", "Age": "12"}
    with make_client(server.url) as client:
        response = client.get(ROOT, view="origin")
    text = response.describe()
    assert "\n" not in text
    assert text.startswith("origin GET /v1/log/root -> HTTP 200")
    for part in (
        "etag: ",
        "cache-control: public, max-age=60",
        "x-tlog-release: v1.0.0",
        "x-cache: Hit from cloudfront",
        f"sha256 {response.sha256}",
    ):
        assert part in text
    assert response.age == 12


# -- concurrency and bookkeeping ---------------------------------------------------------


def test_map_bounds_concurrency_and_keeps_order(server: SpecServer) -> None:
    server.knobs.delay = 0.1
    with make_client(server.url, concurrency=3) as client:
        bodies = client.map(lambda i: client.entry(i).body, range(12))
    assert bodies == server.entries[:12]
    assert 1 <= server.max_in_flight <= 3
    assert server.connections <= 3


def test_map_raises_the_first_error(server: SpecServer) -> None:
    def fetch(i: int) -> Response:
        if i == 2:
            raise FormatError("item 2")
        return client.entry(i)

    with make_client(server.url, concurrency=2) as client:
        with pytest.raises(FormatError, match="item 2"):
            client.map(fetch, range(5))
        assert client.map(fetch, []) == []


def test_release_mix_and_views_are_counted(server: SpecServer, other: SpecServer) -> None:
    with make_client(server.url, origin_url=other.url, concurrency=4) as client:
        views = ["edge", "origin"] * 10
        client.map(lambda view: client.get(ROOT, view=view), views)
        assert client.releases_seen() == {"v1.0.0": 10, "v1.1.0": 10}
        assert client.responses_seen() == {"edge": 10, "origin": 10}


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "ftp://tlog.example.com"},
        {"url": "tlog.example.com"},
        {"url": "http://"},
        {"url": "https://tlog.example.com/?x=1"},
        {"url": "https://tlog.example.com", "origin_url": "origin"},
        {"url": "https://tlog.example.com", "timeout": 0},
        {"url": "https://tlog.example.com", "deadline": -1},
        {"url": "https://tlog.example.com", "max_body": 0},
        {"url": "https://tlog.example.com", "retries": -1},
        {"url": "https://tlog.example.com", "concurrency": 0},
    ],
)
def test_bad_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        TLogClient(**kwargs)


def test_bad_requests_are_usage_errors(server: SpecServer) -> None:
    with make_client(server.url) as client:
        with pytest.raises(ConfigError, match="view"):
            client.get(ROOT, view="cdn")
        with pytest.raises(ConfigError, match="path"):
            client.get("v1/log/root")
        with pytest.raises(ConfigError, match="index"):
            client.entry(-1)
        with pytest.raises(ConfigError, match="index"):
            client.entry(True)
    assert server.seen == []
