"""Benchmark `tlogcheck root`: hashing cost against bare hashlib, pymerkle, peak memory.

    .venv/bin/python benchmarks/bench_root.py [--entries 1000000] [--rss-entries 5000000]

1. Root of a 1,000,000-entry db.jsonl. The measured window is the hashing: leaf hashes
   of the lines and the node hashes of the tree (the 2n-1 SHA-256 calls of RFC 9162),
   as `tlogcheck.db.audit` does them, over lines already read and split. The baseline
   is a bare `for x in inputs: hashlib.sha256(x).digest()` loop over the very same 2n-1
   inputs (recorded from our own run), timed in the same process, interleaved. Then
   end to end: `audit()` in process, and `python -m tlogcheck root` as a subprocess,
   strict and not, next to `sha256sum` of the same file.
2. pymerkle 7 `InmemoryTree` (RFC 9162 prefixes 0x00/0x01: disable_security=False) on
   the same entries, whole process against whole process; the roots are compared.
3. Peak RSS of `tlogcheck root` on 5,000,000 entries, next to `sha256sum` and
   `python -c pass` (maximum resident set size of each child, from GNU time).

Every figure is the best of ROUNDS runs, interleaved with its baseline. Both CPU time
(user + system of the process) and wall time are printed; ratios use CPU time, which
holds still on a shared machine where wall time does not. Generated files are cached
under /tmp/tlogcheck-bench. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tlogcheck import db, merkle

CACHE = Path(os.environ.get("TLOGCHECK_BENCH_DIR", "/tmp/tlogcheck-bench"))
PY = sys.executable
ROUNDS = 5
TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Timing:
    cpu: float  # seconds of user + system time
    wall: float

    def best(self, other: Timing) -> Timing:
        return Timing(min(self.cpu, other.cpu), min(self.wall, other.wall))

    def __str__(self) -> str:
        return f"{self.cpu:6.2f} s CPU  {self.wall:6.2f} s wall"


NEVER = Timing(float("inf"), float("inf"))


def entry_line(i: int) -> bytes:
    """An attestation-like JSON line (~170 bytes), a pure function of i."""
    digest = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
    return (
        f'{{"seq":{i},"subject":"pkg:oci/acme/service-{i % 997}@1.{i % 31}.{i % 7}",'
        f'"digest":"sha256:{digest}","ts":"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T'
        f'{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z"}}\n'
    ).encode()


def db_file(n: int) -> Path:
    """db-<n>.jsonl in the cache, generated once."""
    path = CACHE / f"db-{n}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    t0 = time.perf_counter()
    with open(tmp, "wb") as f:
        for start in range(0, n, 100_000):
            f.write(b"".join(entry_line(i) for i in range(start, min(n, start + 100_000))))
    tmp.replace(path)
    print(f"  generated {path} ({n:,} entries) in {time.perf_counter() - t0:.1f} s")
    return path


def timed(fn: Callable[[], object]) -> Timing:
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return Timing(time.process_time() - c0, time.perf_counter() - w0)


def run_child(argv: Sequence[str], stdin_path: Path | None = None) -> tuple[Timing, int, bytes]:
    """(timing, peak RSS in KiB, stdout) of one child process.

    Figures come from GNU time when present: ru_maxrss of a child forked from this
    (large) process would count this process's pages up to the exec.
    """
    use_time = os.path.exists(TIME)
    report = CACHE / "time.txt"
    cmd = [TIME, "-f", "%M %U %S", "-o", str(report), *argv] if use_time else list(argv)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(stdin_path or os.devnull, "rb") as stdin:
        w0 = time.perf_counter()
        proc = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE, check=False)
        wall = time.perf_counter() - w0
    if proc.returncode != 0:
        print(f"  ! {shlex.join(argv)} exited {proc.returncode}")
    if use_time:
        rss, user, system = report.read_text().split()[-3:]
        return Timing(float(user) + float(system), wall), int(rss), proc.stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Timing(cpu, wall), after.ru_maxrss, proc.stdout


def chunk_lines(path: Path) -> list[list[bytes]]:
    """The lines of the file in the per-chunk lists that audit() hashes."""
    with open(path, "rb", buffering=0) as f:
        reader = db._Lines(
            f,  # type: ignore[arg-type]
            str(path),
            strict=False,
            max_line=db.MAX_LINE_BYTES,
            file_hash=None,
            progress=None,
        )
        return list(reader)


def hash_window(chunks: list[list[bytes]]) -> bytes:
    """Exactly audit()'s hashing: leaf hashes + RootBuilder batches + root."""
    tree = db._Tree(())
    for lines in chunks:
        tree.add(lines)
    return tree.finish()


def record_inputs(chunks: list[list[bytes]]) -> list[bytes]:
    """Every input our hashing passes to SHA-256, in order (one untimed run)."""
    inputs: list[bytes] = []
    real = hashlib.sha256

    def recording(data: bytes = b"") -> hashlib._Hash:
        inputs.append(data)
        return real(data)

    saved = db._sha256, merkle._sha256
    db._sha256 = merkle._sha256 = recording  # type: ignore[assignment]
    try:
        hash_window(chunks)
    finally:
        db._sha256, merkle._sha256 = saved
    return inputs


def bare_loop(inputs: list[bytes]) -> None:
    sha = hashlib.sha256
    for x in inputs:
        sha(x).digest()


def file_sha256(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(db.CHUNK_SIZE):
            h.update(chunk)
    return h.digest()


PYMERKLE_SCRIPT = """
import sys
from pymerkle import InmemoryTree
tree = InmemoryTree(algorithm="sha256", disable_security=False)
with open(sys.argv[1], "rb") as f:
    for line in f:
        tree.append_entry(line[:-1])
print(tree.get_root().hex())
"""


def time_hashing(chunks: list[list[bytes]], inputs: list[bytes]) -> tuple[Timing, Timing]:
    ours = bare = NEVER
    for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits both
        ours = ours.best(timed(lambda: hash_window(chunks)))
        bare = bare.best(timed(lambda: bare_loop(inputs)))
    return ours, bare


def ns(t: Timing, calls: int) -> str:
    return f"{t.cpu * 1e9 / calls:7.1f} ns/call"


def bench_root(n: int, *, pymerkle: bool) -> None:
    path = db_file(n)
    size = path.stat().st_size
    print(f"\n1. root of {n:,} entries ({size / 2**20:.1f} MiB, {size / n:.0f} bytes a line)")
    chunks = chunk_lines(path)
    inputs = record_inputs(chunks)
    calls = len(inputs)
    print(f"  SHA-256 calls in our hashing: {calls:,} (2n-1 = {2 * n - 1:,})")
    ours, bare = time_hashing(chunks, inputs)
    del inputs, chunks  # a few hundred MB, not to be carried into the runs below
    print("  hashing window (leaf + node hashes, lines already in memory):")
    print(f"    tlogcheck.db            {ns(ours, calls)}  {ours}")
    print(f"    bare hashlib loop       {ns(bare, calls)}  {bare}")
    print(f"    ratio ours / bare       {ours.cpu / bare.cpu:7.2f}x   (target <= 1.5x)")

    cheap = strict = hashed = NEVER
    for _ in range(ROUNDS):
        cheap = cheap.best(timed(lambda: db.audit(path, strict=False)))
        strict = strict.best(timed(lambda: db.audit(path, strict=True)))
        hashed = hashed.best(timed(lambda: file_sha256(path)))
    print("  end to end in process (read + file SHA-256 + validate + split + tree):")
    print(f"    audit(strict=False)     {ns(cheap, calls)}  {cheap}")
    print(f"    audit(strict=True)      {ns(strict, calls)}  {strict}")
    print(f"    hashlib of the file     {ns(hashed, calls)}  {hashed}")
    print(f"    strict / cheap          {strict.cpu / cheap.cpu:7.2f}x")

    cmd = [PY, "-m", "tlogcheck", "root", str(path)]
    w_strict = w_cheap = w_sum = NEVER
    out = b""
    for _ in range(ROUNDS):
        timing, _, out = run_child([*cmd, "--strict"])
        w_strict = w_strict.best(timing)
        w_cheap = w_cheap.best(run_child([*cmd, "--no-strict"])[0])
        w_sum = w_sum.best(run_child(["sha256sum", str(path)])[0])
    print("  end to end, whole process:")
    print(f"    python -m tlogcheck root PATH --strict     {w_strict}")
    print(f"    python -m tlogcheck root PATH --no-strict  {w_cheap}")
    print(f"    sha256sum PATH (file hash only)            {w_sum}")
    print(f"    strict / no-strict                         {w_strict.cpu / w_cheap.cpu:6.2f}x")
    ours_root = out.split(b'"root_hash": "')[1][:64].decode() if out else "?"

    if not pymerkle:
        return
    print(f"\n2. pymerkle 7 InmemoryTree (0x00/0x01 prefixes), same {n:,} entries, one run")
    pm, pm_rss, pm_out = run_child([PY, "-c", PYMERKLE_SCRIPT, str(path)])
    pm_root = pm_out.decode().strip()
    print(f"    pymerkle script              {pm}   peak RSS {pm_rss >> 10} MB")
    for label, t in (("--strict", w_strict), ("--no-strict", w_cheap)):
        print(
            f"    tlogcheck root {label:12s}  {t}   {pm.cpu / t.cpu:5.1f}x faster (CPU), "
            f"{pm.wall / t.wall:5.1f}x (wall)   (target >= 5x)"
        )
    print(f"    roots equal: {pm_root == ours_root}  ({ours_root[:16]}... / {pm_root[:16]}...)")


def bench_rss(n: int) -> None:
    path = db_file(n)
    size = path.stat().st_size
    print(f"\n3. peak RSS, {n:,} entries ({size / 2**20:.0f} MiB), one run each")
    root = [PY, "-m", "tlogcheck", "root"]
    rows = [
        ("tlogcheck root --strict PATH", [*root, "--strict", str(path)], None),
        ("tlogcheck root --no-strict PATH", [*root, "--no-strict", str(path)], None),
        ("tlogcheck root --strict - <PATH", [*root, "--strict", "-"], path),
        ("sha256sum PATH", ["sha256sum", str(path)], None),
        ('python -c "pass"', [PY, "-c", "pass"], None),
    ]
    for label, argv, stdin in rows:
        timing, rss, _ = run_child(argv, stdin)
        print(f"    {label:32s} peak RSS {rss / 1024:6.1f} MB   {timing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rss-entries", type=int, default=5_000_000)
    parser.add_argument("--skip-pymerkle", action="store_true")
    args = parser.parse_args()
    print("command:", shlex.join([os.path.relpath(PY), *sys.argv]))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, cache {CACHE}")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    bench_root(args.entries, pymerkle=not args.skip_pymerkle)
    bench_rss(args.rss_entries)
    print("\nload average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
