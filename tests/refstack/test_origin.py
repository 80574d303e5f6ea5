"""The reference origin serves API v1 exactly: every endpoint and rule, over real HTTP.

Also the demo data it serves (deterministic, its files) and the Log's derived views.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tlogcheck import note
from tlogcheck.errors import ConfigError, DbError, ProofError
from tlogcheck.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion
from tlogcheck.refstack import data
from tlogcheck.refstack.log import IMMUTABLE, NO_STORE, Log, alter_entry
from tlogcheck.refstack.origin import Origin
from tlogcheck.refstack.server import run_in_thread

N = 1000
RELEASE = "v9.8.7"
SHORT = re.compile(r"public, max-age=(\d+)\Z")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


@dataclass
class Served:
    url: str
    http: httpx.Client
    entries: list[bytes]
    vkey: str
    log: Log

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.http.get(self.url + path, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    entries = list(data.demo_entries(0, N))
    signer, vkey = note.generate_signer("origin.test/log")
    log = Log(entries, RELEASE, signer, "origin.test/log").warm()
    with run_in_thread({"origin": Origin(log)}) as bg, httpx.Client(timeout=10) as http:
        yield Served(bg.urls["origin"], http, entries, vkey, log)


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def assert_common(r: httpx.Response) -> None:
    """What every answer carries: the release, a JSON-or-text type, and for a 200 a
    strong ETag that is the SHA-256 of the body."""
    assert r.headers["x-tlog-release"] == RELEASE
    assert r.headers["content-length"] == str(len(r.content))
    if r.status_code == 200:
        assert r.headers["etag"] == f'"{sha(r.content)}"'


def assert_short(r: httpx.Response) -> None:
    m = SHORT.match(r.headers["cache-control"])
    assert m is not None and int(m.group(1)) <= 300, r.headers["cache-control"]


# -- endpoints ---------------------------------------------------------------------------


def test_healthz(served: Served) -> None:
    r = served.get("/healthz")
    assert r.status_code == 200
    assert_common(r)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == NO_STORE
    assert r.json() == {"status": "ok", "tree_size": N, "release": RELEASE}


def test_root_is_the_merkle_root_of_the_entries(served: Served) -> None:
    r = served.get("/v1/log/root")
    assert r.status_code == 200
    assert_common(r)
    assert r.headers["content-type"] == "application/json"
    assert_short(r)
    body = r.json()
    assert list(body) == ["tree_size", "root_hash", "timestamp", "release"]
    assert body["tree_size"] == N
    assert body["root_hash"] == root_of(served.entries).hex()
    assert RFC3339.match(body["timestamp"])
    assert body["release"] == RELEASE
    # Fixed at start: a second read is the same bytes.
    assert served.get("/v1/log/root").content == r.content


def test_checkpoint_verifies_and_matches_the_root(served: Served) -> None:
    r = served.get("/v1/log/checkpoint")
    assert r.status_code == 200
    assert_common(r)
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert_short(r)
    signed = note.verify_note(r.content, [note.parse_verifier_key(served.vkey)])
    checkpoint = note.parse_checkpoint(signed.text)
    assert checkpoint.origin == "origin.test/log"
    assert checkpoint.tree_size == N
    root = served.get("/v1/log/root").json()
    assert checkpoint.root_hash.hex() == root["root_hash"]


@pytest.mark.parametrize("index", [0, 1, 2, 511, 512, N - 1])
def test_entry_is_the_exact_line(served: Served, index: int) -> None:
    r = served.get(f"/v1/log/entry/{index}")
    assert r.status_code == 200
    assert_common(r)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == IMMUTABLE
    assert r.content == served.entries[index]


PROOF_CASES = [(0, 1), (0, 2), (1, 2), (5, 10), (0, N), (N - 1, N), (511, 512), (512, 513)]
PROOF_CASES += [(3, 7), (999, 1000), (700, 999)]


@pytest.mark.parametrize(("index", "size"), PROOF_CASES)
def test_inclusion_proof_verifies(served: Served, index: int, size: int) -> None:
    r = served.get(f"/v1/log/proof/{index}", params={"tree_size": size})
    assert r.status_code == 200
    assert_common(r)
    assert r.headers["cache-control"] == IMMUTABLE
    body = r.json()
    assert list(body) == ["leaf_index", "tree_size", "leaf_hash", "audit_path"]
    assert (body["leaf_index"], body["tree_size"]) == (index, size)
    leaf = leaf_hash(served.entries[index])
    assert body["leaf_hash"] == leaf.hex()
    path = [bytes.fromhex(h) for h in body["audit_path"]]
    verify_inclusion(leaf, index, size, path, root_of(served.entries[:size]))


def test_inclusion_proof_without_tree_size_is_for_the_current_tree(served: Served) -> None:
    r = served.get("/v1/log/proof/123")
    assert r.status_code == 200
    assert_short(r)
    body = r.json()
    assert body["tree_size"] == N
    path = [bytes.fromhex(h) for h in body["audit_path"]]
    verify_inclusion(leaf_hash(served.entries[123]), 123, N, path, root_of(served.entries))


CONSISTENCY_CASES = [(1, 1), (1, 2), (3, 7), (4, 8), (511, 512), (512, 1000), (999, 1000)]
CONSISTENCY_CASES += [(1, N), (N, N), (7, 13)]


@pytest.mark.parametrize(("first", "second"), CONSISTENCY_CASES)
def test_consistency_proof_verifies(served: Served, first: int, second: int) -> None:
    r = served.get("/v1/log/consistency", params={"first": first, "second": second})
    assert r.status_code == 200
    assert_common(r)
    assert r.headers["cache-control"] == IMMUTABLE
    body = r.json()
    assert list(body) == ["first", "second", "consistency_path"]
    assert (body["first"], body["second"]) == (first, second)
    path = [bytes.fromhex(h) for h in body["consistency_path"]]
    if first == second:
        assert path == []
    verify_consistency(
        first, second, path, root_of(served.entries[:first]), root_of(served.entries[:second])
    )


# -- conditional requests, HEAD, methods -----------------------------------------------------

EVERY_200 = [
    "/healthz",
    "/v1/log/root",
    "/v1/log/checkpoint",
    "/v1/log/entry/7",
    "/v1/log/proof/7?tree_size=9",
    "/v1/log/proof/7",
    "/v1/log/consistency?first=3&second=9",
]


@pytest.mark.parametrize("path", EVERY_200)
def test_if_none_match_gets_304_without_a_body(served: Served, path: str) -> None:
    r = served.get(path)
    etag = r.headers["etag"]
    for value in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        again = served.get(path, headers={"If-None-Match": value})
        assert again.status_code == 304, value
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == r.headers["cache-control"]
        assert again.headers["x-tlog-release"] == RELEASE
    other = served.get(path, headers={"If-None-Match": '"' + "0" * 64 + '"'})
    assert other.status_code == 200
    assert other.content == r.content


@pytest.mark.parametrize("path", EVERY_200)
def test_head_has_the_get_headers_and_no_body(served: Served, path: str) -> None:
    get = served.get(path)
    head = served.http.head(served.url + path)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control", "x-tlog-release"):
        assert head.headers[name] == get.headers[name], name


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(served: Served, method: str) -> None:
    r = served.http.request(method, served.url + "/v1/log/root")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    assert r.headers["cache-control"] == NO_STORE
    assert_common(r)
    assert "error" in r.json()


# -- errors ----------------------------------------------------------------------------------

MALFORMED = [
    "/v1/log/entry/-1",
    "/v1/log/entry/+1",
    "/v1/log/entry/01",
    "/v1/log/entry/00",
    "/v1/log/entry/1.0",
    "/v1/log/entry/1e3",
    "/v1/log/entry/abc",
    "/v1/log/entry/%201",
    "/v1/log/entry/%D9%A1",  # an Arabic-Indic digit: a digit to str.isdigit, not to the spec
    "/v1/log/entry/",
    "/v1/log/entry/0x10",
    "/v1/log/proof/x?tree_size=5",
    "/v1/log/proof/01?tree_size=5",
    "/v1/log/proof/1?tree_size=05",
    "/v1/log/proof/1?tree_size=",
    "/v1/log/proof/1?tree_size=-5",
    "/v1/log/proof/1?tree_size=5&tree_size=6",
    "/v1/log/proof/1?size=5",
    "/v1/log/proof/1?tree_size",
    "/v1/log/consistency",
    "/v1/log/consistency?first=3",
    "/v1/log/consistency?second=3",
    "/v1/log/consistency?first=a&second=3",
    "/v1/log/consistency?first=1&second=03",
    "/v1/log/consistency?first=1&second=3&third=4",
    "/v1/log/root?x=1",
    "/v1/log/checkpoint?fresh",
    "/v1/log/entry/3?x=1",
    "/healthz?verbose=1",
]


@pytest.mark.parametrize("path", MALFORMED)
def test_malformed_is_400(served: Served, path: str) -> None:
    r = served.get(path)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == NO_STORE
    assert_common(r)
    assert isinstance(r.json()["error"], str)


OUT_OF_RANGE = [
    f"/v1/log/entry/{N}",
    f"/v1/log/entry/{N + 1}",
    "/v1/log/entry/99999999999999999999999999999999999999",
    f"/v1/log/proof/{N}",
    "/v1/log/proof/5?tree_size=0",
    "/v1/log/proof/5?tree_size=5",
    f"/v1/log/proof/0?tree_size={N + 1}",
    "/v1/log/proof/0?tree_size=99999999999999999999999",
    "/v1/log/consistency?first=0&second=5",
    "/v1/log/consistency?first=6&second=5",
    f"/v1/log/consistency?first=1&second={N + 1}",
    f"/v1/log/consistency?first={N + 1}&second={N + 1}",
    "/v1/log/consistency?first=0&second=0",
]
UNKNOWN = ["/", "/v1", "/v1/log", "/v1/log/root/", "/v1/log/entry/1/2", "/v1/log/proof/1/2"]
UNKNOWN += ["/v1/log/entries/1", "/v2/log/root", "/healthz/", "/V1/LOG/ROOT"]


@pytest.mark.parametrize("path", OUT_OF_RANGE + UNKNOWN)
def test_out_of_range_or_unknown_is_404(served: Served, path: str) -> None:
    r = served.get(path)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == NO_STORE
    assert_common(r)
    assert isinstance(r.json()["error"], str)


def test_an_error_is_never_a_304(served: Served) -> None:
    r = served.get(f"/v1/log/entry/{N}", headers={"If-None-Match": "*"})
    assert r.status_code == 404


# -- the Log's views ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def log() -> Log:
    signer, _ = data.demo_signer()
    return Log(list(data.demo_entries(0, 100)), "v1", signer).warm()


def _root(log: Log) -> dict[str, object]:
    status, _, body = log.respond("GET", "/v1/log/root", "", {})
    assert status == 200
    answer: dict[str, object] = json.loads(body)
    return answer


def test_prefix_is_an_older_tree_of_the_same_log(log: Log) -> None:
    older = log.prefix(60)
    assert older.size == 60
    assert older.root == root_of(log.entries[:60])
    assert _root(older)["tree_size"] == 60
    assert older.respond("GET", "/v1/log/entry/60", "", {})[0] == 404
    status, _, body = log.respond("GET", "/v1/log/consistency", "first=60&second=100", {})
    path = [bytes.fromhex(h) for h in json.loads(body)["consistency_path"]]
    verify_consistency(60, 100, path, older.root, log.root)
    with pytest.raises(ConfigError):
        log.prefix(0)
    with pytest.raises(ConfigError):
        log.prefix(101)


def test_forked_is_not_an_extension(log: Log) -> None:
    fork = log.forked(1)
    assert fork.size == log.size
    assert fork.entries[1] != log.entries[1]
    assert fork.entries[2] == log.entries[2]
    assert fork.root == root_of(fork.entries[:100])
    assert fork.tree.root(1) == log.tree.root(1)
    with pytest.raises(ProofError):
        verify_consistency(2, 100, fork.tree.consistency_proof(2, 100), log.tree.root(2), fork.root)


def test_extended_is_an_extension_with_its_own_release(log: Log) -> None:
    more = list(data.demo_entries(100, 150))
    canary = log.extended(more, release="v2")
    assert canary.size == 150 and canary.release == "v2"
    assert canary.root == root_of(list(data.demo_entries(0, 150)))
    verify_consistency(100, 150, canary.tree.consistency_proof(100), log.root, canary.root)
    status, headers, _ = canary.respond("GET", "/v1/log/entry/149", "", {})
    assert status == 200 and ("x-tlog-release", "v2") in headers


def test_truncated_announces_entries_it_cannot_serve(log: Log) -> None:
    short = log.truncated(5)
    assert _root(short)["tree_size"] == 105
    assert short.respond("GET", "/v1/log/entry/99", "", {})[0] == 200
    assert short.respond("GET", "/v1/log/entry/100", "", {})[0] == 404
    assert short.respond("GET", "/v1/log/proof/103", "tree_size=105", {})[0] == 200
    # The first 100 leaves are the log's: proofs of them still verify.
    verify_consistency(100, 105, short.tree.consistency_proof(100), log.root, short.root)


@pytest.mark.parametrize(
    ("entry", "changed"),
    [
        (b'{"n":10}', b'{"n":11}'),
        (b'{"n":19}', b'{"n":18}'),
        (b'{"a":"b"}', b'{"a":"b" }'),
        (b'{"t":"2024-01-01T00:00:09Z"}', b'{"t":"2024-01-01T00:00:08Z"}'),
    ],
)
def test_alter_entry_keeps_json(entry: bytes, changed: bytes) -> None:
    assert alter_entry(entry) == changed
    json.loads(changed)


def test_every_demo_entry_alters_to_valid_json_of_the_same_length() -> None:
    for entry in data.demo_entries(0, 300):
        changed = alter_entry(entry)
        assert changed != entry and len(changed) == len(entry)
        assert json.loads(changed).keys() == json.loads(entry).keys()


# -- demo data -------------------------------------------------------------------------------


def test_demo_entries_are_deterministic_and_prefix_stable() -> None:
    assert list(data.demo_entries(0, 50)) == list(data.demo_entries(0, 80))[:50]
    assert list(data.demo_entries(40, 50)) == [data.demo_entry(i) for i in range(40, 50)]
    record = json.loads(data.demo_entry(12))
    assert list(record) == ["sequence", "subject", "digest", "timestamp"]
    assert record["sequence"] == 12
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", record["digest"])
    assert RFC3339.match(record["timestamp"])


def test_demo_entry_format_is_pinned() -> None:
    # The README's demo log and the suite's custody records rely on these exact bytes.
    digest = hashlib.sha256(b"tlogcheck demo log v1" + (7).to_bytes(8, "big")).hexdigest()
    assert (
        data.demo_entry(7)
        == (
            '{"sequence":7,"subject":"registry.example.com/infra/api",'
            f'"digest":"sha256:{digest}","timestamp":"2024-01-01T00:04:19Z"}}'
        ).encode()
    )
    assert json.loads(data.demo_entry(8))["subject"] == "registry.example.com/payments/worker"


def test_demo_data_files(tmp_path: os.PathLike[str]) -> None:
    demo = data.write_demo_data(tmp_path, 300)
    assert demo.tree_size == 300
    raw = demo.db_path.read_bytes()
    assert raw == b"".join(e + b"\n" for e in data.demo_entries(0, 300))
    assert demo.sha256_path.read_text() == f"{sha(raw)}  db.jsonl\n"
    assert stat.S_IMODE(demo.signer_key_path.stat().st_mode) == 0o600
    vkey = demo.vkey_path.read_text().strip()
    assert vkey == demo.vkey == data.demo_signer()[1]
    verifier = note.parse_verifier_key(vkey)
    assert verifier.name == data.DEMO_KEY_NAME
    signed = note.sign_note(b"hello\n", demo.signer_key_path.read_text().strip())
    note.verify_note(signed, [verifier])
    assert data.verifier_for(demo.signer_key) == vkey


def test_verifier_for_rejects_what_is_not_a_signer_key() -> None:
    signer, vkey = note.generate_signer("other.test/log")
    assert data.verifier_for(signer) == vkey
    for bad in ("", "PRIVATE+KEY+x+00000000+AAAA", vkey, signer.replace("PRIVATE", "PUBLIC")):
        with pytest.raises(ConfigError):
            data.verifier_for(bad)


def test_load_db_packs_entries_and_hashes_leaves(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "db.jsonl")
    entries = list(data.demo_entries(0, 77))
    data.write_db(path, entries)
    packed, leaves = data.load_db(path)
    assert len(packed) == 77
    assert list(packed) == entries
    assert packed[-1] == entries[-1] and packed[3:6] == entries[3:6]
    assert leaves == [leaf_hash(e) for e in entries]
    with pytest.raises(IndexError):
        packed[77]


def test_load_db_rejects_a_malformed_file_naming_the_line(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "db.jsonl")
    with open(path, "wb") as f:
        f.write(b'{"a":1}\n{"b":2}\nnot json\n')
    with pytest.raises(DbError, match=r"db.jsonl:3:"):
        data.load_db(path)
    with open(path, "wb") as f:
        f.write(b'{"a":1}\n{"b":"x\ry"}\n')  # a bare CR inside a line: not a JSON line
    with pytest.raises(DbError):
        data.load_db(path)
    with pytest.raises(DbError, match="cannot read"):
        data.load_db(os.path.join(tmp_path, "absent.jsonl"))


def test_append_db_is_the_extended_release(tmp_path: os.PathLike[str]) -> None:
    src = os.path.join(tmp_path, "a.jsonl")
    dst = os.path.join(tmp_path, "b.jsonl")
    data.write_db(src, data.demo_entries(0, 10))
    size, digest = data.append_db(src, dst, data.demo_entries(10, 15))
    assert size == 15
    with open(dst, "rb") as f:
        raw = f.read()
    assert raw == b"".join(e + b"\n" for e in data.demo_entries(0, 15))
    assert digest.hex() == sha(raw)


# -- the server ---------------------------------------------------------------------------------


def test_servers_release_their_ports(log: Log) -> None:
    bg = run_in_thread({"a": Origin(log), "b": Origin(log.prefix(5))})
    urls = dict(bg.urls)
    try:
        assert httpx.get(urls["a"] + "/healthz").json()["tree_size"] == 100
        assert httpx.get(urls["b"] + "/healthz").json()["tree_size"] == 5
    finally:
        bg.stop()
    for url in urls.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/healthz", timeout=2)
