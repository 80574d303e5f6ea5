"""Merkle proof figures on a 1,000,000-leaf tree, each beside a baseline from the same run.

- verify_inclusion, ns per proof, beside the bare cost of its hash calls: a loop making
  the same hashlib.sha256(b"\\x01" + a + b).digest() calls and nothing else;
- verify_inclusion and verify_consistency beside pymerkle 7 verifying the same proofs
  of the same tree (built with pymerkle.InmemoryTree);
- StoredTree build time (beside RootBuilder, which only computes the root, and
  pymerkle's build), and proof generation per proof.

Timing: rounds over the same sample of proofs, methods interleaved round by round,
garbage collection off inside a round; the best round and the median are printed, and
against a baseline the ratio of the best rounds and the median of the round-by-round
ratios. The clock is the CPU time of the benchmarking thread (`--clock cpu`, the
default), so other work on a shared machine does not count as ours; `--clock wall` uses
time.perf_counter_ns. Nothing is asserted.

    .venv/bin/python benchmarks/bench_verify.py [--leaves N] [--proofs K] [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import random
import shlex
import ssl
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from tlogcheck.merkle import RootBuilder, StoredTree, verify_consistency, verify_inclusion

_CLOCKS: dict[str, Callable[[], int]] = {
    "cpu": time.thread_time_ns,
    "wall": time.perf_counter_ns,
}
_clock = _CLOCKS["cpu"]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds on the chosen clock, and the result."""
    start = _clock()
    result = fn()
    return (_clock() - start) / 1e9, result


def _round_ns(fn: Callable[[], None]) -> int:
    gc.disable()
    try:
        start = _clock()
        fn()
        return _clock() - start
    finally:
        gc.enable()


def _rounds(
    methods: dict[str, Callable[[], None]], rounds: int, per: int
) -> dict[str, list[float]]:
    """ns per item of each method, one figure per round; methods interleaved."""
    out: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            out[name].append(_round_ns(fn) / per)
    return out


def _head(title: str, first: str, second: str, note: str) -> str:
    return f"\n{title:<48} {first:>9} {second:>9}   {note}".rstrip()


def _row(name: str, figures: Sequence[float], base: Sequence[float] | None = None) -> str:
    """Best and median ns per item; against a baseline, best / best and the median of
    the round-by-round ratios (rounds run side by side, so load hits both alike)."""
    best, median = min(figures), statistics.median(figures)
    line = f"  {name:<46} {best:>9,.0f} {median:>9,.0f}"
    if base is not None:
        paired = statistics.median(f / b for f, b in zip(figures, base, strict=True))
        line += f"   {best / min(base):>5.2f}x {paired:>5.2f}x"
    return line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=500, help="proofs per round")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=9162)
    parser.add_argument("--clock", choices=sorted(_CLOCKS), default="cpu")
    parser.add_argument(
        "--no-pymerkle", action="store_true", help="skip pymerkle (its 1M-leaf build is slow)"
    )
    args = parser.parse_args(argv)
    global _clock
    _clock = _CLOCKS[args.clock]
    n, k = args.leaves, args.proofs
    rng = random.Random(args.seed)

    print("command:", shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    print(
        f"python {platform.python_version()}, {ssl.OPENSSL_VERSION}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}, load average {os.getloadavg()[0]:.1f}, "
        f"clock: {args.clock} time"
    )
    entries = [b'{"i":%d,"payload":"%08x"}' % (i, rng.getrandbits(32)) for i in range(n)]

    # --- Build ---------------------------------------------------------------------------
    build_s, tree = _timed(lambda: StoredTree.from_entries(entries))
    builder = RootBuilder()
    stream_s, _ = _timed(lambda: builder.extend_entries(entries))
    root = tree.root()
    assert builder.root() == root
    sha = hashlib.sha256
    node = b"\x5a" * 32
    bare_build_s, _ = _timed(
        lambda: (
            [sha(b"\x00" + e).digest() for e in entries]
            + [sha(b"\x01" + node + node).digest() for _ in range(n - 1)]
        )
    )
    print(_head(f"build, {n:,} leaves", "seconds", "ns/leaf", ""))
    for name, secs in (
        ("StoredTree.from_entries (every subtree hash)", build_s),
        ("RootBuilder.extend_entries (the root only)", stream_s),
        (f"baseline: {2 * n - 1:,} bare sha256 calls", bare_build_s),
    ):
        print(f"  {name:<46} {secs:>9.2f} {secs / n * 1e9:>9,.0f}")

    # --- Proof generation ----------------------------------------------------------------
    indices = [rng.randrange(n) for _ in range(k)]
    pairs = sorted((rng.randrange(1, n), n) for _ in range(k))
    leaves = [tree.leaf_hash(i) for i in indices]
    inclusion = [tree.inclusion_proof(i) for i in indices]
    consistency = [tree.consistency_proof(m, m2) for m, m2 in pairs]
    old_roots = [tree.root(m) for m, _ in pairs]
    path_len = statistics.mean(len(p) for p in inclusion)
    cons_len = statistics.mean(len(p) for p in consistency)

    def gen_inclusion() -> None:
        for i in indices:
            tree.inclusion_proof(i)

    def gen_consistency() -> None:
        for m, m2 in pairs:
            tree.consistency_proof(m, m2)

    # --- Verification --------------------------------------------------------------------
    jobs = list(zip(leaves, indices, inclusion, strict=True))

    def ours() -> None:
        for leaf, i, path in jobs:
            verify_inclusion(leaf, i, n, path, root)

    def bare() -> None:
        for leaf, _, path in jobs:
            r = leaf
            for p in path:
                r = sha(b"\x01" + r + p).digest()

    cons_jobs = list(zip(pairs, consistency, old_roots, strict=True))

    def ours_consistency() -> None:
        for (m, m2), c, r1 in cons_jobs:
            verify_consistency(m, m2, c, r1, root)

    methods: dict[str, Callable[[], None]] = {
        "gen_inclusion": gen_inclusion,
        "gen_consistency": gen_consistency,
        "ours": ours,
        "bare": bare,
        "ours_consistency": ours_consistency,
    }

    pym: dict[str, float] = {}
    if not args.no_pymerkle:
        import pymerkle

        pym["build"], ptree = _timed(lambda: pymerkle.InmemoryTree.init_from_entries(entries))
        # pymerkle counts leaves from one.
        proofs_s, p_inclusion = _timed(lambda: [ptree.prove_inclusion(i + 1, n) for i in indices])
        pym["prove"] = proofs_s / k * 1e9
        p_consistency = [ptree.prove_consistency(m, m2) for m, m2 in pairs]
        p_root = ptree.get_root(n)
        assert p_root == root, "pymerkle and tlogcheck disagree on the root"
        assert [p.path[1:] for p in p_inclusion] == inclusion
        p_jobs = list(zip(leaves, p_inclusion, strict=True))
        p_cons = list(zip(old_roots, p_consistency, strict=True))

        def theirs() -> None:
            for leaf, proof in p_jobs:
                pymerkle.verify_inclusion(leaf, p_root, proof)

        def theirs_consistency() -> None:
            for r1, proof in p_cons:
                pymerkle.verify_consistency(r1, p_root, proof)

        methods["theirs"] = theirs
        methods["theirs_consistency"] = theirs_consistency

    ours()  # every proof verifies before anything is timed
    ours_consistency()
    figures = _rounds(methods, args.rounds, k)

    print(_head(f"proof generation, {k:,} random proofs", "best", "median", "ns per proof"))
    print(_row(f"StoredTree.inclusion_proof (~{path_len:.1f} hashes)", figures["gen_inclusion"]))
    print(
        _row(f"StoredTree.consistency_proof (~{cons_len:.1f} hashes)", figures["gen_consistency"])
    )
    if pym:
        print(f"  {'pymerkle InmemoryTree.prove_inclusion (one pass)':<46} {pym['prove']:>9,.0f}")

    print(_head(f"inclusion verification, {n:,} leaves", "best", "median", "ns per proof; ratio"))
    print(_row("baseline: the path's bare sha256 calls", figures["bare"]))
    print(_row("tlogcheck verify_inclusion", figures["ours"], figures["bare"]))
    if pym:
        print(_row("pymerkle 7 verify_inclusion", figures["theirs"], figures["bare"]))

    print(_head(f"consistency verification to {n:,}", "best", "median", "ns per proof; ratio"))
    print(_row("tlogcheck verify_consistency", figures["ours_consistency"]))
    if pym:
        print(
            _row(
                "pymerkle 7 verify_consistency",
                figures["theirs_consistency"],
                figures["ours_consistency"],
            )
        )
        print(f"\npymerkle InmemoryTree build, {n:,} leaves: {pym['build']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
