"""RFC 9162 Merkle trees: roots, proofs and their verification.

Three independent references check `tlogcheck.merkle`:

- the RFC's definitions written out here as plain recursions: MTH (§2.1.1), PATH
  (§2.1.3.1) and PROOF / SUBPROOF (§2.1.4.1), over the entries themselves;
- verifiers that rebuild the roots by reading a proof back through those recursions,
  instead of the bit arithmetic of §2.1.3.2 / §2.1.4.2 that `merkle.py` follows;
- the transparency-dev/merkle proof vectors in tests/vectors/rfc9162-merkle.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tlogcheck.errors import ProofError, TLogCheckError
from tlogcheck.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    RootBuilder,
    StoredTree,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "vectors" / "rfc9162-merkle"
SETTINGS = settings(database=None, deadline=None, max_examples=300)


# --- The RFC's definitions, written out -------------------------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1), found by counting up."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1, over entries."""
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.4.1."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of §2.1.4.1."""
    return subproof(m, d, True)


class _Short(Exception):
    pass


def ref_inclusion_ok(leaf: bytes, m: int, n: int, audit_path: Sequence[bytes], root: bytes) -> bool:
    """True when `audit_path` is PATH(m, D[n]) of some tree with `leaf` at m and `root`.

    PATH's last hash is the sibling at the top, so the path is read from its end while
    descending the recursion.
    """
    if not 0 <= m < n or any(len(x) != 32 for x in (leaf, root, *audit_path)):
        return False
    rest = list(audit_path)

    def rebuild(m: int, n: int) -> bytes:
        if n == 1:
            return leaf
        if not rest:
            raise _Short
        sibling = rest.pop()
        k = _k(n)
        if m < k:
            return _h(b"\x01" + rebuild(m, k) + sibling)
        return _h(b"\x01" + sibling + rebuild(m - k, n - k))

    try:
        calculated = rebuild(m, n)
    except _Short:
        return False
    return not rest and calculated == root


def ref_consistency_ok(
    m: int, n: int, consistency: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """True when `consistency` is PROOF(m, D[n]) of some tree with those two roots."""
    if not 0 < m <= n or any(len(x) != 32 for x in (root1, root2, *consistency)):
        return False
    rest = list(consistency)

    def take() -> bytes:
        if not rest:
            raise _Short
        return rest.pop()

    def rebuild(m: int, n: int, b: bool) -> tuple[bytes, bytes]:
        """(MTH of the first m leaves, MTH of all n) of this subtree."""
        if m == n:
            if b:
                return root1, root1
            x = take()
            return x, x
        k = _k(n)
        if m <= k:
            right = take()
            old, new = rebuild(m, k, b)
            return old, _h(b"\x01" + new + right)
        left = take()
        old, new = rebuild(m - k, n - k, False)
        return _h(b"\x01" + left + old), _h(b"\x01" + left + new)

    try:
        old, new = rebuild(m, n, True)
    except _Short:
        return False
    return not rest and old == root1 and new == root2


def accepts(fn: Callable[..., None], *args: Any) -> bool:
    try:
        fn(*args)
    except ProofError:
        return False
    return True


ENTRIES = [b'{"i":%d}' % i for i in range(2100)]
TREE = StoredTree.from_entries(ENTRIES)


# --- Hashes -----------------------------------------------------------------------------


def test_hashes_are_the_rfc_ones() -> None:
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == mth([])
    assert HASH_SIZE == 32
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    a, b = _h(b"a"), _h(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()


def test_known_answer_root_of_the_rfc6962_test_leaves() -> None:
    # The eight leaves of the RFC 6962 reference tests; the tree is the vectors' tree "1".
    leaves = [
        bytes.fromhex(x)
        for x in (
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        )
    ]
    want = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert root_of(leaves).hex() == want
    assert StoredTree.from_entries(leaves).root().hex() == want
    assert mth(leaves).hex() == want


# --- Roots ------------------------------------------------------------------------------


def test_every_prefix_root_agrees_with_the_rfc_definition() -> None:
    entries = ENTRIES[:300]
    stored = StoredTree.from_entries(entries)
    builder = RootBuilder()
    assert stored.root(0) == builder.root() == EMPTY_ROOT
    for n in range(1, len(entries) + 1):
        builder.append_entry(entries[n - 1])
        want = mth(entries[:n])
        assert stored.root(n) == want, n
        assert builder.root() == want, n
        assert builder.size == n
        assert root_of(entries[:n]) == want, n
    assert stored.root() == stored.root(len(entries))
    for bad in (-1, len(entries) + 1):
        with pytest.raises(IndexError):
            stored.root(bad)


@pytest.mark.parametrize("start", [0, 1, 3, 4095, 4096, 4097, 6144])
@pytest.mark.parametrize("count", [4096 + 1, 2 * 4096 + 3])
def test_root_builder_across_batch_boundaries(start: int, count: int) -> None:
    entries = [b"batch %d" % i for i in range(start + count)]
    want = mth(entries)
    by_entries = RootBuilder()
    for e in entries[:start]:
        by_entries.append_entry(e)
    by_entries.extend_entries(iter(entries[start:]))
    assert by_entries.size == start + count
    assert by_entries.root() == want

    by_leaves = RootBuilder()
    by_leaves.extend([leaf_hash(e) for e in entries[:start]])
    by_leaves.extend([leaf_hash(e) for e in entries[start:]])
    assert by_leaves.root() == want
    # Adding to a builder that already went through batches keeps it consistent.
    by_entries.append_entry(b"one more")
    assert by_entries.root() == mth([*entries, b"one more"])


@settings(SETTINGS, max_examples=100)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=8))
def test_root_builder_any_split_into_extends(chunks: list[int]) -> None:
    entries = [b"split %d" % i for i in range(sum(chunks))]
    stored = StoredTree.from_entries(entries)
    builder = RootBuilder()
    pos = 0
    for c in chunks:
        builder.extend_entries(entries[pos : pos + c])
        pos += c
        assert builder.root() == stored.root(pos)
    assert builder.root() == mth(entries)


def test_stored_tree_leaf_hashes() -> None:
    assert TREE.size == len(ENTRIES)
    for i in (0, 1, 1023, len(ENTRIES) - 1):
        assert TREE.leaf_hash(i) == _h(b"\x00" + ENTRIES[i])
    for bad in (-1, len(ENTRIES)):
        with pytest.raises(IndexError):
            TREE.leaf_hash(bad)


def test_empty_stored_tree() -> None:
    empty = StoredTree([])
    assert empty.size == 0
    assert empty.root() == EMPTY_ROOT
    with pytest.raises(IndexError):
        empty.inclusion_proof(0)
    with pytest.raises(IndexError):
        empty.consistency_proof(1)


# --- Proofs generated = proofs defined ---------------------------------------------------


def test_every_small_proof_equals_the_rfc_recursion_and_verifies() -> None:
    entries = ENTRIES[:48]
    stored = StoredTree.from_entries(entries)
    for n in range(1, len(entries) + 1):
        d = entries[:n]
        root = mth(d)
        for m in range(n):
            got = stored.inclusion_proof(m, n)
            assert got == path(m, d), (m, n)
            verify_inclusion(leaf_hash(d[m]), m, n, got, root)
        for m in range(1, n + 1):
            got = stored.consistency_proof(m, n)
            assert got == proof(m, d), (m, n)
            verify_consistency(m, n, got, mth(entries[:m]), root)


def test_proof_ranges_are_checked() -> None:
    with pytest.raises(IndexError):
        TREE.inclusion_proof(5, 5)
    with pytest.raises(IndexError):
        TREE.inclusion_proof(-1, 5)
    with pytest.raises(IndexError):
        TREE.inclusion_proof(0, TREE.size + 1)
    with pytest.raises(IndexError):
        TREE.consistency_proof(0, 5)
    with pytest.raises(IndexError):
        TREE.consistency_proof(6, 5)
    with pytest.raises(IndexError):
        TREE.consistency_proof(1, TREE.size + 1)


sizes = st.integers(1, len(ENTRIES))


@st.composite
def inclusion_statements(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(sizes)
    return draw(st.integers(0, n - 1)), n


@st.composite
def consistency_statements(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(sizes)
    return draw(st.integers(1, n)), n


@SETTINGS
@given(inclusion_statements())
def test_generated_inclusion_proofs_verify(statement: tuple[int, int]) -> None:
    m, n = statement
    audit_path = TREE.inclusion_proof(m, n)
    root = TREE.root(n)
    assert root == mth(ENTRIES[:n])
    assert audit_path == path(m, ENTRIES[:n])
    verify_inclusion(TREE.leaf_hash(m), m, n, audit_path, root)
    assert ref_inclusion_ok(TREE.leaf_hash(m), m, n, audit_path, root)


@SETTINGS
@given(consistency_statements())
def test_generated_consistency_proofs_verify(statement: tuple[int, int]) -> None:
    m, n = statement
    consistency = TREE.consistency_proof(m, n)
    assert consistency == proof(m, ENTRIES[:n])
    verify_consistency(m, n, consistency, TREE.root(m), TREE.root(n))
    assert ref_consistency_ok(m, n, consistency, TREE.root(m), TREE.root(n))


# --- Mutations are rejected --------------------------------------------------------------


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


hash32 = st.binary(min_size=32, max_size=32)


@st.composite
def mutated_hashes(draw: st.DrawFn, hashes: list[bytes]) -> list[bytes]:
    """One change to a list of hashes; each one changes what the list proves."""
    kinds = ["add"]
    if hashes:
        kinds += ["flip", "resize", "drop"]
    if len(hashes) >= 2:
        kinds += ["swap"]
    kind = draw(st.sampled_from(kinds))
    out = list(hashes)
    if kind == "add":
        extra = draw(st.one_of(hash32, st.sampled_from(out))) if out else draw(hash32)
        out.insert(draw(st.integers(0, len(out))), extra)
        return out
    j = draw(st.integers(0, len(out) - 1))
    if kind == "flip":
        out[j] = _flip(out[j], draw(st.integers(0, 255)))
    elif kind == "resize":
        out[j] = out[j][: draw(st.integers(0, 31))] if draw(st.booleans()) else out[j] + b"\0"
    elif kind == "drop":
        del out[j]
    else:
        i = draw(st.integers(0, len(out) - 1).filter(lambda i: i != j))
        out[i], out[j] = out[j], out[i]
    return out


@SETTINGS
@given(inclusion_statements(), st.data())
def test_any_single_mutation_of_an_inclusion_proof_is_rejected(
    statement: tuple[int, int], data: st.DataObject
) -> None:
    m, n = statement
    leaf, audit_path, root = TREE.leaf_hash(m), TREE.inclusion_proof(m, n), TREE.root(n)
    target = data.draw(st.sampled_from(["leaf", "root", "path", "index", "size", "other-root"]))
    args: list[Any] = [leaf, m, n, audit_path, root]
    if target == "leaf":
        args[0] = _flip(leaf, data.draw(st.integers(0, 255)))
    elif target == "root":
        args[4] = _flip(root, data.draw(st.integers(0, 255)))
    elif target == "other-root":
        other = data.draw(st.integers(0, len(ENTRIES)).filter(lambda s: s != n))
        args[4] = TREE.root(other)
    elif target == "path":
        args[3] = data.draw(mutated_hashes(audit_path))
    elif target == "index":
        args[1] = data.draw(st.integers(-2, n + 3).filter(lambda i: i != m))
    else:
        args[2] = data.draw(st.integers(-1, 2 * n + 2).filter(lambda s: s != n))
    accepted = accepts(verify_inclusion, *args)
    # Another size can have the same path shape for this leaf (leaf 0 of 3 and of 4 both
    # take two right siblings): the proof then still yields `root`, which only the
    # checkpoint's size-and-root pairing rules out. There, agree with the reference.
    if target == "size":
        assert accepted == ref_inclusion_ok(*args)
    else:
        assert not accepted, target
        assert not ref_inclusion_ok(*args)


@SETTINGS
@given(consistency_statements(), st.data())
def test_any_single_mutation_of_a_consistency_proof_is_rejected(
    statement: tuple[int, int], data: st.DataObject
) -> None:
    m, n = statement
    consistency, root1, root2 = TREE.consistency_proof(m, n), TREE.root(m), TREE.root(n)
    target = data.draw(st.sampled_from(["root1", "root2", "proof", "size1", "size2", "swap"]))
    if target == "swap":
        assume(root1 != root2)
    args: list[Any] = [m, n, consistency, root1, root2]
    if target == "root1":
        args[3] = _flip(root1, data.draw(st.integers(0, 255)))
    elif target == "root2":
        args[4] = _flip(root2, data.draw(st.integers(0, 255)))
    elif target == "swap":
        args[3], args[4] = root2, root1
    elif target == "proof":
        args[2] = data.draw(mutated_hashes(consistency))
    elif target == "size1":
        args[0] = data.draw(st.integers(-1, n + 3).filter(lambda s: s != m))
    else:
        args[1] = data.draw(st.integers(-1, 2 * n + 2).filter(lambda s: s != n))
    accepted = accepts(verify_consistency, *args)
    if target in ("size1", "size2"):
        # As for inclusion: another pair of sizes can share the proof's shape.
        assert accepted == ref_consistency_ok(*args)
    else:
        assert not accepted, target
        assert not ref_consistency_ok(*args)


def test_a_size_with_the_same_path_shape_verifies_as_the_rfc_says() -> None:
    # Leaf 0 of 3 and of 4: both paths are (right sibling, right sibling).
    d = ENTRIES[:3]
    verify_inclusion(leaf_hash(d[0]), 0, 4, path(0, d), mth(d))
    assert ref_inclusion_ok(leaf_hash(d[0]), 0, 4, path(0, d), mth(d))
    # ... while most other sizes are rejected.
    for size in (2, 5, 6, 7, 8):
        with pytest.raises(ProofError):
            verify_inclusion(leaf_hash(d[0]), 0, size, path(0, d), mth(d))


# --- Each rule has its own message -------------------------------------------------------


def _message(fn: Callable[..., None], *args: Any) -> str:
    with pytest.raises(ProofError) as info:
        fn(*args)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TLogCheckError)
    return str(info.value)


def test_inclusion_rejections_name_their_rule() -> None:
    n = 8
    leaf, audit_path, root = TREE.leaf_hash(5), TREE.inclusion_proof(5, n), TREE.root(n)
    assert ">= tree size" in _message(verify_inclusion, leaf, 8, n, audit_path, root)
    assert ">= tree size" in _message(verify_inclusion, leaf, 0, 0, [], root)
    assert "negative" in _message(verify_inclusion, leaf, -1, n, audit_path, root)
    assert "leaf hash is 31 bytes, not 32" in _message(
        verify_inclusion, leaf[:31], 5, n, audit_path, root
    )
    assert "root hash is 0 bytes, not 32" in _message(verify_inclusion, leaf, 5, n, audit_path, b"")
    assert "proof hash [1] is 33 bytes, not 32" in _message(
        verify_inclusion, leaf, 5, n, [audit_path[0], audit_path[1] + b"x", audit_path[2]], root
    )
    extra = _message(verify_inclusion, leaf, 5, n, [*audit_path, root], root)
    assert "1 extra" in extra and "sn reached 0" in extra
    missing = _message(verify_inclusion, leaf, 5, n, audit_path[:1], root)
    assert "missing 2" in missing
    assert "missing 3" in _message(verify_inclusion, leaf, 5, n, [], root)
    assert "does not match" in _message(verify_inclusion, leaf, 4, n, audit_path, root)
    # A hash of the wrong length is named as such whatever else is wrong.
    for bad in ([*audit_path, b""], audit_path[:2] + [b"x" * 64], [b""]):
        assert "is 0 bytes, not 32" in _message(verify_inclusion, leaf, 5, n, bad, root) or (
            "is 64 bytes, not 32" in _message(verify_inclusion, leaf, 5, n, bad, root)
        )
    assert "not 32" in _message(verify_inclusion, leaf, 9, n, [b""], root)
    assert "not 32" in _message(verify_inclusion, leaf, -1, n, [b""], root)
    # A one-leaf tree needs no path, and accepts none.
    verify_inclusion(TREE.leaf_hash(0), 0, 1, [], TREE.root(1))
    assert "extra" in _message(verify_inclusion, TREE.leaf_hash(0), 0, 1, [root], TREE.root(1))


def test_consistency_rejections_name_their_rule() -> None:
    m, n = 6, 8
    c, r1, r2 = TREE.consistency_proof(m, n), TREE.root(m), TREE.root(n)
    assert "must be positive" in _message(verify_consistency, 0, n, c, r1, r2)
    assert "> second tree size" in _message(verify_consistency, 9, n, c, r1, r2)
    assert "first root hash is 31 bytes, not 32" in _message(
        verify_consistency, m, n, c, r1[:31], r2
    )
    assert "second root hash is 64 bytes, not 32" in _message(
        verify_consistency, m, n, c, r1, r2 * 2
    )
    assert "proof hash [2] is 0 bytes, not 32" in _message(
        verify_consistency, m, n, [c[0], c[1], b""], r1, r2
    )
    assert "empty consistency proof" in _message(verify_consistency, m, n, [], r1, r2)
    assert "proof hash [3] is 0 bytes, not 32" in _message(
        verify_consistency, m, n, [*c, b""], r1, r2
    )
    shifted = [c[0][:31], c[0][31:] + c[1], *c[2:]]
    assert "proof hash [0] is 31 bytes, not 32" in _message(
        verify_consistency, m, n, shifted, r1, r2
    )
    assert "1 extra" in _message(verify_consistency, m, n, [*c, r1], r1, r2)
    assert "missing 1" in _message(verify_consistency, m, n, c[:-1], r1, r2)
    assert "first root" in _message(verify_consistency, m, n, c, r2, r2)
    assert "second root" in _message(verify_consistency, m, n, c, r1, r1)
    # Equal sizes: an empty proof and equal roots, nothing else.
    verify_consistency(n, n, [], r2, r2)
    assert "extra" in _message(verify_consistency, n, n, [r2], r2, r2)
    assert "roots differ" in _message(verify_consistency, n, n, [], r1, r2)


def test_length_messages_give_the_rfc_path_length() -> None:
    # The counts in the messages come from a closed form; the recursion says what they are.
    entries = ENTRIES[:70]
    stored = StoredTree.from_entries(entries)
    junk = _h(b"junk")
    for n in range(1, len(entries) + 1):
        root = stored.root(n)
        for m in range(n):
            p = stored.inclusion_proof(m, n)
            want = f"has {len(p)} "
            assert want in _message(verify_inclusion, stored.leaf_hash(m), m, n, [*p, junk], root)
            if p:
                msg = _message(verify_inclusion, stored.leaf_hash(m), m, n, p[:-1], root)
                assert "missing 1" in msg and want in msg
        for m in range(1, n):
            c = stored.consistency_proof(m, n)
            r1 = stored.root(m)
            want = f"has {len(c)} "
            assert want in _message(verify_consistency, m, n, [*c, junk], r1, root)
            if len(c) > 1:
                msg = _message(verify_consistency, m, n, c[:-1], r1, root)
                assert "missing 1" in msg and want in msg


# --- The transparency-dev/merkle vectors -------------------------------------------------


def _cases() -> list[Path]:
    return sorted(VECTORS.glob("*/*/*.json"))


def test_vectors_are_all_there() -> None:
    cases = {p.relative_to(VECTORS).as_posix() for p in _cases()}
    assert (VECTORS / "LICENSE").is_file() and (VECTORS / "README.md").is_file()
    for tree in ("0", "1", "2", "single-entry"):
        assert any(c.startswith(f"inclusion/{tree}/") for c in cases)
    for tree in ("0", "1", "2"):
        assert f"consistency/{tree}/happy-path.json" in cases
    assert len(cases) >= 90


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.relative_to(VECTORS).as_posix())
def test_vector(case: Path) -> None:
    v = json.loads(case.read_text())
    hashes = [_b64(x) for x in v["proof"] or []]
    if "leafIdx" in v:
        args: tuple[Any, ...] = (
            _b64(v["leafHash"]),
            v["leafIdx"],
            v["treeSize"],
            hashes,
            _b64(v["root"]),
        )
        fn: Callable[..., None] = verify_inclusion
        ref = ref_inclusion_ok(*args)
    else:
        args = (v["size1"], v["size2"], hashes, _b64(v["root1"]), _b64(v["root2"]))
        fn = verify_consistency
        ref = ref_consistency_ok(*args)
    assert ref == (not v["wantErr"]), "the reference verifier disagrees with the vector"
    if v["wantErr"]:
        assert _message(fn, *args)
    else:
        fn(*args)
