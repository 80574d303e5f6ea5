"""Each fault of the reference stack changes exactly what its documentation says.

Origin-side and release faults are tested here over real HTTP against an `Origin`
(edge-side ones in test_refstack_edge.py); the registry itself is checked for complete
documentation, and every registered fault must have a test somewhere under tests/.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tlogcheck import note
from tlogcheck.errors import ConfigError, NoteError, ProofError
from tlogcheck.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion
from tlogcheck.playbook.checks import CHECK_MARKERS
from tlogcheck.refstack import data, origin
from tlogcheck.refstack.faults import (
    BLIP_AFTER,
    CHECK_NAMES,
    DEFAULT_TRUNCATED_EXTRA,
    FAULTS,
    FaultSet,
    RateGate,
    parse_spec,
)
from tlogcheck.refstack.log import IMMUTABLE, Log
from tlogcheck.refstack.origin import Origin
from tlogcheck.refstack.server import run_in_thread

N = 64
SHORT = "public, max-age=60"
PLAYBOOK_ALERTS = {
    "TLogAvailabilityDown",
    "TLogCacheMissHigh",
    "TLogInclusionProofFail",
    "Ingress5xxHigh",
    "LatencyP95High",
}
# The faults the issue names; the registry may hold more, never fewer.
REQUIRED = {
    "healthz-5xx",
    "wrong-root",
    "corrupt-entry",
    "bad-proof",
    "extra-proof-hash",
    "checkpoint-bad-signature",
    "checkpoint-root-mismatch",
    "etag-mismatch",
    "weak-etag",
    "missing-immutable",
    "root-immutable",
    "stale-edge-root",
    "edge-lag",
    "split-view",
    "history-rewrite",
    "truncated",
    "latency",
    "error-rate",
    "cache-always-miss",
    "slow-body",
    "oversize-body",
}


@dataclass
class Served:
    faults: FaultSet
    entries: list[bytes]
    vkey: str
    url: str
    http: httpx.Client

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(self.url + path, **kwargs)

    def json(self, path: str) -> Any:
        r = self.get(path)
        assert r.status_code == 200, r.text
        return r.json()

    @property
    def root(self) -> bytes:
        return root_of(self.entries)


@pytest.fixture(scope="module")
def served_module() -> Iterator[Served]:
    entries = list(data.demo_entries(0, N))
    signer, vkey = data.demo_signer()
    faults = FaultSet()
    log = Log(entries, "v1.0.0", signer).warm()
    with run_in_thread({"origin": Origin(log, faults)}) as bg, httpx.Client(timeout=10) as http:
        yield Served(faults, entries, vkey, bg.urls["origin"], http)


@pytest.fixture
def served(served_module: Served) -> Iterator[Served]:
    served_module.faults.clear()
    yield served_module
    served_module.faults.clear()


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def proof_of(s: Served, index: int, size: int) -> list[bytes]:
    body = s.json(f"/v1/log/proof/{index}?tree_size={size}")
    return [bytes.fromhex(h) for h in body["audit_path"]]


def consistency_of(s: Served, first: int, second: int) -> list[bytes]:
    body = s.json(f"/v1/log/consistency?first={first}&second={second}")
    return [bytes.fromhex(h) for h in body["consistency_path"]]


# -- the registry --------------------------------------------------------------------------


def test_every_fault_the_issue_names_is_registered() -> None:
    assert REQUIRED <= set(FAULTS)


def test_check_names_are_the_plugins_markers() -> None:
    assert set(CHECK_NAMES) == set(CHECK_MARKERS)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_every_fault_is_documented(name: str) -> None:
    doc = FAULTS[name]
    assert doc.name == name
    assert doc.side in ("origin", "edge", "release")
    assert len(doc.breaks) > 40
    assert "§" in doc.section
    assert set(doc.caught_by) <= set(CHECK_NAMES)
    assert set(doc.also) <= set(CHECK_NAMES)
    assert not set(doc.caught_by) & set(doc.also)
    if doc.legitimate:
        assert doc.caught_by == () and doc.also == () and doc.alert == ""
    else:
        assert doc.caught_by
        assert set(doc.alert.split(" / ")) <= PLAYBOOK_ALERTS
    if doc.takes_arg:
        assert doc.arg_help and doc.usage.startswith(name)


def _tested_faults() -> set[str]:
    """Fault names used as string constants inside test functions of tests/**/test_*.py."""
    found: set[str] = set()
    for path in Path(__file__).resolve().parents[1].rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                        found.add(inner.value.partition(":")[0])
    return found


def test_every_fault_has_a_test_somewhere() -> None:
    missing = sorted(set(FAULTS) - _tested_faults())
    assert not missing, f"faults without a test under tests/: {missing}"


# -- FaultSet / RateGate -----------------------------------------------------------------------


def test_fault_specs_parse_and_check_their_argument() -> None:
    assert parse_spec("latency:250") == ("latency", "250")
    assert parse_spec("corrupt-entry") == ("corrupt-entry", "")
    assert parse_spec("corrupt-entry:007") == ("corrupt-entry", "7")
    assert parse_spec("error-rate:12.5") == ("error-rate", "12.5")
    for bad in (
        "no-such-fault",
        "latency",
        "latency:-1",
        "latency:fast",
        "error-rate:101",
        "error-rate:x",
        "wrong-root:1",
        "oversize-body:0",
        "truncated:0",
        "corrupt-entry:-3",
    ):
        with pytest.raises(ConfigError):
            parse_spec(bad)


def test_fault_set_changes_whole_and_snapshots_do_not() -> None:
    faults = FaultSet(["latency:5", "wrong-root"])
    before = faults.snapshot()
    version = faults.version
    assert faults.active("latency") == "5"
    assert faults.active("wrong-root") == ""
    assert faults.active("weak-etag") is None
    faults.add("weak-etag")
    faults.remove("latency")
    assert faults.specs() == ["weak-etag", "wrong-root"]
    assert dict(before) == {"latency": "5", "wrong-root": ""}
    assert faults.version > version
    with pytest.raises(ConfigError):
        faults.set(["weak-etag", "bogus"])
    assert faults.names() == ["weak-etag", "wrong-root"]  # unchanged by the bad set
    faults.clear()
    assert not faults and faults.specs() == []
    with pytest.raises(TypeError):
        before["x"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(("pct", "window"), [(50, 2), (25, 4), (10, 10), (12.5, 8), (1, 100)])
def test_rate_gate_fails_exactly_its_share_first_call_included(pct: float, window: int) -> None:
    gate = RateGate()
    hits = [gate.hit(pct) for _ in range(window * 5)]
    assert hits[0]
    for start in range(0, len(hits), window):
        assert sum(hits[start : start + window]) == 1
    assert not any(RateGate().hit(0) for _ in range(50))
    assert all(RateGate().hit(100) for _ in range(50))


# -- origin-side faults, over HTTP -----------------------------------------------------------


def test_healthz_5xx(served: Served) -> None:
    served.faults.set(["healthz-5xx"])
    r = served.get("/healthz")
    assert r.status_code == 503
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-tlog-release"] == "v1.0.0"
    assert "healthz-5xx" in r.json()["error"]
    assert served.get("/v1/log/root").status_code == 200
    served.faults.clear()
    assert served.get("/healthz").status_code == 200


def test_healthz_degraded_answers_200_saying_degraded(served: Served) -> None:
    served.faults.set(["healthz-degraded"])
    r = served.get("/healthz")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json()["status"] == "degraded" and r.json()["tree_size"] == N
    served.faults.clear()
    assert served.get("/healthz").json()["status"] == "ok"


def test_proof_5xx_fails_every_inclusion_proof_and_nothing_else(served: Served) -> None:
    served.faults.set(["proof-5xx"])
    for path in (f"/v1/log/proof/3?tree_size={N}", "/v1/log/proof/3"):
        r = served.get(path)
        assert r.status_code == 500 and "proof-5xx" in r.json()["error"]
        assert r.headers["cache-control"] == "no-store"
    consistency = f"/v1/log/consistency?first=3&second={N}"
    healthy = ("/healthz", "/v1/log/root", "/v1/log/entry/3", consistency)
    for path in healthy:
        assert served.get(path).status_code == 200, path


def test_wrong_root(served: Served) -> None:
    served.faults.set(["wrong-root"])
    r = served.get("/v1/log/root")
    lie = bytes.fromhex(r.json()["root_hash"])
    assert lie != served.root and r.json()["tree_size"] == N
    assert r.headers["etag"] == f'"{sha(r.content)}"'
    # The checkpoint still tells the truth, so the two disagree.
    signed = note.verify_note(
        served.get("/v1/log/checkpoint").content, [note.parse_verifier_key(served.vkey)]
    )
    assert note.parse_checkpoint(signed.text).root_hash == served.root
    path = proof_of(served, 9, N)
    verify_inclusion(leaf_hash(served.entries[9]), 9, N, path, served.root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(served.entries[9]), 9, N, path, lie)


def test_corrupt_entry_every_entry(served: Served) -> None:
    served.faults.set(["corrupt-entry"])
    for index in (0, 1, 17, N - 1):
        r = served.get(f"/v1/log/entry/{index}")
        body = r.content
        assert body != served.entries[index]
        assert len(body) == len(served.entries[index])
        assert json.loads(body).keys() == json.loads(served.entries[index]).keys()
        assert r.headers["etag"] == f'"{sha(body)}"'
        with pytest.raises(ProofError):
            verify_inclusion(leaf_hash(body), index, N, proof_of(served, index, N), served.root)
    assert served.json("/v1/log/root")["root_hash"] == served.root.hex()


def test_corrupt_entry_one_index(served: Served) -> None:
    served.faults.set(["corrupt-entry:5"])
    assert served.get("/v1/log/entry/5").content != served.entries[5]
    assert served.get("/v1/log/entry/4").content == served.entries[4]
    assert served.get("/v1/log/entry/6").content == served.entries[6]


def test_bad_proof(served: Served) -> None:
    clean = proof_of(served, 9, N)
    clean_consistency = consistency_of(served, 10, N)
    served.faults.set(["bad-proof"])
    path = proof_of(served, 9, N)
    assert len(path) == len(clean) and path[0] != clean[0] and path[1:] == clean[1:]
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(served.entries[9]), 9, N, path, served.root)
    spoiled = consistency_of(served, 10, N)
    assert spoiled[0] != clean_consistency[0] and spoiled[1:] == clean_consistency[1:]
    with pytest.raises(ProofError):
        verify_consistency(10, N, spoiled, root_of(served.entries[:10]), served.root)
    # Nothing to flip in an empty path.
    assert proof_of(served, 0, 1) == []


def test_extra_proof_hash(served: Served) -> None:
    clean = proof_of(served, 9, N)
    served.faults.set(["extra-proof-hash"])
    path = proof_of(served, 9, N)
    assert path[:-1] == clean and len(path) == len(clean) + 1
    with pytest.raises(ProofError, match="extra"):
        verify_inclusion(leaf_hash(served.entries[9]), 9, N, path, served.root)
    with pytest.raises(ProofError):
        verify_consistency(
            10, N, consistency_of(served, 10, N), root_of(served.entries[:10]), served.root
        )


def test_checkpoint_bad_signature(served: Served) -> None:
    clean = served.get("/v1/log/checkpoint").content
    served.faults.set(["checkpoint-bad-signature"])
    spoiled = served.get("/v1/log/checkpoint").content
    assert spoiled != clean and len(spoiled) == len(clean)
    parsed, original = note.parse_note(spoiled), note.parse_note(clean)
    assert parsed.text == original.text
    assert [s.key_id for s in parsed.signatures] == [s.key_id for s in original.signatures]
    with pytest.raises(NoteError):
        note.verify_note(spoiled, [note.parse_verifier_key(served.vkey)])


def test_checkpoint_root_mismatch(served: Served) -> None:
    served.faults.set(["checkpoint-root-mismatch"])
    signed = note.verify_note(
        served.get("/v1/log/checkpoint").content, [note.parse_verifier_key(served.vkey)]
    )
    checkpoint = note.parse_checkpoint(signed.text)
    assert checkpoint.tree_size == N
    assert checkpoint.root_hash != served.root
    assert served.json("/v1/log/root")["root_hash"] == served.root.hex()


EVERY_200 = ["/healthz", "/v1/log/root", "/v1/log/checkpoint", "/v1/log/entry/3"]
EVERY_200 += ["/v1/log/proof/3?tree_size=9", "/v1/log/consistency?first=3&second=9"]


def test_etag_mismatch(served: Served) -> None:
    served.faults.set(["etag-mismatch"])
    for path in EVERY_200:
        r = served.get(path)
        etag = r.headers["etag"]
        assert etag.startswith('"') and etag != f'"{sha(r.content)}"', path
        assert len(etag) == 66


def test_weak_etag(served: Served) -> None:
    served.faults.set(["weak-etag"])
    for path in EVERY_200:
        r = served.get(path)
        assert r.headers["etag"] == f'W/"{sha(r.content)}"', path
        assert served.get(path, headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_missing_immutable(served: Served) -> None:
    served.faults.set(["missing-immutable"])
    for path in (
        "/v1/log/entry/3",
        "/v1/log/proof/3?tree_size=9",
        "/v1/log/consistency?first=3&second=9",
    ):
        assert served.get(path).headers["cache-control"] == SHORT, path
    assert served.get("/v1/log/root").headers["cache-control"] == SHORT
    assert served.get("/healthz").headers["cache-control"] == "no-store"


def test_root_immutable(served: Served) -> None:
    served.faults.set(["root-immutable"])
    assert served.get("/v1/log/root").headers["cache-control"] == IMMUTABLE
    assert served.get("/v1/log/checkpoint").headers["cache-control"] == IMMUTABLE
    assert served.get("/v1/log/proof/3").headers["cache-control"] == SHORT
    assert served.get("/v1/log/entry/3").headers["cache-control"] == IMMUTABLE


def test_history_rewrite(served: Served) -> None:
    served.faults.set(["history-rewrite"])
    entry = served.get("/v1/log/entry/1").content
    assert entry != served.entries[1]
    assert served.get("/v1/log/entry/0").content == served.entries[0]
    rewritten = [served.entries[0], entry, *served.entries[2:]]
    root = served.json("/v1/log/root")
    assert root["tree_size"] == N
    assert root["root_hash"] == root_of(rewritten).hex() != served.root.hex()
    # Consistent with itself (signed, proved) ...
    signed = note.verify_note(
        served.get("/v1/log/checkpoint").content, [note.parse_verifier_key(served.vkey)]
    )
    assert note.parse_checkpoint(signed.text).root_hash.hex() == root["root_hash"]
    verify_inclusion(leaf_hash(entry), 1, N, proof_of(served, 1, N), root_of(rewritten))
    # ... but not an extension of the release it replaces.
    with pytest.raises(ProofError):
        verify_consistency(
            N // 2,
            N,
            consistency_of(served, N // 2, N),
            root_of(served.entries[: N // 2]),
            root_of(rewritten),
        )
    served.faults.clear()
    assert served.json("/v1/log/root")["root_hash"] == served.root.hex()


def test_history_rewrite_spares_an_origin_that_is_not_under_test() -> None:
    signer, _ = data.demo_signer()
    log = Log(list(data.demo_entries(0, 8)), "v1.0.0", signer)
    app = Origin(log, FaultSet(["history-rewrite", "truncated"]), release_faults=False)
    assert app.served_log(app.faults.snapshot()) is log


@pytest.mark.parametrize("spec", ["truncated", "truncated:3"])
def test_truncated(served: Served, spec: str) -> None:
    extra = int(spec.partition(":")[2] or DEFAULT_TRUNCATED_EXTRA)
    served.faults.set([spec])
    root = served.json("/v1/log/root")
    assert root["tree_size"] == N + extra
    signed = note.verify_note(
        served.get("/v1/log/checkpoint").content, [note.parse_verifier_key(served.vkey)]
    )
    checkpoint = note.parse_checkpoint(signed.text)
    assert checkpoint.tree_size == N + extra
    assert checkpoint.root_hash.hex() == root["root_hash"]
    assert served.get(f"/v1/log/entry/{N - 1}").status_code == 200
    for index in (N, N + extra - 1):
        assert served.get(f"/v1/log/entry/{index}").status_code == 404
    assert served.get(f"/v1/log/proof/{N + extra - 1}?tree_size={N + extra}").status_code == 200
    # The entries it has are still the log's own: their proofs verify.
    verify_inclusion(
        leaf_hash(served.entries[5]),
        5,
        N + extra,
        proof_of(served, 5, N + extra),
        bytes.fromhex(root["root_hash"]),
    )


@pytest.mark.parametrize(("pct", "errors"), [("50", 10), ("25", 5), ("100", 20), ("0", 0)])
def test_error_rate(served: Served, pct: str, errors: int) -> None:
    served.faults.set([f"error-rate:{pct}"])
    responses = [served.get("/healthz") for _ in range(20)]
    statuses = [r.status_code for r in responses]
    assert statuses.count(500) == errors
    assert set(statuses) <= {200, 500}
    for r in responses:
        assert r.headers["x-tlog-release"] == "v1.0.0"
        if r.status_code == 500:
            assert r.headers["cache-control"] == "no-store" and "error-rate" in r.json()["error"]


def test_oversize_body(served: Served) -> None:
    entry = served.entries[3]
    served.faults.set(["oversize-body:2"])
    with served.http.stream("GET", served.url + "/v1/log/entry/3") as r:
        assert r.status_code == 200
        body = b"".join(r.iter_raw())
    assert len(body) == 2 * 2**20 + len(entry)
    assert int(r.headers["content-length"]) == len(body)
    assert body.endswith(entry) and body[: 2 * 2**20].strip() == b""
    assert r.headers["etag"] == f'"{sha(body)}"'
    assert json.loads(body) == json.loads(entry)
    assert served.get("/v1/log/root").status_code == 200
    served.faults.set(["oversize-body"])  # the default: 64 MiB, asked with HEAD only
    head = served.http.head(served.url + "/v1/log/entry/3")
    assert int(head.headers["content-length"]) == 64 * 2**20 + len(entry)
    assert head.content == b""


def test_slow_body_trickles_byte_by_byte(served: Served) -> None:
    served.faults.set(["slow-body"])
    with served.http.stream("GET", served.url + "/healthz") as r:
        assert r.status_code == 200
        chunks = r.iter_raw()
        first = [next(chunks) for _ in range(3)]
    assert [len(c) for c in first] == [1, 1, 1]
    assert b"".join(first) == b'{"s'


# -- transport faults on the ASGI app directly: what is sent, and what is slept ---------------


def _call(app: Origin, path: str, method: str = "GET") -> tuple[list[dict[str, Any]], list[float]]:
    sent: list[dict[str, Any]] = []
    slept: list[float] = []

    caller = threading.get_ident()

    async def fake_sleep(seconds: float) -> None:
        # The patch is process-wide: a reference deployment that another test runs in a
        # thread of this process sleeps for real and is not counted.
        if threading.get_ident() != caller:
            await asyncio.sleep(seconds)
            return
        slept.append(seconds)
        await asyncio.sleep(0)

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": method, "path": path, "query_string": b"", "headers": []}
    patch = pytest.MonkeyPatch()
    patch.setattr(origin, "_sleep", fake_sleep)
    try:
        asyncio.run(app(scope, receive, send))
    finally:
        patch.undo()
    return sent, slept


@pytest.fixture(scope="module")
def small_log() -> Log:
    signer, _ = data.demo_signer()
    return Log(list(data.demo_entries(0, 8)), "v1.0.0", signer).warm()


def test_latency_sleeps_before_answering(small_log: Log) -> None:
    sent, slept = _call(Origin(small_log, FaultSet(["latency:250"])), "/v1/log/root")
    assert slept == [0.25]
    assert sent[0]["status"] == 200
    sent, slept = _call(Origin(small_log, FaultSet()), "/v1/log/root")
    assert slept == []


def test_proof_slow_delays_proofs_only(small_log: Log) -> None:
    sent, slept = _call(Origin(small_log, FaultSet(["proof-slow:250"])), "/v1/log/proof/1")
    assert slept == [0.25] and sent[0]["status"] == 200
    sent, slept = _call(Origin(small_log, FaultSet(["proof-slow"])), "/v1/log/proof/1")
    assert slept == [0.4]
    sent, slept = _call(Origin(small_log, FaultSet(["proof-slow"])), "/v1/log/entry/1")
    assert slept == [] and sent[0]["status"] == 200


def test_slow_body_sends_one_byte_per_interval_then_stops_trickling(
    small_log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent, slept = _call(Origin(small_log, FaultSet(["slow-body"])), "/healthz")
    body = [m["body"] for m in sent[1:]]
    assert all(len(b) == 1 for b in body[:-1]) and body[-1] == b""
    assert b"".join(body) == small_log.respond("GET", "/healthz", "", {})[2]
    assert slept == [origin.SLOW_BODY_INTERVAL] * (len(body) - 1)
    # Past the limit the rest goes at once: nothing holds a connection forever.
    monkeypatch.setattr(origin, "SLOW_BODY_LIMIT", 0.0)
    sent, slept = _call(Origin(small_log, FaultSet(["slow-body"])), "/healthz")
    assert [len(m["body"]) for m in sent[1:]][:1] == [len(b"".join(body))]
    assert slept == []


# -- detection power: what the suite must fail, and what it must accept -----------------------


def test_signer_stall_signs_an_older_prefix(served: Served) -> None:
    served.faults.set(["signer-stall:5"])
    verifier = note.parse_verifier_key(served.vkey)
    signed = note.verify_note(served.get("/v1/log/checkpoint").content, [verifier])
    checkpoint = note.parse_checkpoint(signed.text)
    assert served.json("/v1/log/root")["tree_size"] == N
    assert checkpoint.tree_size == N - 5
    assert checkpoint.root_hash == root_of(served.entries[: N - 5])
    path = consistency_of(served, N - 5, N)
    verify_consistency(N - 5, N, path, checkpoint.root_hash, served.root)


def test_origin_behind_serves_an_older_tree_of_the_release(served: Served) -> None:
    served.faults.set(["origin-behind"])
    size = N - 16
    root = served.json("/v1/log/root")
    assert (root["tree_size"], root["root_hash"]) == (size, root_of(served.entries[:size]).hex())
    assert served.get(f"/v1/log/entry/{size - 1}").status_code == 200
    assert served.get(f"/v1/log/entry/{size}").status_code == 404


def test_origin_ahead_serves_entries_beyond_the_release(served: Served) -> None:
    served.faults.set(["origin-ahead:8"])
    size = N + 8
    ahead = [*served.entries, *data.demo_entries(N, size)]
    root = served.json("/v1/log/root")
    assert (root["tree_size"], root["root_hash"]) == (size, root_of(ahead).hex())
    assert served.get(f"/v1/log/entry/{size - 1}").content == ahead[-1]
    # An extension: the release's tree is a prefix of the one served.
    proof = consistency_of(served, N, size)
    verify_consistency(N, size, proof, served.root, root_of(ahead))


def test_origin_proofs_wrong_spares_the_edges_own_fetches(served: Served) -> None:
    served.faults.set(["origin-proofs-wrong"])
    leaf = leaf_hash(served.entries[7])
    edge = {"user-agent": "tlogcheck-edge"}
    good = served.get(f"/v1/log/proof/7?tree_size={N}", headers=edge).json()["audit_path"]
    verify_inclusion(leaf, 7, N, [bytes.fromhex(h) for h in good], served.root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 7, N, proof_of(served, 7, N), served.root)
    bad = served.get("/v1/log/consistency?first=3&second=" + str(N)).json()
    right = served.get("/v1/log/consistency?first=3&second=" + str(N), headers=edge).json()
    assert bad["consistency_path"] != right["consistency_path"]


def test_latest_proof_wrong_spoils_only_the_form_without_tree_size(served: Served) -> None:
    served.faults.set(["latest-proof-wrong"])
    leaf = leaf_hash(served.entries[7])
    verify_inclusion(leaf, 7, N, proof_of(served, 7, N), served.root)
    latest = [bytes.fromhex(h) for h in served.json("/v1/log/proof/7")["audit_path"]]
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 7, N, latest, served.root)


def test_inm_always_304_strands_a_stale_validator(served: Served) -> None:
    made_up = '"' + "0" * 64 + '"'
    assert served.get("/v1/log/root", headers={"If-None-Match": made_up}).status_code == 200
    served.faults.set(["inm-always-304"])
    stranded = served.get("/v1/log/root", headers={"If-None-Match": made_up})
    assert (stranded.status_code, stranded.content) == (304, b"")


def test_old_consistency_wrong_spoils_only_proofs_between_older_trees(served: Served) -> None:
    served.faults.set(["old-consistency-wrong"])
    roots = {m: root_of(served.entries[:m]) for m in (3, 40, N)}
    verify_consistency(3, N, consistency_of(served, 3, N), roots[3], roots[N])
    with pytest.raises(ProofError):
        verify_consistency(3, 40, consistency_of(served, 3, 40), roots[3], roots[40])


def test_checkpoint_inm_304_strands_only_the_checkpoint(served: Served) -> None:
    made_up = '"' + "0" * 64 + '"'
    served.faults.set(["checkpoint-inm-304"])
    for path in ("/v1/log/checkpoint", "/checkpoint"):
        stranded = served.get(path, headers={"If-None-Match": made_up})
        assert (stranded.status_code, stranded.content) == (304, b"")
    assert served.get("/v1/log/root", headers={"If-None-Match": made_up}).status_code == 200


def test_ims_wins_lets_the_date_override_a_validator_that_does_not_match(
    served: Served,
) -> None:
    made_up = '"' + "0" * 64 + '"'
    both = {"If-None-Match": made_up, "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
    assert served.get("/v1/log/entry/3", headers=both).status_code == 200
    served.faults.set(["ims-wins"])
    plain = served.get("/v1/log/entry/3")
    assert "last-modified" in plain.headers
    stranded = served.get("/v1/log/entry/3", headers=both)
    assert (stranded.status_code, stranded.content) == (304, b"")


def test_no_release_header_on_entries_and_proofs(served: Served) -> None:
    served.faults.set(["no-release-header"])
    assert "x-tlog-release" not in served.get("/v1/log/entry/3").headers
    assert "x-tlog-release" not in served.get(f"/v1/log/proof/3?tree_size={N}").headers
    assert served.get("/v1/log/root").headers["x-tlog-release"] == "v1.0.0"


def test_wrong_content_type_on_entries(served: Served) -> None:
    served.faults.set(["wrong-content-type"])
    assert served.get("/v1/log/entry/3").headers["content-type"] == "text/html; charset=utf-8"
    assert served.get("/v1/log/root").headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/log/entry/+3",
        "/v1/log/entry/03",
        "/v1/log/entry/%203",
        f"/v1/log/proof/3?tree_size=0{N}",
    ],
)
def test_lenient_index_reads_malformed_numbers(served: Served, path: str) -> None:
    assert served.get(path).status_code == 400
    served.faults.set(["lenient-index"])
    assert served.get(path).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/log/entry/%EF%BC%93",  # fullwidth 3
        "/v1/log/entry/%D9%A3",  # Arabic-Indic 3
        "/v1/log/proof/3?tree_size=%EF%BC%96%EF%BC%94",  # fullwidth 64
    ],
)
def test_unicode_index_reads_digits_of_other_scripts(served: Served, path: str) -> None:
    assert served.get(path).status_code == 400
    served.faults.set(["unicode-index"])
    assert served.get(path).status_code == 200
    # The ASCII forms the old list tried are still refused.
    for listed in ("/v1/log/entry/+3", "/v1/log/entry/03", "/v1/log/entry/%203"):
        assert served.get(listed).status_code == 400


def test_healthz_weak_etag_touches_only_healthz(served: Served) -> None:
    served.faults.set(["healthz-weak-etag"])
    assert served.get("/healthz").headers["etag"].startswith('W/"')
    assert served.get("/v1/log/root").headers["etag"].startswith('"')


def test_blip_answers_503_for_a_while_once() -> None:
    signer, _ = data.demo_signer()
    app = Origin(Log(list(data.demo_entries(0, 8)), "v1.0.0", signer).warm(), FaultSet(["blip"]))
    statuses = [_call(app, "/healthz")[0][0]["status"] for _ in range(BLIP_AFTER + 3)]
    assert statuses[:BLIP_AFTER] == [200] * BLIP_AFTER
    assert statuses[BLIP_AFTER:] == [503] * 3
    app._blip_until = 0.0  # the window has passed: it does not come back
    assert _call(app, "/healthz")[0][0]["status"] == 200


def test_proof_redirect_sends_the_latest_proof_to_its_pinned_form(served: Served) -> None:
    served.faults.set(["proof-redirect"])
    moved = served.get("/v1/log/proof/7")
    assert moved.status_code == 302
    assert moved.headers["location"] == f"/v1/log/proof/7?tree_size={N}"
    assert "max-age" in moved.headers["cache-control"]
    pinned = served.get(moved.headers["location"])
    assert pinned.status_code == 200 and "immutable" in pinned.headers["cache-control"]
    # Out of range is still 404, and pinned proofs are not redirected.
    assert served.get(f"/v1/log/proof/{N}").status_code == 404
    assert served.get(f"/v1/log/proof/7?tree_size={N}").status_code == 200
