"""tlogcheck.verify: the mechanics under the checks, against a reference deployment."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from tlogcheck.client import Response, TLogClient
from tlogcheck.errors import FormatError, ProofError, ServerError
from tlogcheck.merkle import root_of
from tlogcheck.refstack.data import demo_entries
from tlogcheck.refstack.stack import RunningStack
from tlogcheck.spec import (
    PATH_ROOT,
    cache_control_problem,
    entry_path,
    etag_problem,
    max_age,
    parse_cache_control,
    path_kind,
    proof_path,
)
from tlogcheck.verify import (
    Tree,
    check_recorded,
    compare_proofs,
    judge_lag,
    origin_serving,
    prove_extends,
    read_as_every_client,
    root_of_size,
    staleness,
    verify_inclusion_at,
    verify_latest_proof,
)
from tlogcheck.verify.conditional import revalidation_problems

MakeRefstack = Callable[..., RunningStack]
ENTRIES = 100


def _response(body: bytes = b"{}", status: int = 200, **headers: str) -> Response:
    return Response(
        url="http://t/x",
        path="/v1/log/root",
        view="edge",
        status=status,
        headers=httpx.Headers({k.replace("_", "-"): v for k, v in headers.items()}),
        body=body,
        elapsed=0.0,
    )


def _tree(size: int) -> Tree:
    return Tree(size, root_of(demo_entries(0, size)))


@pytest.fixture
def client(make_refstack: MakeRefstack) -> Iterator[TLogClient]:
    stack = make_refstack(entries=ENTRIES)
    with TLogClient(stack.info.edge_url, timeout=5) as c:
        yield c


def test_parse_cache_control() -> None:
    cc = parse_cache_control('Public, MAX-AGE="60" , immutable,,')
    assert cc == {"public": None, "max-age": "60", "immutable": None}
    assert max_age("public, max-age=60") == 60
    assert max_age("public") is None and max_age(None) is None and max_age("max-age=x") is None


@pytest.mark.parametrize(
    "path, kind",
    [
        ("/healthz", "no-store"),
        ("/v1/log/root", "short"),
        ("/v1/log/checkpoint", "short"),
        ("/v1/log/entry/5", "immutable"),
        ("/v1/log/proof/5?tree_size=9", "immutable"),
        ("/v1/log/proof/5", "short"),
        ("/v1/log/consistency?first=1&second=2", "immutable"),
    ],
)
def test_path_kind(path: str, kind: str) -> None:
    assert path_kind(path) == kind


@pytest.mark.parametrize(
    "path, value, ok",
    [
        ("/healthz", "no-store", True),
        ("/healthz", "public, max-age=5", False),
        ("/v1/log/root", "public, max-age=60", True),
        ("/v1/log/root", "public, max-age=300", True),
        ("/v1/log/root", "public, max-age=301", False),
        ("/v1/log/root", "public, max-age=60, immutable", False),
        ("/v1/log/root", "no-store", False),
        ("/v1/log/root", None, False),
        ("/v1/log/entry/1", "public, max-age=31536000, immutable", True),
        ("/v1/log/entry/1", "immutable, max-age=31536000, public", True),
        ("/v1/log/entry/1", "public, max-age=60", False),
        ("/v1/log/entry/1", "public, max-age=31536000", False),
        ("/v1/log/proof/1?tree_size=4", "max-age=31536000, immutable", False),
    ],
)
def test_cache_control_problem(path: str, value: str | None, ok: bool) -> None:
    assert (cache_control_problem(path, value) is None) == ok


def test_etag_problem() -> None:
    body = b'{"tree_size":1}'
    good = f'"{hashlib.sha256(body).hexdigest()}"'
    assert etag_problem(good, body) is None
    assert etag_problem(None, body) is None  # none to check (the caller may require one)
    assert "weak" in (etag_problem("W/" + good, body) or "")
    assert "SHA-256 of the body" in (etag_problem(good, b"other") or "")
    assert "not" in (etag_problem(good.upper(), body) or "")
    assert "not" in (etag_problem(good.strip('"'), body) or "")


def test_judge_lag_without_a_deployment_to_ask() -> None:
    # Same size, different roots: split before any proof is asked for.
    a, b = Tree(5, bytes(32)), Tree(5, b"\x01" * 32)
    problem = judge_lag(None, older=a, newer=b, older_response=_response())  # type: ignore[arg-type]
    assert problem is not None and problem.startswith("split view")


def test_root_of_size_is_the_root_of_the_prefix(client: TLogClient) -> None:
    for size in (1, 2, 3, 7, 8, 64, 99, 100):
        assert root_of_size(client, size) == _tree(size)


def test_prove_extends(client: TLogClient) -> None:
    served = _tree(ENTRIES)
    assert "verified" in prove_extends(client, _tree(37), served)
    assert prove_extends(client, served, served) == f"same tree {ENTRIES}"
    with pytest.raises(ProofError):
        prove_extends(client, Tree(37, bytes(32)), served)
    with pytest.raises(ProofError, match="two different roots"):
        prove_extends(client, Tree(ENTRIES, bytes(32)), served)
    with pytest.raises(ProofError, match="shrank"):
        prove_extends(client, served, _tree(37))


def test_check_recorded_both_ways(client: TLogClient) -> None:
    # The served tree is older than the recorded one: it must be a prefix of it.
    assert "older than the recorded" in check_recorded(client, _tree(ENTRIES), _tree(50))
    assert "verified" in check_recorded(client, _tree(50), _tree(ENTRIES))
    with pytest.raises(ProofError):
        check_recorded(client, Tree(ENTRIES, bytes(32)), _tree(50))


def test_judge_lag(client: TLogClient) -> None:
    older, newer = _tree(60), _tree(ENTRIES)
    fresh = _response(age="30", cache_control="public, max-age=60")
    assert judge_lag(client, older=older, newer=newer, older_response=fresh) is None
    stale = _response(age="61", cache_control="public, max-age=60")
    assert "stale" in (judge_lag(client, older=older, newer=newer, older_response=stale) or "")
    no_age = _response(cache_control="public, max-age=60")
    assert "Age" in (judge_lag(client, older=older, newer=newer, older_response=no_age) or "")
    forged = Tree(60, bytes(32))
    problem = judge_lag(client, older=forged, newer=newer, older_response=fresh)
    assert problem is not None and problem.startswith("split view")


def test_no_proof_served_is_not_one_log_and_no_proof_of_a_fork(client: TLogClient) -> None:
    """A proof that did not verify shows a split view; one that was not served usable (a
    404, a malformed body) shows only that: the lag is not allowed, nothing is proved."""
    older, newer = _tree(60), _tree(ENTRIES)
    fresh = _response(age="30", cache_control="public, max-age=60")

    def unserved(a: Tree, b: Tree, view: str) -> str:
        raise FormatError(f"consistency proof answered 404 on the {view}")

    canary = (Tree(60, older.root_hash, "v1"), Tree(ENTRIES, newer.root_hash, "v2"))
    for a, b in ((older, newer), canary):
        problem = judge_lag(client, older=a, newer=b, older_response=fresh, prove=unserved)
        assert problem is not None and problem.startswith("no usable proof that tree 60"), problem
        assert "split view" not in problem and "answered 404" in problem


def test_verify_inclusion_at(client: TLogClient) -> None:
    tree = _tree(ENTRIES)
    assert verify_inclusion_at(client, 42, tree).ok
    wrong = verify_inclusion_at(client, 42, Tree(ENTRIES, bytes(32)))
    assert not wrong.ok and "inclusion proof: calculated root" in (wrong.problem or "")
    beyond = verify_inclusion_at(client, ENTRIES + 5, Tree(ENTRIES + 10, bytes(32)))
    assert not beyond.ok and "404" in (beyond.problem or "")


def test_staleness_honours_the_origins_stale_while_revalidate() -> None:
    older = _tree(60)
    swr = "public, max-age=60, stale-while-revalidate=120"
    problem, note = staleness(older, _response(age="150"), swr)
    assert problem is None and note is not None and "stale-while-revalidate=120" in note
    problem, _ = staleness(older, _response(age="181"), swr)
    assert problem is not None and "max-age is 60 + stale-while-revalidate 120" in problem
    # Without the origin's word, past max-age is stale: no window is assumed.
    assert staleness(older, _response(age="61"), "public, max-age=60")[0]
    # A shared cache keeps by s-maxage; no-cache allows no age at all.
    assert staleness(older, _response(age="90"), "public, max-age=30, s-maxage=120") == (
        None,
        None,
    )
    assert staleness(older, _response(age="1"), "no-cache")[0]
    assert staleness(older, _response(age="0"), "no-cache") == (None, None)


@pytest.mark.parametrize(
    "source, age, stale",
    [
        # Beyond the spec's table a directive buys nothing more than the table allows.
        ("public, max-age=60, stale-while-revalidate=31536000", 259200, True),
        ("public, max-age=60, stale-while-revalidate=31536000", 3660, False),
        ("public, max-age=60, s-maxage=900", 600, True),
        ("public, max-age=60, s-maxage=900", 300, False),
        ("public, max-age=86400", 301, True),
        (None, 1, True),
    ],
)
def test_the_allowance_is_bounded_by_the_spec_table(
    source: str | None, age: int, stale: bool
) -> None:
    problem, _ = staleness(_tree(60), _response(age=str(age)), source)
    assert (problem is not None) is stale, problem


def test_judge_lag_takes_the_allowance_from_the_origin(client: TLogClient) -> None:
    older, newer = _tree(60), _tree(ENTRIES)
    # The reference origin sends max-age=60: an edge copy that says 300 of itself is
    # judged by the origin's 60.
    rewritten = _response(age="200", cache_control="public, max-age=300")
    problem = judge_lag(client, older=older, newer=newer, older_response=rewritten)
    assert problem is not None and "the origin's max-age is 60" in problem
    fresh = _response(age="30", cache_control="public, max-age=300")
    assert judge_lag(client, older=older, newer=newer, older_response=fresh) is None


def test_verify_latest_proof_at_the_current_size(client: TLogClient) -> None:
    assert verify_latest_proof(client, 42, _tree(ENTRIES)).ok
    # The served root was read at an older size: the proof is at the current one, whose
    # root must extend it.
    assert verify_latest_proof(client, 42, _tree(70)).ok
    forged = verify_latest_proof(client, 42, Tree(70, bytes(32)))
    assert not forged.ok and forged.rule == "proof tree"


def test_origin_serving_asks_until_the_size_answers(client: TLogClient) -> None:
    first = client.get("/v1/log/root", view="origin")
    assert origin_serving(client, ENTRIES, first) is first
    # No pod serves more: the bounded asks end with the last answer.
    last = origin_serving(client, ENTRIES + 1, first)
    assert last.status == 200 and b'"tree_size":100' in last.body


def test_a_5xx_in_the_new_comparisons_is_what_was_answered(make_refstack: MakeRefstack) -> None:
    # Proofs answer 500 on both views: the comparisons across views, across clients and of
    # validators raise `ServerError` (Ingress5xxHigh, verify.served), never a difference.
    stack = make_refstack(entries=ENTRIES, faults=["proof-5xx"])
    tree = _tree(ENTRIES)
    with TLogClient(stack.info.edge_url, timeout=5) as c:
        with pytest.raises(ServerError, match="500"):
            compare_proofs(c, [3, 7], tree, tree)
        with pytest.raises(ServerError, match="500"):
            read_as_every_client(c, [proof_path(3, ENTRIES)], release=None)
        first = c.get(PATH_ROOT)
        assert revalidation_problems(c, first) == []  # the root answers: nothing wrong
        entry = c.get(entry_path(3))
        assert entry.status == 200 and read_as_every_client(c, [entry_path(3)], release=None) == []
        # A 500 to the first read leaves nothing to revalidate with; to the conditional
        # requests themselves (after a 200 a cache kept) it is what was answered.
        proof = c.get(proof_path(3, ENTRIES))
        assert proof.status == 500 and revalidation_problems(c, proof) == []
        kept = Response(
            url=proof.url,
            path=proof.path,
            view="edge",
            status=200,
            headers=httpx.Headers({"ETag": '"' + "1" * 64 + '"'}),
            body=b"{}",
            elapsed=0.0,
        )
        with pytest.raises(ServerError, match="500"):
            revalidation_problems(c, kept)
