"""The builtin edge over real HTTP: caching, bypass, stale, coding, canary weights, faults.

A scripted origin (answers chosen by path prefix, every request counted) stands behind
the edge for the caching rules; the reference Log and Origin stand behind it for the
edge-side faults. The edge's clock is injected, so expiry and Age are exact without
sleeping.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from tlogcheck import merkle, note, spec
from tlogcheck.client.cdn import cache_signs, cache_status_of, cache_verdict, is_hit
from tlogcheck.errors import ConfigError, ProofError
from tlogcheck.refstack.data import demo_entries, demo_signer
from tlogcheck.refstack.edge import Edge
from tlogcheck.refstack.edge_faults import DIALECTS, STALE_BY
from tlogcheck.refstack.faults import FaultSet
from tlogcheck.refstack.log import WITNESS_NAME, Log
from tlogcheck.refstack.origin import Origin
from tlogcheck.refstack.server import (
    BackgroundServers,
    Receive,
    Scope,
    Send,
    handle_lifespan,
    run_in_thread,
)
from tlogcheck.refstack.stack import RunningStack, start_stack
from tlogcheck.refstack.store import freshness
from tlogcheck.refstack.upstream import Upstream

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=60"
IDENTITY = {"accept-encoding": "identity"}


class Clock:
    """The edge's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedOrigin:
    """Answers by path prefix: /imm immutable, /short max-age=60, /nostore, /private,
    /nocache, /slow (0.3 s, immutable), /big (4 KiB text), /healthz (no-store).

    Each body names the path and a running count, so a refetch is visible."""

    def __init__(self, release: str = "v1.0.0") -> None:
        self.release = release
        self.seen: Counter[str] = Counter()
        self.fail_with: int | None = None
        self.lock = threading.Lock()
        self.sent: dict[str, tuple[dict[str, str], bytes]] = {}  # last answer per path
        self.slow_seconds = 0.3

    def count(self, path: str) -> int:
        with self.lock:
            return self.seen[path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await handle_lifespan(receive, send)
            return
        path: str = scope["path"]
        with self.lock:
            self.seen[path] += 1
            n = self.seen[path]
        if self.fail_with is not None:
            await self._answer(send, self.fail_with, "no-store", b'{"error":"down"}')
            return
        cache = {
            "/imm": IMMUTABLE,
            "/short": SHORT,
            "/nostore": "no-store",
            "/private": "private, max-age=60",
            "/nocache": "no-cache, max-age=60",
            "/slow": IMMUTABLE,
            "/big": IMMUTABLE,
            "/chunked": IMMUTABLE,
            "/healthz": "no-store",
        }.get("/" + path.split("/")[1], "no-store")
        if path.startswith("/slow"):
            await asyncio.sleep(self.slow_seconds)
        if path.startswith("/big"):
            await self._answer(send, 200, cache, b"x" * 4096, ctype=b"text/plain", path=path)
            return
        if path.startswith("/chunked"):  # no content-length: the size shows as it comes
            start = [(b"content-type", b"text/plain"), (b"cache-control", IMMUTABLE.encode())]
            await send({"type": "http.response.start", "status": 200, "headers": start})
            for i in range(5):
                chunk = bytes([ord("a") + i]) * 1000
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        body = json.dumps({"path": path, "n": n, "release": self.release, "pad": "p" * 40})
        await self._answer(send, 200, cache, body.encode(), path=path)

    async def _answer(
        self,
        send: Send,
        status: int,
        cache: str,
        body: bytes,
        ctype: bytes = b"application/json",
        path: str = "",
    ) -> None:
        headers = [
            (b"content-type", ctype),
            (b"content-length", str(len(body)).encode()),
            (b"etag", b'"' + hashlib.sha256(body).hexdigest().encode() + b'"'),
            (b"cache-control", cache.encode()),
            (b"x-tlog-release", self.release.encode()),
            (b"connection", b"keep-alive"),
        ]
        with self.lock:
            self.sent[path] = ({n.decode(): v.decode() for n, v in headers}, body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass
class Pair:
    origin: ScriptedOrigin
    edge: Edge
    clock: Clock
    edge_url: str
    http: httpx.Client
    origin_servers: BackgroundServers

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.http.get(self.edge_url + path, headers={**IDENTITY, **headers})


@pytest.fixture
def pair() -> Iterator[Pair]:
    origin = ScriptedOrigin()
    origin_servers = run_in_thread({"origin": origin})
    clock = Clock()
    edge = Edge([Upstream(origin_servers.urls["origin"], 100)], clock=clock)
    edge_servers = run_in_thread({"edge": edge}, lifespan=("edge",))
    try:
        with httpx.Client(timeout=10, trust_env=False) as http:
            yield Pair(
                origin,
                edge,
                clock,
                edge_servers.urls["edge"],
                http,
                origin_servers,
            )
    finally:
        edge_servers.stop()
        origin_servers.stop()


# -- caching by Cache-Control --------------------------------------------------------


def test_immutable_is_a_hit_on_the_second_read(pair: Pair) -> None:
    first = pair.get("/imm/1")
    second = pair.get("/imm/1")
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.content == first.content
    assert pair.origin.count("/imm/1") == 1


def test_short_max_age_expires(pair: Pair) -> None:
    first = pair.get("/short/root")
    pair.clock.now += 59.5
    fresh = pair.get("/short/root")
    pair.clock.now += 1
    refetched = pair.get("/short/root")
    assert [r.headers["x-cache"] for r in (first, fresh, refetched)] == ["MISS", "HIT", "MISS"]
    assert fresh.content == first.content
    assert json.loads(refetched.content)["n"] == 2
    assert pair.origin.count("/short/root") == 2
    pair.clock.now += 1
    assert pair.get("/short/root").headers["x-cache"] == "HIT"


@pytest.mark.parametrize("path", ["/nostore/x", "/private/x", "/nocache/x"])
def test_answers_a_shared_cache_must_not_keep_are_never_cached(pair: Pair, path: str) -> None:
    statuses = [pair.get(path).headers["x-cache"] for _ in range(3)]
    assert statuses == ["MISS", "MISS", "MISS"]
    assert pair.origin.count(path) == 3


def test_age_grows_with_the_entry(pair: Pair) -> None:
    pair.get("/imm/age")
    ages = []
    for step in (0, 5, 100):
        pair.clock.now += step
        response = pair.get("/imm/age")
        assert response.headers["x-cache"] == "HIT"
        ages.append(int(response.headers["age"]))
    assert ages == [0, 5, 105]
    assert "age" not in pair.get("/nostore/age").headers


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [
        (IMMUTABLE, 31536000),
        ("public, max-age=60", 60),
        ("max-age=60, s-maxage=5", 5),
        ("no-store", None),
        ("public, max-age=60, private", None),
        ("no-cache", None),
        ("max-age=0", None),
        ("max-age=soon", None),
        ("public", None),
        (None, None),
    ],
)
def test_freshness_reads_cache_control_as_a_shared_cache(
    cache_control: str | None, seconds: int | None
) -> None:
    assert freshness(cache_control) == seconds


# -- X-Bypass ------------------------------------------------------------------------


def test_bypass_reaches_the_origin_and_leaves_the_cache_alone(pair: Pair) -> None:
    cached = pair.get("/imm/b")
    bypassed = pair.get("/imm/b", **{"x-bypass": "1"})
    assert bypassed.headers["x-cache"] == "BYPASS"
    assert json.loads(bypassed.content)["n"] == 2
    assert pair.origin.count("/imm/b") == 2
    again = pair.get("/imm/b")
    assert again.headers["x-cache"] == "HIT"
    assert again.content == cached.content
    # As nginx reads $http_x_bypass: "0" is no bypass.
    assert pair.get("/imm/b", **{"x-bypass": "0"}).headers["x-cache"] == "HIT"


def test_bypass_of_an_uncached_path_does_not_fill_the_cache(pair: Pair) -> None:
    assert pair.get("/imm/fresh", **{"x-bypass": "1"}).headers["x-cache"] == "BYPASS"
    assert pair.get("/imm/fresh").headers["x-cache"] == "MISS"


# -- stale ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_stale_when_the_origin_answers_5xx(pair: Pair, status: int) -> None:
    first = pair.get("/short/s")
    pair.clock.now += 120
    pair.origin.fail_with = status
    stale = pair.get("/short/s")
    assert stale.status_code == 200
    assert stale.headers["x-cache"] == "STALE"
    assert stale.content == first.content
    assert int(stale.headers["age"]) == 120
    # Nothing cached to fall back on: the origin's error goes through.
    assert pair.get("/short/never").status_code == status


def test_a_404_is_not_served_stale(pair: Pair) -> None:
    pair.get("/short/s")
    pair.clock.now += 120
    pair.origin.fail_with = 404
    assert pair.get("/short/s").status_code == 404


def test_stale_when_the_origin_dies(pair: Pair) -> None:
    first = pair.get("/short/d")
    pair.get("/imm/d")
    pair.origin_servers.stop()
    pair.clock.now += 61
    stale = pair.get("/short/d")
    assert stale.status_code == 200
    assert stale.headers["x-cache"] == "STALE"
    assert stale.content == first.content
    assert pair.get("/imm/d").headers["x-cache"] == "HIT"
    missing = pair.get("/imm/never")
    assert missing.status_code == 502
    assert missing.headers["x-cache"] == "ERROR"
    assert missing.headers["cache-control"] == "no-store"
    assert "error" in missing.json()
    assert pair.get("/imm/d", **{"x-bypass": "1"}).status_code == 502


# -- headers, coding, conditional requests ------------------------------------------------


def test_origin_headers_pass_through_unchanged(pair: Pair) -> None:
    for response in (pair.get("/imm/h"), pair.get("/imm/h")):
        sent, body = pair.origin.sent["/imm/h"]
        for name in ("etag", "cache-control", "x-tlog-release", "content-type"):
            assert response.headers[name] == sent[name]
        assert response.content == body
        assert response.headers["content-length"] == str(len(body))
    assert [r.headers["x-cache"] for r in (pair.get("/imm/h"),)] == ["HIT"]


def _raw(pair: Pair, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    with pair.http.stream("GET", pair.edge_url + path, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_gzip_only_when_the_client_asks(pair: Pair) -> None:
    _, identity = _raw(pair, "/imm/g", **{"accept-encoding": "identity"})
    plain, plain_body = _raw(pair, "/imm/g", **{"accept-encoding": "identity"})
    coded, coded_body = _raw(pair, "/imm/g", **{"accept-encoding": "br, gzip;q=0.8"})
    refused, refused_body = _raw(pair, "/imm/g", **{"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in plain.headers and plain_body == identity
    assert "content-encoding" not in refused.headers and refused_body == identity
    assert coded.headers["content-encoding"] == "gzip"
    assert coded_body != identity
    assert gzip.decompress(coded_body) == identity
    assert coded.headers["content-length"] == str(len(coded_body))
    # The ETag names the identity body, whatever the coding on the wire.
    assert coded.headers["etag"] == plain.headers["etag"]
    assert coded.headers["etag"] == '"' + hashlib.sha256(identity).hexdigest() + '"'
    for response in (plain, coded):
        assert response.headers["vary"].lower() == "accept-encoding"
    assert coded.headers["x-cache"] == "HIT"


def test_gzip_of_a_bypass(pair: Pair) -> None:
    coded, body = _raw(pair, "/imm/gb", **{"accept-encoding": "gzip", "x-bypass": "1"})
    assert coded.headers["x-cache"] == "BYPASS"
    assert coded.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["path"] == "/imm/gb"


def test_if_none_match_gets_304(pair: Pair) -> None:
    etag = pair.get("/imm/c").headers["etag"]
    for tag in (etag, f'"nope", {etag}', "W/" + etag, "*"):
        response = pair.get("/imm/c", **{"if-none-match": tag})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["x-cache"] == "HIT"
    assert pair.get("/imm/c", **{"if-none-match": '"other"'}).status_code == 200
    # A miss fetches the whole body, then answers the condition itself.
    tag = pair.get("/big/c2", **{"x-bypass": "1"}).headers["etag"]
    assert pair.get("/big/c2", **{"if-none-match": tag}).status_code == 304
    assert pair.get("/big/c2").status_code == 200


def test_head_has_the_get_headers_and_no_body(pair: Pair) -> None:
    got = pair.get("/imm/head")
    head = pair.http.head(pair.edge_url + "/imm/head", headers=IDENTITY)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["x-cache"] == "HIT"
    for name in ("etag", "cache-control", "x-tlog-release", "content-length"):
        assert head.headers[name] == got.headers[name]
    # HEAD of an uncached path is a miss that fills the cache for GET.
    assert pair.http.head(pair.edge_url + "/imm/h2").headers["x-cache"] == "MISS"
    assert pair.get("/imm/h2").headers["x-cache"] == "HIT"


# -- bounds ----------------------------------------------------------------------------


def test_least_recently_used_entries_go_past_max_bytes() -> None:
    origin = ScriptedOrigin()
    with run_in_thread({"origin": origin}) as origin_servers:
        edge = Edge([Upstream(origin_servers.urls["origin"], 100)], max_bytes=5_000)
        with (
            run_in_thread({"edge": edge}, lifespan=("edge",)) as edge_servers,
            httpx.Client(trust_env=False) as http,
        ):
            url = edge_servers.urls["edge"]
            for i in range(30):
                http.get(f"{url}/imm/{i}")
                http.get(f"{url}/imm/0")  # kept warm: most recently used
            assert 0 < edge.cached_bytes <= 5_000
            assert http.get(f"{url}/imm/0").headers["x-cache"] == "HIT"
            assert http.get(f"{url}/imm/1").headers["x-cache"] == "MISS"
            assert len(edge) < 30


def test_oversized_bodies_pass_through_uncached_and_slow_ones_time_out() -> None:
    origin = ScriptedOrigin()
    origin.slow_seconds = 3.0
    with run_in_thread({"origin": origin}) as origin_servers:
        upstream = Upstream(origin_servers.urls["origin"], 100)
        edge = Edge([upstream], max_body=1_000, deadline=1.0)
        with (
            run_in_thread({"edge": edge}, lifespan=("edge",)) as edge_servers,
            httpx.Client(trust_env=False, headers=IDENTITY) as http,
        ):
            url = edge_servers.urls["edge"]
            for path in ("/big/1", "/chunked/1"):
                for headers in ({}, {}, {"x-bypass": "1"}):
                    big = http.get(url + path, headers=headers)
                    assert big.status_code == 200
                    assert big.headers["x-cache"] == ("BYPASS" if headers else "MISS")
                    assert big.content == _big_body(origin, path)
            assert len(edge) == 0
            # Each miss: the cache fill finds it too big, then one streamed fetch; a bypass
            # streams at once.
            assert origin.count("/big/1") == 2 * 2 + 1
            head = http.head(url + "/big/1")
            assert head.headers["content-length"] == "4096" and head.content == b""
            slow = http.get(f"{url}/slow/1")
            assert slow.status_code == 504 and slow.headers["x-cache"] == "ERROR"
            assert "within" in slow.json()["error"]


def _big_body(origin: ScriptedOrigin, path: str) -> bytes:
    """The body the scripted origin sends for a /big or /chunked path."""
    if path.startswith("/big"):
        return origin.sent[path][1]
    return b"".join(bytes([ord("a") + i]) * 1000 for i in range(5))


def test_concurrent_misses_share_one_upstream_fetch(pair: Pair) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(trust_env=False) as client:
            return await asyncio.gather(
                *(client.get(pair.edge_url + "/slow/1", headers=IDENTITY) for _ in range(8))
            )

    responses = asyncio.run(burst())
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert pair.origin.count("/slow/1") == 1


def test_purge_drops_entries_by_prefix(pair: Pair) -> None:
    for path in ("/imm/p1", "/imm/p2", "/short/p"):
        pair.get(path)
    assert pair.edge.purge("/imm/") == 2
    assert pair.get("/imm/p1").headers["x-cache"] == "MISS"
    assert pair.get("/short/p").headers["x-cache"] == "HIT"


# -- canary weights ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def canary_stack() -> Iterator[RunningStack]:
    # In its own process: a thousand requests do not share this one's GIL.
    with start_stack(entries=64, canary_entries=80, canary_weight=0, subprocess=True) as stack:
        yield stack


@pytest.fixture
def canary(canary_stack: RunningStack) -> Iterator[tuple[RunningStack, httpx.Client]]:
    canary_stack.set_canary_weight(0)
    canary_stack.purge()
    with httpx.Client(trust_env=False, headers=IDENTITY) as http:
        yield canary_stack, http


def _releases(stack: RunningStack, http: httpx.Client, n: int) -> Counter[str]:
    def release(i: int) -> str:
        # Bypasses are weighted too: the origin Service behind the edge is the mix.
        headers = {"x-bypass": "1"} if i % 2 else {}
        return http.get(stack.info.edge_url + "/healthz", headers=headers).headers["x-tlog-release"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return Counter(pool.map(release, range(n)))


def test_canary_share_follows_the_weight(canary: tuple[RunningStack, httpx.Client]) -> None:
    stack, http = canary
    stable, canary_release = stack.info.release, stack.info.canary_release
    assert _releases(stack, http, 100) == Counter({stable: 100})
    stack.set_canary_weight(10)
    share = _releases(stack, http, 1000)[canary_release or ""]
    # Binomial(1000, 0.1): mean 100, sd 9.5; five sd either side.
    assert 100 - 48 <= share <= 100 + 48, share
    stack.set_canary_weight(100)
    assert _releases(stack, http, 100) == Counter({canary_release: 100})


def test_canary_weight_is_checked() -> None:
    two = Edge([Upstream("http://127.0.0.1:1", 100), Upstream("http://127.0.0.1:2", 0)])
    two.set_canary_weight(30)
    assert two.canary_weight == 30
    with pytest.raises(ConfigError):
        two.set_canary_weight(101)
    single = Edge([Upstream("http://127.0.0.1:1", 100)])
    with pytest.raises(ConfigError):
        single.set_canary_weight(10)
    with pytest.raises(ConfigError):
        Edge([Upstream("http://127.0.0.1:1", 0)])


def test_cached_answers_are_kept_whichever_release_made_them(
    canary: tuple[RunningStack, httpx.Client],
) -> None:
    stack, http = canary
    url = stack.info.edge_url
    stack.set_canary_weight(100)
    shared = http.get(url + "/v1/log/entry/7")
    canary_only = http.get(url + "/v1/log/entry/70")  # stable has 64 entries
    assert shared.headers["x-tlog-release"] == stack.info.canary_release
    assert canary_only.status_code == 200
    # The canary is aborted: the CDN keeps what it has, as a real one does.
    stack.set_canary_weight(0)
    again = http.get(url + "/v1/log/entry/7")
    assert again.headers["x-cache"] == "HIT"
    assert again.content == shared.content
    assert again.headers["x-tlog-release"] == stack.info.canary_release
    assert http.get(url + "/v1/log/entry/70").headers["x-cache"] == "HIT"
    # ...until it is invalidated (playbook §3.2 step 3).
    assert stack.purge("/v1/log/entry/") == 2
    assert http.get(url + "/v1/log/entry/7").headers["x-tlog-release"] == stack.info.release
    assert http.get(url + "/v1/log/entry/70").status_code == 404


# -- edge-side faults, with the reference log ------------------------------------------


@dataclass
class FaultStack:
    faults: FaultSet
    log: Log
    lagging: Log
    url: str
    http: httpx.Client

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.http.get(self.url + path, headers={**IDENTITY, **headers})

    def root(self, **headers: str) -> tuple[spec.Root, httpx.Response]:
        response = self.get("/v1/log/root", **headers)
        assert response.status_code == 200
        return spec.parse_root(response.content), response


@pytest.fixture(scope="module")
def fault_stack() -> Iterator[FaultStack]:
    signer, _ = demo_signer()
    log = Log(list(demo_entries(0, 64)), "v1.0.0", signer).warm()
    lagging, split = log.prefix(40), log.forked(5)
    faults = FaultSet()
    origin = Origin(log, faults)
    with run_in_thread({"origin": origin}) as origins:
        edge = Edge(
            [Upstream(origins.urls["origin"], 100)],
            faults=faults,
            lagging=lagging,
            split=split,
            current=log,
        )
        with (
            run_in_thread({"edge": edge}, lifespan=("edge",)) as servers,
            httpx.Client(trust_env=False) as http,
        ):
            yield FaultStack(faults, log, lagging, servers.urls["edge"], http)


@pytest.fixture
def stack(fault_stack: FaultStack) -> Iterator[FaultStack]:
    fault_stack.faults.clear()
    yield fault_stack
    fault_stack.faults.clear()


def _max_age(response: httpx.Response) -> int:
    seconds = freshness(response.headers["cache-control"])
    assert seconds is not None
    return seconds


def _consistent(old: spec.Root, new: spec.Root, stack: FaultStack) -> None:
    """Raises ProofError unless `old` is a prefix tree of `new` (proof from the origin)."""
    response = stack.get(
        f"/v1/log/consistency?first={old.tree_size}&second={new.tree_size}", **{"x-bypass": "1"}
    )
    proof = spec.parse_consistency(response.content)
    merkle.verify_consistency(
        old.tree_size, new.tree_size, list(proof.path), old.root_hash, new.root_hash
    )


@pytest.mark.parametrize("fault", ["stale-edge-root", "edge-lag"])
def test_lagging_edge_serves_an_older_consistent_tree(stack: FaultStack, fault: str) -> None:
    stack.faults.set([fault])
    edge_root, response = stack.root()
    origin_root, bypassed = stack.root(**{"x-bypass": "1"})
    assert bypassed.headers["x-cache"] == "BYPASS"
    assert origin_root.tree_size == stack.log.size == 64
    assert edge_root.tree_size == stack.lagging.size == 40
    assert edge_root.root_hash != origin_root.root_hash
    _consistent(edge_root, origin_root, stack)
    assert response.headers["x-cache"] == "HIT"
    age, max_age = int(response.headers["age"]), _max_age(response)
    if fault == "stale-edge-root":
        assert age == max_age + STALE_BY > max_age
    else:
        assert age < max_age
    checkpoint = stack.get("/v1/log/checkpoint")
    assert checkpoint.headers["x-cache"] == "HIT"
    assert checkpoint.content.split(b"\n")[1] == b"40"
    # Immutable answers are the same bytes in both trees: entries come as usual.
    entry = stack.get("/v1/log/entry/50")
    assert entry.status_code == 200
    assert entry.content == stack.get("/v1/log/entry/50", **{"x-bypass": "1"}).content


def test_split_view_serves_a_forked_tree(stack: FaultStack) -> None:
    stack.faults.set(["split-view"])
    edge_root, response = stack.root()
    origin_root, _ = stack.root(**{"x-bypass": "1"})
    assert response.headers["x-cache"] == "HIT"
    assert int(response.headers["age"]) < _max_age(response)
    assert edge_root.tree_size == origin_root.tree_size
    assert edge_root.root_hash != origin_root.root_hash
    with pytest.raises(ProofError):
        merkle.verify_consistency(
            edge_root.tree_size,
            origin_root.tree_size,
            [],
            edge_root.root_hash,
            origin_root.root_hash,
        )
    edge_entry = stack.get("/v1/log/entry/5")
    origin_entry = stack.get("/v1/log/entry/5", **{"x-bypass": "1"})
    assert edge_entry.content != origin_entry.content
    assert origin_entry.content == stack.log.entries[5]
    assert edge_entry.headers["etag"] == '"' + hashlib.sha256(edge_entry.content).hexdigest() + '"'


def test_cache_always_miss_never_hits(stack: FaultStack) -> None:
    stack.faults.set(["cache-always-miss"])
    responses = [stack.get("/v1/log/entry/3") for _ in range(4)]
    assert [r.headers["x-cache"] for r in responses] == ["MISS"] * 4
    # The origin's headers stay right: the edge is what misbehaves.
    assert responses[0].headers["cache-control"] == IMMUTABLE
    stack.faults.clear()
    assert stack.get("/v1/log/entry/3").headers["x-cache"] == "MISS"
    assert stack.get("/v1/log/entry/3").headers["x-cache"] == "HIT"


def test_edge_no_query_cache_never_caches_query_strings(stack: FaultStack) -> None:
    stack.faults.set(["edge-no-query-cache"])
    size = stack.root()[0].tree_size
    proof = f"/v1/log/proof/3?tree_size={size}"
    consistency = f"/v1/log/consistency?first=3&second={size}"
    for path in (proof, consistency):
        assert [stack.get(path).headers["x-cache"] for _ in range(3)] == ["MISS"] * 3, path
    stack.get("/v1/log/entry/4")
    assert stack.get("/v1/log/entry/4").headers["x-cache"] == "HIT"


def test_proof_faults_reach_the_edges_cache_hits(stack: FaultStack) -> None:
    size = stack.root()[0].tree_size
    proof = f"/v1/log/proof/2?tree_size={size}"
    stack.get(proof)
    assert stack.get(proof).headers["x-cache"] == "HIT"
    stack.faults.set(["proof-5xx"])
    assert stack.get(proof).status_code == 500
    assert stack.get("/v1/log/entry/2").status_code == 200
    stack.faults.set(["proof-slow:1"])
    hit = stack.get(proof)
    assert hit.status_code == 200 and hit.headers["x-cache"] == "HIT"


def test_faults_leave_bypass_truthful(stack: FaultStack) -> None:
    clean_root, _ = stack.root(**{"x-bypass": "1"})
    clean_entry = stack.get("/v1/log/entry/5", **{"x-bypass": "1"}).content
    for fault in ("stale-edge-root", "edge-lag", "split-view", "cache-always-miss"):
        stack.faults.set([fault])
        root, response = stack.root(**{"x-bypass": "1"})
        assert response.headers["x-cache"] == "BYPASS"
        assert root.root_hash == clean_root.root_hash
        assert stack.get("/v1/log/entry/5", **{"x-bypass": "1"}).content == clean_entry


def test_latency_and_error_rate_reach_cache_hits(stack: FaultStack) -> None:
    stack.get("/v1/log/entry/9")
    assert stack.get("/v1/log/entry/9").headers["x-cache"] == "HIT"
    stack.faults.set(["error-rate:100"])
    failed = stack.get("/v1/log/entry/9")
    assert failed.status_code == 500
    assert failed.headers["x-cache"] == "ERROR"
    stack.faults.set(["latency:1"])
    assert stack.get("/v1/log/entry/9").headers["x-cache"] == "HIT"


def test_a_fault_without_its_log_says_so() -> None:
    faults = FaultSet(["split-view"])
    edge = Edge([Upstream("http://127.0.0.1:1", 100)], faults=faults)
    with (
        run_in_thread({"edge": edge}, lifespan=("edge",)) as servers,
        httpx.Client(trust_env=False) as http,
    ):
        response = http.get(servers.urls["edge"] + "/v1/log/root")
    assert response.status_code == 500
    assert "split-view" in response.json()["error"]


def test_ua_split_view_forks_the_log_for_other_clients_only(stack: FaultStack) -> None:
    stack.faults.set(["ua-split-view"])
    ours, _ = stack.root(**{"user-agent": "tlogcheck/0.1.0"})
    theirs, _ = stack.root(**{"user-agent": "curl/8.5.0"})
    bypassed, _ = stack.root(**{"user-agent": "curl/8.5.0", "x-bypass": "1"})
    assert ours.root_hash == bypassed.root_hash == merkle.root_of(stack.log.entries)
    assert theirs.tree_size == ours.tree_size and theirs.root_hash != ours.root_hash
    assert stack.get("/v1/log/entry/5", **{"user-agent": "curl/8.5.0"}).content != (
        stack.log.entries[5]
    )


@pytest.mark.parametrize(
    "fault, forked, honest",
    [
        ("go-split-view", {"user-agent": "Go-http-client/1.1", "accept-encoding": "gzip"},
         {"user-agent": "curl/8.5.0"}),
        ("curl-split-view", {"user-agent": "tlogcheck/0.1.0", "accept-encoding": None},
         {"user-agent": "curl/8.5.0", "accept-encoding": "gzip"}),
    ],
)  # fmt: skip
def test_client_split_views_fork_the_log_for_one_kind_of_request(
    stack: FaultStack, fault: str, forked: dict[str, str | None], honest: dict[str, str]
) -> None:
    stack.faults.set([fault])
    honest_root = merkle.root_of(stack.log.entries)
    with httpx.Client(trust_env=False) as http:
        request = http.build_request("GET", stack.url + "/v1/log/root")
        for name, value in forked.items():
            if value is None:
                del request.headers[name]
            else:
                request.headers[name] = value
        theirs = spec.parse_root(http.send(request).content)
    ours, _ = stack.root(**honest)
    assert ours.root_hash == honest_root
    assert theirs.tree_size == ours.tree_size and theirs.root_hash != honest_root


def test_tiles_gzip_fork_serves_gzip_readers_a_signed_fork(stack: FaultStack) -> None:
    stack.faults.set(["tiles-gzip-fork"])
    plain = stack.get("/checkpoint")
    coded = stack.get("/checkpoint", **{"accept-encoding": "gzip"})
    mine, theirs = (note.parse_note(r.content) for r in (plain, coded))
    assert mine.text != theirs.text
    # Both signed by the log's key: only comparing the two reads tells them apart.
    assert mine.signatures[0].key == theirs.signatures[0].key
    tile = "/tile/0/000.p/64"  # the log has 64 entries; the fork altered entry 5
    assert stack.get(tile).status_code == 200
    assert stack.get(tile).content != stack.get(tile, **{"accept-encoding": "gzip"}).content
    # API v1 is untouched.
    assert stack.get("/v1/log/root").content == stack.get(
        "/v1/log/root", **{"accept-encoding": "gzip"}
    ).content


def test_edge_lag_swr_serves_past_max_age_within_the_origins_window(stack: FaultStack) -> None:
    stack.faults.set(["edge-lag-swr"])
    edge_root, response = stack.root()
    assert edge_root.tree_size == stack.lagging.size
    cache_control = response.headers["cache-control"]
    assert "stale-while-revalidate=600" in cache_control
    age, max_age = int(response.headers["age"]), _max_age(response)
    assert max_age < age <= max_age + 600
    # The origin says the same of its own root.
    _, bypassed = stack.root(**{"x-bypass": "1"})
    assert "stale-while-revalidate=600" in bypassed.headers["cache-control"]


@pytest.mark.parametrize(
    "fault, cache_control, age",
    [
        ("edge-lag-s-maxage", "public, max-age=60, s-maxage=240", 180),
        ("edge-cache-control-rewrite", "public, max-age=300", 200),
        ("long-stale-while-revalidate", "public, max-age=60, stale-while-revalidate=31536000",
         3 * 86400),
        ("long-s-maxage", "public, max-age=60, s-maxage=900", 600),
    ],
)  # fmt: skip
def test_lagging_faults_serve_an_older_tree_at_their_age(
    stack: FaultStack, fault: str, cache_control: str, age: int
) -> None:
    stack.faults.set([fault])
    edge_root, response = stack.root()
    assert edge_root.tree_size == stack.lagging.size
    assert response.headers["cache-control"] == cache_control
    assert int(response.headers["age"]) == age
    _consistent(edge_root, stack.root(**{"x-bypass": "1"})[0], stack)
    # What the origin sends: the rewriting edge's is its own.
    _, bypassed = stack.root(**{"x-bypass": "1"})
    origin_cc = "public, max-age=60" if fault == "edge-cache-control-rewrite" else cache_control
    assert bypassed.headers["cache-control"] == origin_cc
    # Immutable answers pass through untouched.
    entry = stack.get("/v1/log/entry/3")
    assert entry.headers["cache-control"] == IMMUTABLE


def test_cosignature_faults_keep_the_logs_signed_text(stack: FaultStack) -> None:
    stack.faults.set(["edge-fewer-cosignatures"])
    edge = stack.get("/v1/log/checkpoint")
    origin = stack.get("/v1/log/checkpoint", **{"x-bypass": "1"})
    mine, theirs = note.parse_note(edge.content), note.parse_note(origin.content)
    assert mine.text == theirs.text and mine.signatures[0] == theirs.signatures[0]
    assert len(mine.signatures) == 1 and len(theirs.signatures) == 2
    assert theirs.signatures[1].key_name == WITNESS_NAME
    assert 0 < int(edge.headers["age"]) <= _max_age(edge)
    stack.faults.set(["edge-forged-cosignature"])
    edge = stack.get("/v1/log/checkpoint")
    origin = stack.get("/v1/log/checkpoint", **{"x-bypass": "1"})
    mine, theirs = note.parse_note(edge.content), note.parse_note(origin.content)
    assert mine.text == theirs.text and len(mine.signatures) == 2 and len(theirs.signatures) == 1
    # Only the checkpoint.
    assert stack.get("/v1/log/root").headers["x-cache"] in ("HIT", "MISS")


@pytest.mark.parametrize("vendor", sorted(DIALECTS))
def test_cdn_dialect_says_hits_and_misses_in_the_vendors_words(
    stack: FaultStack, vendor: str
) -> None:
    stack.faults.set([f"cdn-dialect:{vendor}"])
    path = f"/v1/log/entry/{10 + sorted(DIALECTS).index(vendor)}"
    first, second = stack.get(path), stack.get(path)
    for answer, label in ((first, b"MISS"), (second, b"HIT")):
        said = DIALECTS[vendor][label]
        for name, value in said:
            assert answer.headers[name.decode()] == value.decode()
        if all(name != b"x-cache" for name, _ in said):
            assert "x-cache" not in answer.headers
    verdicts = (cache_verdict(cache_status_of(first.headers)), cache_status_of(second.headers))
    if vendor in ("unknown", "age-only"):
        assert verdicts[0] is None and cache_verdict(verdicts[1]) is None
    else:
        assert verdicts[0] == "miss" and is_hit(verdicts[1])
    # Whatever it says, a hit carries a sign of the cache.
    assert cache_signs(second.headers)


def test_multi_node_edge_misses_once_per_node_then_hits(stack: FaultStack) -> None:
    stack.faults.set(["multi-node-edge:3"])
    statuses = [stack.get("/v1/log/entry/33").headers["x-cache"] for _ in range(6)]
    assert statuses.count("MISS") == 3 and statuses[3:] == ["HIT"] * 3
