"""Time to ready and memory of `tlogcheck serve` on a big log, beside bare hashing.

    .venv/bin/python benchmarks/bench_origin.py [--entries 1000000] [--requests 2000]

1. Writes the demo log of N entries (db.jsonl, ~184 bytes an entry) to a temp dir.
2. Baselines, in this process: read the file and SHA-256 it whole; read it and
   leaf-hash every line (the least Python work any tree build must do).
3. Starts `python -m tlogcheck serve --db ... --ready-file ...` and times it from spawn
   to the ready file (every listener accepting), then reads its RSS (VmRSS) and peak
   RSS (VmHWM) from /proc.
4. Origin requests per second (entries, proofs with tree_size), sequential on one
   keep-alive connection from a raw-socket client: what one request costs the server,
   not a load test.
5. SIGTERM, and the time to a clean exit.

Targets (the issue): ready < 10 s and RSS < 500 MB at 1,000,000 entries. Asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from tlogcheck.refstack import data
from tlogcheck.refstack.stack import StackInfo


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process, in bytes."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used: unlike wall time, not inflated
    when other work shares the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def baseline_file_sha256(path: Path) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return time.perf_counter() - wall, time.process_time() - cpu


def baseline_leaf_hashes(path: Path) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    sha = hashlib.sha256
    with open(path, "rb") as f:
        leaves = [sha(b"\x00" + line[:-1]).digest() for line in f]
    elapsed = time.perf_counter() - wall, time.process_time() - cpu
    del leaves
    return elapsed


def requests_per_second(url: str, paths: list[str]) -> float:
    """Sequential GETs on one keep-alive connection, with a client that costs next to
    nothing (a raw socket): the figure is the server's cost per request."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        start = time.perf_counter()
        for path in paths:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 200"), (path, status)
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            reader.read(length)
        return len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    n = args.entries
    print("$ " + shlex.join([Path(sys.executable).name, *sys.argv]))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {n:,} entries")

    with tempfile.TemporaryDirectory(prefix="bench-origin-") as tmp:
        start = time.perf_counter()
        demo = data.write_demo_data(Path(tmp) / "data", n)
        generated = time.perf_counter() - start
        size = demo.db_path.stat().st_size
        print(
            f"\ndemo data written:            {generated:6.2f} s   ({size / 1e6:.0f} MB db.jsonl)"
        )

        file_sha = baseline_file_sha256(demo.db_path)
        leaf_hashes = baseline_leaf_hashes(demo.db_path)

        ready = Path(tmp) / "ready.json"
        argv = [sys.executable, "-m", "tlogcheck", "serve", "--db", str(demo.db_path)]
        argv += ["--signer-key", str(demo.signer_key_path), "--ready-file", str(ready)]
        argv += ["--data-dir", str(Path(tmp) / "serve")]
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            while not ready.exists():
                if process.poll() is not None:
                    raise SystemExit(f"serve exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
                time.sleep(0.01)
            to_ready = time.perf_counter() - start
            cpu_to_ready = proc_cpu(process.pid)
            memory = proc_status(process.pid)
            info = StackInfo.from_json(ready.read_text())

            rng = random.Random(1)
            entries = [f"/v1/log/entry/{rng.randrange(n)}" for _ in range(args.requests)]
            proofs = [
                f"/v1/log/proof/{rng.randrange(n)}?tree_size={n}" for _ in range(args.requests)
            ]
            entry_rps = requests_per_second(info.origin_url, entries)
            proof_rps = requests_per_second(info.origin_url, proofs)

            start = time.perf_counter()
            os.killpg(process.pid, signal.SIGTERM)
            code = process.wait(60)
            to_exit = time.perf_counter() - start
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    mib = 2**20
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (wall times grow with it)")
    print(f"\n{'baselines (this process)':38} {'wall':>8} {'CPU':>8}")
    row("read + sha256 of the file", f"{file_sha[0]:6.2f} s", f"{file_sha[1]:6.2f} s")
    row("read + leaf-hash each line", f"{leaf_hashes[0]:6.2f} s", f"{leaf_hashes[1]:6.2f} s")
    print("\ntlogcheck serve --db (subprocess: interpreter, imports, load, tree, listen)")
    row("spawn -> ready file", f"{to_ready:6.2f} s", f"{cpu_to_ready:6.2f} s", "target < 10 s")
    row("RSS at ready", f"{memory['VmRSS'] / mib:6.0f} MiB", "", "target < 500 MB")
    row("peak RSS (VmHWM)", f"{memory['VmHWM'] / mib:6.0f} MiB")
    row("origin GET entry, 1 conn", f"{entry_rps:6.0f} /s")
    row("origin GET proof, 1 conn", f"{proof_rps:6.0f} /s", "", f"{n.bit_length()}-hash paths")
    row(f"SIGTERM -> exit {code}", f"{to_exit:6.2f} s")


def row(label: str, first: str, second: str = "", note: str = "") -> None:
    print(f"  {label:36} {first:>8} {second:>8}  {note}".rstrip())


if __name__ == "__main__":
    main()
