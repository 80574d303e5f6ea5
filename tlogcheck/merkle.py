"""RFC 9162 Merkle trees over SHA-256: hashes, a streaming root, a stored tree, proof checks.

- `leaf_hash`, `node_hash`, `EMPTY_ROOT`: RFC 9162 §2.1.1.
- `RootBuilder`: the §2.1.2 stack; appends leaves one at a time in O(log n) memory.
- `StoredTree`: built once in O(n) for serving; the root of any prefix and inclusion /
  consistency proofs for any size in O(log n) look-ups of stored subtree hashes.
- `verify_inclusion`, `verify_consistency`: §2.1.3.2 and §2.1.4.2, step by step. They
  return nothing and raise `ProofError` naming the rule that failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from tlogcheck.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "ProofError",
    "RootBuilder",
    "StoredTree",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
_LEAF = b"\x00"
_NODE = b"\x01"
# Leaves hashed per batch by RootBuilder.extend: big enough to amortise the Python
# overhead, small enough to keep memory constant.
_BATCH = 1 << 12


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return _sha256(_LEAF + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || MTH(left) || MTH(right))."""
    return _sha256(_NODE + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1), as RFC 9162 §2.1.1 splits trees."""
    return 1 << ((n - 1).bit_length() - 1)


def _pair_up(level: list[bytes]) -> list[bytes]:
    """One level up a complete subtree: hash neighbours pairwise."""
    sha = _sha256
    return [sha(_NODE + a + b).digest() for a, b in zip(level[::2], level[1::2], strict=False)]


class RootBuilder:
    """The RFC 9162 §2.1.2 stack: roots of complete subtrees, at most one per size.

    Memory is O(log n) hashes whatever the number of leaves.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        # (height, hash) of complete subtrees, left to right, strictly decreasing heights.
        self._stack: list[tuple[int, bytes]] = []

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash (32 bytes)."""
        stack = self._stack
        height = 0
        digest = leaf
        while stack and stack[-1][0] == height:
            digest = _sha256(_NODE + stack.pop()[1] + digest).digest()
            height += 1
        stack.append((height, digest))
        self._size += 1

    def append_entry(self, entry: bytes) -> None:
        """Append one entry (its leaf hash is computed here)."""
        self.append(_sha256(_LEAF + entry).digest())

    def extend_entries(self, entries: Iterable[bytes]) -> None:
        """Append many entries; aligned batches are hashed level by level, then pushed."""
        batch: list[bytes] = []
        sha = _sha256
        for entry in entries:
            batch.append(sha(_LEAF + entry).digest())
            if len(batch) == _BATCH:
                self._extend_leaves(batch)
                batch = []
        if batch:
            self._extend_leaves(batch)

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append many leaf hashes."""
        self._extend_leaves(list(leaves))

    def _extend_leaves(self, leaves: list[bytes]) -> None:
        # A batch collapses in one go only when the tree is aligned to its size;
        # otherwise (the first batch after an odd start, or a short tail) leaves go one by one.
        n = len(leaves)
        if n and n & (n - 1) == 0 and self._size % n == 0:
            level = leaves
            height = 0
            while len(level) > 1:
                level = _pair_up(level)
                height += 1
            stack = self._stack
            digest = level[0]
            while stack and stack[-1][0] == height:
                digest = _sha256(_NODE + stack.pop()[1] + digest).digest()
                height += 1
            stack.append((height, digest))
            self._size += n
            return
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """MTH of the leaves appended so far (EMPTY_ROOT for none)."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        digest = stack[-1][1]
        for _, left in reversed(stack[:-1]):
            digest = _sha256(_NODE + left + digest).digest()
        return digest


def root_of(entries: Iterable[bytes]) -> bytes:
    """MTH over entries (raw bytes, not leaf hashes)."""
    builder = RootBuilder()
    builder.extend_entries(entries)
    return builder.root()


class StoredTree:
    """Every complete-subtree hash of a log, kept for serving roots and proofs.

    Level h holds the hashes of the aligned subtrees of 2**h leaves, concatenated in one
    bytes object (32 bytes each): 2n hashes in all, about 64 MB for a million leaves.
    Any other subtree hash is at most one stored look-up per level.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._size = len(leaves)
        levels: list[bytes] = []
        level = list(leaves)
        while level:
            levels.append(b"".join(level))
            if len(level) < 2:
                break
            level = _pair_up(level)
        self._levels = levels

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> StoredTree:
        sha = _sha256
        return cls([sha(_LEAF + e).digest() for e in entries])

    @property
    def size(self) -> int:
        return self._size

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self._size:
            raise IndexError(f"leaf index {index} outside 0..{self._size - 1}")
        return self._levels[0][index * HASH_SIZE : (index + 1) * HASH_SIZE]

    def _stored(self, height: int, index: int) -> bytes:
        off = index * HASH_SIZE
        return self._levels[height][off : off + HASH_SIZE]

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) where start is aligned to the largest power of two <= end-start."""
        n = end - start
        if n & (n - 1) == 0:
            height = n.bit_length() - 1
            return self._stored(height, start >> height)
        k = _largest_power_of_two_below(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise IndexError(f"tree size {size} outside 0..{self._size}")

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (all of them by default)."""
        size = self._size if size is None else size
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf-side first."""
        size = self._size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise IndexError(f"leaf index {index} outside 0..{size - 1}")
        path: list[bytes] = []
        start, end, m = 0, size, index
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if m < k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start += k
                m -= k
        path.reverse()
        return path

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 (SUBPROOF with b = true)."""
        size2 = self._size if size2 is None else size2
        self._check_size(size2)
        if not 0 < size1 <= size2:
            raise IndexError(f"consistency needs 0 < first <= second, got {size1}, {size2}")
        proof: list[bytes] = []
        start, end, m, complete = 0, size2, size1, True
        while m != end - start:
            k = _largest_power_of_two_below(end - start)
            if m <= k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start += k
                m -= k
                complete = False
        if not complete:
            proof.append(self._subtree(start, end))
        proof.reverse()
        return proof


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} is {len(value)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: verify that `leaf_hash` is leaf `index` of the tree `root`."""
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root hash", root)
    for i, p in enumerate(proof):
        _check_hash(f"proof hash [{i}]", p)
    # Step 1.
    if index < 0 or tree_size < 0:
        raise ProofError(f"negative leaf index {index} or tree size {tree_size}")
    if index >= tree_size:
        raise ProofError(f"leaf index {index} >= tree size {tree_size}")
    # Steps 2-3.
    fn, sn = index, tree_size - 1
    r = leaf_hash
    # Step 4.
    for i, p in enumerate(proof):
        if sn == 0:  # 4a
            raise ProofError(
                f"proof has {len(proof) - i} extra hash(es) beyond the path for leaf {index} "
                f"of {tree_size} (sn reached 0)"
            )
        if fn & 1 or fn == sn:  # 4b
            r = _sha256(_NODE + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(_NODE + r + p).digest()
        fn >>= 1  # 4c
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise ProofError(
            f"proof is missing hashes for leaf {index} of {tree_size} "
            f"({len(proof)} given, sn = {sn} after the path)"
        )
    if r != root:
        raise ProofError(
            f"calculated root {r.hex()} does not match root {root.hex()} "
            f"(leaf {index} of {tree_size})"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 §2.1.4.2: verify that tree (size2, root2) extends tree (size1, root1)."""
    _check_hash("first root hash", root1)
    _check_hash("second root hash", root2)
    for i, p in enumerate(proof):
        _check_hash(f"proof hash [{i}]", p)
    if size1 <= 0:
        raise ProofError(f"first tree size {size1} must be positive")
    if size1 > size2:
        raise ProofError(f"first tree size {size1} > second tree size {size2}")
    if size1 == size2:
        if proof:
            raise ProofError(f"sizes are equal ({size1}) but the proof is not empty")
        if root1 != root2:
            raise ProofError(
                f"sizes are equal ({size1}) but roots differ: {root1.hex()} != {root2.hex()}"
            )
        return
    # Step 1.
    if not proof:
        raise ProofError(f"empty consistency proof from {size1} to {size2}")
    # Step 2.
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Step 3.
    fn, sn = size1 - 1, size2 - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for i, c in enumerate(path[1:], start=1):
        if sn == 0:  # 6a
            raise ProofError(
                f"proof has {len(path) - i} extra hash(es) beyond the path from "
                f"{size1} to {size2} (sn reached 0)"
            )
        if fn & 1 or fn == sn:  # 6b
            fr = _sha256(_NODE + c + fr).digest()
            sr = _sha256(_NODE + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(_NODE + sr + c).digest()
        fn >>= 1  # 6c
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError(
            f"proof is missing hashes from {size1} to {size2} ({len(proof)} given, "
            f"sn = {sn} after the path)"
        )
    if fr != root1:
        raise ProofError(
            f"calculated first root {fr.hex()} does not match root1 {root1.hex()} "
            f"(tree size {size1})"
        )
    if sr != root2:
        raise ProofError(
            f"calculated second root {sr.hex()} does not match root2 {root2.hex()} "
            f"(tree size {size2})"
        )
