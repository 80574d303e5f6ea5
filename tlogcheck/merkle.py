"""RFC 9162 Merkle trees over SHA-256: hashes, a streaming root, a stored tree, proof checks.

- `leaf_hash`, `node_hash`, `EMPTY_ROOT`: RFC 9162 §2.1.1.
- `RootBuilder`: the §2.1.2 stack; appends leaves one at a time in O(log n) memory.
- `StoredTree`: built once in O(n) for serving; the root of any prefix and inclusion /
  consistency proofs for any size in O(log n) look-ups of stored subtree hashes.
- `verify_inclusion`, `verify_consistency`: §2.1.3.2 and §2.1.4.2, step by step (the
  inclusion loop split into the two phases its step 4 goes through, as it runs once per
  entry checked). They return nothing and raise `ProofError` naming the rule that failed.
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
_ONLY_HASH_SIZE = {HASH_SIZE}
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
_LEAF = b"\x00"
_NODE = b"\x01"
# Leaves hashed per batch by RootBuilder.extend: big enough to amortise the Python
# overhead, small enough to keep memory constant.
_BATCH = 1 << 12
# Border subtree hashes a StoredTree keeps: a few per tree size asked about.
_BORDER_CACHE = 1 << 12


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
        # Leaves go in as complete subtrees, each as large as the current size allows:
        # a subtree of 2**h leaves may only start at a multiple of 2**h. From an unaligned
        # start the chunks grow 1, 2, 4, ... until aligned, so no batch degrades to
        # one-by-one appends.
        pos, n = 0, len(leaves)
        while pos < n:
            chunk = 1 << ((n - pos).bit_length() - 1)
            size = self._size
            if size and size & -size < chunk:
                chunk = size & -size
            self._push_subtree(leaves[pos : pos + chunk])
            pos += chunk

    def _push_subtree(self, level: list[bytes]) -> None:
        """Push the leaves of one aligned complete subtree (a power-of-two count)."""
        n = len(level)
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
    Any other subtree hash is at most one stored look-up per level; those (the right
    border of a tree size, shared by every proof for that size) are cached.
    """

    __slots__ = ("_border", "_levels", "_size")

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
        self._border: dict[tuple[int, int], bytes] = {}

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

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) where start is aligned to the largest power of two <= end-start."""
        n = end - start
        if n & (n - 1) == 0:
            height = n.bit_length() - 1
            off = (start >> height) * HASH_SIZE
            return self._levels[height][off : off + HASH_SIZE]
        border = self._border
        digest = border.get((start, end))
        if digest is not None:
            return digest
        # §2.1.1 splits at the largest power of two, so the range is its complete subtrees,
        # largest first, folded from the right.
        parts: list[bytes] = []
        pos, rest = start, n
        while rest:
            height = rest.bit_length() - 1
            off = (pos >> height) * HASH_SIZE
            parts.append(self._levels[height][off : off + HASH_SIZE])
            pos += 1 << height
            rest -= 1 << height
        digest = parts.pop()
        while parts:
            digest = _sha256(_NODE + parts.pop() + digest).digest()
        if len(border) >= _BORDER_CACHE:
            border.clear()
        border[(start, end)] = digest
        return digest

    def level_hashes(self, height: int, start: int, count: int) -> bytes:
        """`count` stored hashes of level `height` from number `start`, concatenated
        (a C2SP tile is one such run at a height that is a multiple of 8)."""
        nodes = self._size >> height
        if height < 0 or start < 0 or count < 0 or start + count > nodes:
            raise IndexError(
                f"hashes {start}..{start + count - 1} of level {height}: it holds {nodes}"
            )
        if count == 0:
            return b""
        return self._levels[height][start * HASH_SIZE : (start + count) * HASH_SIZE]

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
        """PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf-side first.

        Read level by level instead of by the recursion: below the level where leaf m and
        the last leaf n - 1 part ways, every sibling is a complete subtree except the one
        holding the last leaf; above it, each 1 bit of m is a complete left sibling.
        """
        size = self._size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise IndexError(f"leaf index {index} outside 0..{size - 1}")
        levels = self._levels
        path: list[bytes] = []
        inner = (index ^ (size - 1)).bit_length()
        for height in range(inner - 1):
            off = ((index >> height) ^ 1) * HASH_SIZE
            path.append(levels[height][off : off + HASH_SIZE])
        if inner:
            height = inner - 1
            start = ((index >> height) ^ 1) << height
            path.append(self._subtree(start, min(start + (1 << height), size)))
        for height in range(inner, size.bit_length()):
            if index >> height & 1:
                off = ((index >> height) ^ 1) * HASH_SIZE
                path.append(levels[height][off : off + HASH_SIZE])
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


def _inclusion_path_length(index: int, tree_size: int) -> int:
    """len(PATH(index, D[tree_size])): the levels below the split where the leaf and the
    last leaf part ways, plus one hash per left subtree above it."""
    inner = (index ^ (tree_size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_length(size1: int, size2: int) -> int:
    """len(PROOF(size1, D[size2])) for 0 < size1 < size2: the inclusion path of the last
    old leaf without the levels inside the largest complete subtree it closes, plus that
    subtree's hash unless it is the whole old tree."""
    shift = (size1 & -size1).bit_length() - 1
    seed = 0 if size1 == 1 << shift else 1
    return seed + _inclusion_path_length(size1 - 1, size2) - shift


def _reject_lengths(proof: Sequence[bytes], *hashes: tuple[str, bytes]) -> None:
    """Raise for the first hash that is not HASH_SIZE bytes, naming it."""
    for name, value in hashes:
        if len(value) != HASH_SIZE:
            raise ProofError(f"{name} is {len(value)} bytes, not {HASH_SIZE}")
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(f"proof hash [{i}] is {len(p)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: verify that `leaf_hash` is leaf `index` of the tree `root`.

    Every check raises `ProofError` with its own message: a hash that is not 32 bytes,
    "leaf index ... >= tree size", "extra" hashes (step 4a, sn reached 0), "missing"
    hashes (step 5, sn not 0), a calculated root that "does not match".
    """
    if len(leaf_hash) != HASH_SIZE or len(root) != HASH_SIZE:
        _reject_lengths((), ("leaf hash", leaf_hash), ("root hash", root))
    # The proof hashes' lengths are looked at only on the way to a rejection, to name the
    # culprit: each hashed input is 0x01, one proof hash and the 32-byte running hash, so
    # a proof hash of another length changes that input's length, and the root can then
    # only come out right through a SHA-256 collision.
    # Step 1.
    if index < 0 or index >= tree_size:
        _reject_lengths(proof)
        if index < 0:
            raise ProofError(f"negative leaf index {index}")
        raise ProofError(f"leaf index {index} >= tree size {tree_size}")
    # Steps 2-3.
    fn, sn = index, tree_size - 1
    r = leaf_hash
    # Step 4 runs in two phases, so the hot loop tests one bit per hash. While fn != sn,
    # 4b's "fn is equal to sn" cannot hold and sn is not 0: LSB(fn) alone picks the side.
    # From the level where fn == sn (the leaf's ancestor is on the right border), 4b skips
    # the levels without a sibling and puts every remaining hash on the left: one per
    # 1 bit of fn. So sn reaches 0 (4a, step 5) after exactly this many hashes:
    inner = (fn ^ sn).bit_length()
    want = inner + (fn >> inner).bit_count()
    if len(proof) != want:
        _reject_lengths(proof)
        if len(proof) > want:  # 4a
            raise ProofError(
                f"proof has {len(proof) - want} extra hash(es): {len(proof)} given, the path "
                f"for leaf {index} of {tree_size} has {want} (sn reached 0)"
            )
        raise ProofError(  # 5
            f"proof is missing {want - len(proof)} hash(es): {len(proof)} given, the path "
            f"for leaf {index} of {tree_size} has {want} (sn not 0 after the path)"
        )
    sha = _sha256
    for p in proof[:inner]:  # 4b-4c, fn != sn
        if fn & 1:
            r = sha(b"\x01" + p + r).digest()
        else:
            r = sha(b"\x01" + r + p).digest()
        fn >>= 1
    for p in proof[inner:]:  # 4b-4c, fn == sn
        r = sha(b"\x01" + p + r).digest()
    # Step 5.
    if r != root:
        _reject_lengths(proof)
        raise ProofError(
            f"calculated root {r.hex()} does not match root {root.hex()} "
            f"(leaf {index} of {tree_size})"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 §2.1.4.2: verify that tree (size2, root2) extends tree (size1, root1).

    Every check raises `ProofError` with its own message: a hash that is not 32 bytes,
    a first size that is not positive or is "> second tree size", equal sizes with a
    proof or with different roots, an "empty consistency proof" (step 1), "extra"
    hashes (step 6a), "missing" hashes and either calculated root that "does not match"
    (step 7).
    """
    # Checked before anything else, unlike inclusion: the seed hash is not always hashed
    # with a 32-byte running hash, and one check per recorded tree costs nothing.
    if (
        len(root1) != HASH_SIZE
        or len(root2) != HASH_SIZE
        or (proof and set(map(len, proof)) != _ONLY_HASH_SIZE)
    ):
        _reject_lengths(proof, ("first root hash", root1), ("second root hash", root2))
    if size1 <= 0:
        raise ProofError(f"first tree size {size1} must be positive")
    if size1 > size2:
        raise ProofError(f"first tree size {size1} > second tree size {size2}")
    # PROOF(m, D[m]) is empty (§2.1.4.1): the trees are the same one.
    if size1 == size2:
        if proof:
            raise ProofError(
                f"sizes are equal ({size1}) but the proof has {len(proof)} extra hash(es)"
            )
        if root1 != root2:
            raise ProofError(
                f"sizes are equal ({size1}) but roots differ: {root1.hex()} != {root2.hex()}"
            )
        return
    # Step 1.
    if not proof:
        raise ProofError(f"empty consistency proof from {size1} to {size2}")
    # Step 2.
    path: Sequence[bytes] = proof
    if size1 & (size1 - 1) == 0:
        path = [root1, *proof]
    # Step 3.
    fn, sn = size1 - 1, size2 - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    sha = _sha256
    # Step 6.
    for c in path[1:]:
        if sn == 0:  # 6a
            want = _consistency_proof_length(size1, size2)
            raise ProofError(
                f"proof has {len(proof) - want} extra hash(es): {len(proof)} given, the proof "
                f"from {size1} to {size2} has {want} (sn reached 0)"
            )
        if fn & 1 or fn == sn:  # 6b
            fr = sha(b"\x01" + c + fr).digest()
            sr = sha(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha(b"\x01" + sr + c).digest()
        fn >>= 1  # 6c
        sn >>= 1
    # Step 7.
    if sn != 0:
        want = _consistency_proof_length(size1, size2)
        raise ProofError(
            f"proof is missing {want - len(proof)} hash(es): {len(proof)} given, the proof "
            f"from {size1} to {size2} has {want} (sn = {sn} after the path)"
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
