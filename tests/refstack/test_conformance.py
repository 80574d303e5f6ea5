"""Every rule of spec/tlog-ro-api-v1.md against the healthy reference stack, over HTTP.

Run once behind the builtin edge and once behind nginx (skipped, with the reason, where
nginx is not installed), so both edges are held to the one contract. The expected
values come from db.jsonl itself, not from the server: entries are its lines, roots
are recomputed from it, and proofs must verify against those roots.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.refstack.edges import EDGES
from tlogcheck import merkle, note, spec
from tlogcheck.client import Response, TLogClient
from tlogcheck.client.cdn import is_hit
from tlogcheck.refstack.stack import RunningStack, start_stack
from tlogcheck.refstack.store import freshness

ENTRIES = 300  # not a power of two: proofs with every shape of right edge
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT_LIMIT = 300  # seconds: the spec's bound on the short max-age
BYPASS = {"X-Bypass": "1"}


@dataclass
class Target:
    kind: str
    stack: RunningStack
    client: TLogClient
    http: httpx.Client
    entries: list[bytes]
    tree: merkle.StoredTree

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def url(self) -> str:
        return self.stack.info.edge_url


@pytest.fixture(scope="module", params=EDGES)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    kind: str = request.param
    with start_stack(entries=ENTRIES, edge=kind, subprocess=True) as stack:
        entries = Path(stack.info.db_path).read_bytes().split(b"\n")[:-1]
        with (
            TLogClient(stack.info.edge_url, retries=0) as client,
            httpx.Client(trust_env=False, timeout=10) as http,
        ):
            yield Target(
                kind, stack, client, http, entries, merkle.StoredTree.from_entries(entries)
            )


def _ok(response: Response) -> Response:
    assert response.status == 200, response.describe()
    return response


def _immutable(response: Response) -> None:
    assert response.cache_control == IMMUTABLE, response.describe()


def _short(response: Response) -> None:
    cache_control = response.cache_control or ""
    seconds = freshness(cache_control)
    assert seconds is not None and 0 < seconds <= SHORT_LIMIT, response.describe()
    assert "immutable" not in cache_control.lower(), response.describe()


def _strong_etag(response: Response) -> None:
    assert response.etag == '"' + hashlib.sha256(response.body).hexdigest() + '"', (
        response.describe()
    )


# -- the endpoints ------------------------------------------------------------------------


def test_healthz(target: Target) -> None:
    health, response = target.client.health()
    assert health.status == "ok"
    assert health.tree_size == target.size
    assert health.release == response.release == target.stack.info.release
    assert response.cache_control == "no-store"


def test_root_is_the_tree_of_db_jsonl(target: Target) -> None:
    root, response = target.client.root()
    assert root.tree_size == target.size
    assert root.root_hash == target.tree.root() == merkle.root_of(target.entries)
    assert root.release == target.stack.info.release
    _short(response)
    assert response.headers["content-type"].startswith("application/json")


def test_checkpoint_is_signed_and_names_the_root_tree(target: Target) -> None:
    root, _ = target.client.root()
    response = _ok(target.client.checkpoint())
    verifier = note.parse_verifier_key(target.stack.info.vkey)
    checkpoint = note.verify_checkpoint(response.body, [verifier])
    assert checkpoint.origin == target.stack.info.origin_name
    assert (checkpoint.tree_size, checkpoint.root_hash) == (root.tree_size, root.root_hash)
    assert response.headers["content-type"].startswith("text/plain")
    _short(response)


@pytest.mark.parametrize("index", [0, 1, 150, ENTRIES - 1])
def test_entry_is_the_line_of_db_jsonl(target: Target, index: int) -> None:
    response = _ok(target.client.entry(index))
    assert response.body == target.entries[index]
    assert response.headers["content-type"].startswith("application/json")
    _immutable(response)


@pytest.mark.parametrize(
    ("index", "size"), [(0, 1), (0, ENTRIES), (5, 6), (150, 257), (ENTRIES - 1, ENTRIES)]
)
def test_inclusion_proof_verifies(target: Target, index: int, size: int) -> None:
    proof, response = target.client.inclusion_proof(index, size)
    assert (proof.leaf_index, proof.tree_size) == (index, size)
    assert proof.leaf_hash == merkle.leaf_hash(target.entries[index])
    merkle.verify_inclusion(
        proof.leaf_hash, index, size, list(proof.audit_path), target.tree.root(size)
    )
    _immutable(response)


def test_inclusion_proof_without_tree_size_is_for_the_current_tree(target: Target) -> None:
    response = _ok(target.client.get("/v1/log/proof/42"))
    proof = spec.parse_inclusion(response.body)
    assert proof.tree_size == target.size
    merkle.verify_inclusion(
        proof.leaf_hash, 42, target.size, list(proof.audit_path), target.tree.root()
    )
    _short(response)


@pytest.mark.parametrize(
    ("first", "second"), [(1, ENTRIES), (7, 13), (100, ENTRIES), (256, 257), (ENTRIES, ENTRIES)]
)
def test_consistency_proof_verifies(target: Target, first: int, second: int) -> None:
    proof, response = target.client.consistency_proof(first, second)
    assert (proof.first, proof.second) == (first, second)
    merkle.verify_consistency(
        first, second, list(proof.path), target.tree.root(first), target.tree.root(second)
    )
    _immutable(response)


# -- 400 and 404 ----------------------------------------------------------------------------

MALFORMED = [
    "/v1/log/entry/abc",
    "/v1/log/entry/01",
    "/v1/log/entry/-1",
    "/v1/log/entry/+1",
    "/v1/log/entry/1.0",
    "/v1/log/proof/1?tree_size=x",
    "/v1/log/proof/1?tree_size=010",
    "/v1/log/proof/x?tree_size=10",
    "/v1/log/consistency?first=a&second=2",
    "/v1/log/consistency?first=1",
    "/v1/log/consistency",
]
OUT_OF_RANGE = [
    f"/v1/log/entry/{ENTRIES}",
    "/v1/log/entry/99999999999",
    f"/v1/log/proof/{ENTRIES}?tree_size={ENTRIES}",
    "/v1/log/proof/5?tree_size=5",
    f"/v1/log/proof/0?tree_size={ENTRIES + 1}",
    "/v1/log/consistency?first=0&second=5",
    "/v1/log/consistency?first=6&second=5",
    f"/v1/log/consistency?first=1&second={ENTRIES + 1}",
]


@pytest.mark.parametrize(
    ("path", "status"), [(p, 400) for p in MALFORMED] + [(p, 404) for p in OUT_OF_RANGE]
)
def test_bad_requests_get_their_status_and_an_error_body(
    target: Target, path: str, status: int
) -> None:
    response = target.client.get(path)
    assert response.status == status, response.describe()
    assert spec.parse_error(response.body)
    assert response.release == target.stack.info.release
    # An error is not kept: the next read asks the origin again.
    assert not is_hit(target.client.get(path).cache_status)


def test_every_malformed_form_of_every_endpoint_is_400(target: Target) -> None:
    # What the suite's root check asks of any deployment, the reference one first.
    for path in spec.malformed_requests(ENTRIES):
        for view in ("edge", "origin"):
            response = target.client.get(path, view=view)
            assert response.status in (400, 404), response.describe()
            if "18446744073709" not in path:  # past uint64: 404 out of range is right too
                assert response.status == 400, response.describe()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_reference_origin_refuses_every_generated_malformed_number(
    target: Target, data: st.DataObject
) -> None:
    template, _ = data.draw(st.sampled_from(spec.number_slots(ENTRIES)))
    text = data.draw(spec.malformed_numbers())
    response = target.client.get(template.format(quote(text, safe="")), view="origin")
    assert response.status in spec.refused_statuses(text), (text, response.describe())


# -- headers --------------------------------------------------------------------------------

PATHS = [
    "/healthz",
    "/v1/log/root",
    "/v1/log/checkpoint",
    "/v1/log/entry/3",
    "/v1/log/proof/3?tree_size=200",
    "/v1/log/proof/3",
    "/v1/log/consistency?first=3&second=200",
]


@pytest.mark.parametrize("path", PATHS)
def test_etag_is_the_sha256_of_the_body(target: Target, path: str) -> None:
    for view in ("edge", "origin"):
        _strong_etag(_ok(target.client.get(path, view=view)))


@pytest.mark.parametrize("path", PATHS[1:])
def test_if_none_match_gets_304(target: Target, path: str) -> None:
    etag = _ok(target.client.get(path)).etag
    assert etag is not None
    for view in ("edge", "origin"):
        response = target.client.get(path, view=view, headers={"If-None-Match": etag})
        assert response.status == 304, response.describe()
        assert response.body == b""
        assert response.etag == etag


@pytest.mark.parametrize("path", PATHS + ["/v1/log/entry/x", f"/v1/log/entry/{ENTRIES}"])
def test_every_response_names_its_release_and_cache_status(target: Target, path: str) -> None:
    response = target.client.get(path)
    assert response.release == target.stack.info.release, response.describe()
    assert response.cache_status is not None, response.describe()


@pytest.mark.parametrize("path", PATHS)
def test_content_type_is_the_specs(target: Target, path: str) -> None:
    for view in ("edge", "origin"):
        response = _ok(target.client.get(path, view=view))
        problem = spec.content_type_problem(path, response.header("content-type"))
        assert problem is None, response.describe()


@pytest.mark.parametrize("path", PATHS[1:])
def test_a_validator_that_does_not_match_gets_200(target: Target, path: str) -> None:
    body = _ok(target.client.get(path)).body
    for view in ("edge", "origin"):
        for validator in ('"' + "0" * 64 + '"', 'W/"' + "0" * 64 + '"'):
            response = target.client.get(path, view=view, headers={"If-None-Match": validator})
            assert (response.status, response.body) == (200, body), response.describe()


@pytest.mark.parametrize("path", PATHS[1:])
def test_cache_control_matches_the_table(target: Target, path: str) -> None:
    response = _ok(target.client.get(path))
    if path in ("/v1/log/root", "/v1/log/checkpoint", "/v1/log/proof/3"):
        _short(response)
    else:
        _immutable(response)


@pytest.mark.parametrize("path", PATHS[1:])
def test_edge_passes_the_origin_headers_through(target: Target, path: str) -> None:
    edge = _ok(target.client.get(path))
    origin = _ok(target.client.get(path, view="origin"))
    for name in ("etag", "cache-control", "x-tlog-release"):
        assert edge.headers[name] == origin.headers[name], (edge.describe(), origin.describe())


def test_head_has_the_get_headers(target: Target) -> None:
    get = target.http.get(target.url + "/v1/log/entry/8", headers={"Accept-Encoding": "identity"})
    head = target.http.head(target.url + "/v1/log/entry/8", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    for name in ("etag", "cache-control", "x-tlog-release", "content-type"):
        assert head.headers[name] == get.headers[name]


def test_gzip_is_the_identity_body_coded(target: Target) -> None:
    identity = _ok(target.client.entry(9))
    with target.http.stream(
        "GET", target.url + "/v1/log/entry/9", headers={"Accept-Encoding": "gzip"}
    ) as coded:
        raw = b"".join(coded.iter_raw())
    assert coded.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == identity.body
    # The tag still names the identity body; nginx marks it weak once it has coded.
    assert coded.headers["etag"].removeprefix("W/") == identity.etag


# -- the edge ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/log/root", "/v1/log/checkpoint", "/v1/log/entry/11"])
def test_bypass_reaches_the_origin_and_serves_the_same_bytes(target: Target, path: str) -> None:
    edge = _ok(target.client.get(path))
    origin = _ok(target.client.get(path, view="origin"))
    assert origin.cache_status == "BYPASS", origin.describe()
    assert edge.cache_status != "BYPASS", edge.describe()
    assert edge.body == origin.body


def test_repeated_immutable_reads_come_from_the_cache(target: Target) -> None:
    paths = [f"/v1/log/entry/{i}" for i in range(200, 240)]
    paths += [f"/v1/log/proof/{i}?tree_size=250" for i in range(200, 210)]
    rounds = [[target.client.get(p).cache_status for p in paths] for _ in range(4)]
    assert all(s == "MISS" for s in rounds[0]), rounds[0]
    for later in rounds[1:]:
        assert all(is_hit(s) for s in later), later
    statuses = [s for r in rounds for s in r]
    # The playbook's TLogCacheMissHigh line.
    assert sum(not is_hit(s) for s in statuses) / len(statuses) <= 0.30


def test_no_store_is_not_cached(target: Target) -> None:
    statuses = [target.client.get("/healthz").cache_status for _ in range(3)]
    assert not any(is_hit(s) for s in statuses), statuses
