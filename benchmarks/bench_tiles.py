"""Sampled inclusion proofs over C2SP tlog-tiles beside API v1, same log, same run.

One loopback HTTP server holds one log of --leaves entries and serves it both ways:
API v1 (`/v1/log/root`, `/v1/log/entry/<i>`, `/v1/log/proof/<i>?tree_size=n`) and
tlog-tiles (`/checkpoint`, `/tile/...`), each request held --delay seconds first (the
CDN round trip). Two samples of --proofs indices are verified each way: a seeded random
sample, and the newest entries (what a monitor following the log reads):

- v1: the root, then per index the entry and its proof (`tlogcheck.verify.check_inclusion`);
- tiles: the checkpoint, then per index `TiledTree.verify_entry` (bundle checked against
  its level-0 tile, every full tile against its parent, the root rebuilt from the edge
  tiles, the proof computed from tiles and verified), tiles read once per run.

Both run sequentially on one connection-pooled `TLogClient`; requests and wall seconds
are printed side by side. Then the suite's own read of 64 sampled entries of a tiled log
(`tests_synthetic/test_tiles.py`): tiles read one by one beside tiles read ahead
concurrently (`TileReader.prefetch`). Nothing is asserted.

    .venv/bin/python benchmarks/bench_tiles.py [--leaves N] [--proofs K] [--delay S]
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tlogcheck import merkle, note, tiles
from tlogcheck.client import TLogClient
from tlogcheck.spec import PATH_ROOT, entry_path, parse_root, proof_path
from tlogcheck.verify import check_inclusion
from tlogcheck.verify.tiles import TileReader

ORIGIN = "bench.example/log"


class _Log:
    def __init__(self, leaves: int) -> None:
        self.entries = [b'{"bench_entry":%d}' % i for i in range(leaves)]
        self.tree = merkle.StoredTree.from_entries(self.entries)
        self.files = tiles.build_tiles(self.entries)
        skey, self.vkey = note.signer_from_seed(ORIGIN, b"\x05" * 32)
        text = note.format_checkpoint(ORIGIN, leaves, self.tree.root())
        self.files["checkpoint"] = note.sign_note(text, skey)
        self.requests: dict[str, int] = {"v1": 0, "tiles": 0}
        self.lock = threading.Lock()

    def answer(self, target: str) -> tuple[str, bytes | None]:
        url = urlsplit(target)
        path = url.path
        size = self.tree.size
        if path == PATH_ROOT:
            body = {
                "tree_size": size,
                "root_hash": self.tree.root().hex(),
                "timestamp": "2026-01-01T00:00:00Z",
                "release": "bench",
            }
            return "v1", json.dumps(body).encode()
        if path.startswith("/v1/log/entry/"):
            return "v1", self.entries[int(path.rsplit("/", 1)[1])]
        if path.startswith("/v1/log/proof/"):
            i = int(path.rsplit("/", 1)[1])
            n = int(parse_qs(url.query).get("tree_size", [str(size)])[0])
            proof = {
                "leaf_index": i,
                "tree_size": n,
                "leaf_hash": self.tree.leaf_hash(i).hex(),
                "audit_path": [h.hex() for h in self.tree.inclusion_proof(i, n)],
            }
            return "v1", json.dumps(proof).encode()
        return "tiles", self.files.get(path.lstrip("/"))


def _serve(log: _Log, delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, delayed ACKs add ~40 ms.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            time.sleep(delay)
            api, body = log.answer(self.path)
            with log.lock:
                log.requests[api] += 1
            self.send_response(200 if body is not None else 404)
            body = body or b""
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _v1(client: TLogClient, sample: list[int]) -> None:
    root = parse_root(client.get(PATH_ROOT).body)
    for i in sample:
        entry = client.get(entry_path(i))
        proof = client.get(proof_path(i, root.tree_size))
        result = check_inclusion(i, root.tree_size, root.root_hash, entry, proof)
        if result.rule is not None:
            raise SystemExit(f"v1 failed: {result.rule}: {result.detail}")


def _tiles(client: TLogClient, sample: list[int], vkey: str) -> None:
    reader = TileReader(client)
    cp, _ = reader.checkpoint([note.parse_verifier_key(vkey)])
    tree = reader.tree(cp.tree_size, cp.root_hash)
    tree.check_root()
    for i in sample:
        tree.verify_entry(i)


def _suite_read(client: TLogClient, sample: list[int], vkey: str, ahead: bool) -> None:
    """The suite's inclusion check of a tiled log: tiles read ahead concurrently (`ahead`)
    or one by one, each then checked."""
    reader = TileReader(client)
    cp, _ = reader.checkpoint([note.parse_verifier_key(vkey)])
    if ahead:
        reader.prefetch(p for i in sample for p in tiles.paths_for_entry(i, cp.tree_size))
    tree = reader.tree(cp.tree_size, cp.root_hash)
    for i in sample:
        tree.verify_entry(i)


def _measure_suite(log: _Log, server: ThreadingHTTPServer, sample: list[int], delay: float) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    print(
        f"the suite's read of {len(sample)} sampled entries, {log.tree.size} entries, "
        f"+{delay * 1000:g} ms per request, client concurrency 16:"
    )
    for name, ahead in (("one by one", False), ("read ahead", True)):
        with TLogClient(url, timeout=10, max_body=1 << 20) as client:
            before = log.requests["tiles"]
            start = time.perf_counter()
            _suite_read(client, sample, log.vkey, ahead)
            seconds = time.perf_counter() - start
        requests = log.requests["tiles"] - before
        print(f"  {name:10}  requests {requests:6d}  seconds {seconds:7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--proofs", type=int, default=1000)
    ap.add_argument("--delay", type=float, default=0.020, help="seconds added per request")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    t0 = time.perf_counter()
    log = _Log(args.leaves)
    print(f"log of {args.leaves} entries built in {time.perf_counter() - t0:.1f}s")
    samples = {
        "seeded random sample": random.Random(args.seed).sample(range(args.leaves), args.proofs),
        "newest entries (a monitor following the log)": list(
            range(args.leaves - args.proofs, args.leaves)
        ),
    }
    server = _serve(log, args.delay)
    try:
        for what, sample in samples.items():
            _measure(log, server, sample, what, args.delay)
        _measure_suite(log, server, samples["seeded random sample"][:64], args.delay)
    finally:
        server.shutdown()
        server.server_close()


def _measure(
    log: _Log, server: ThreadingHTTPServer, sample: list[int], what: str, delay: float
) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    results = {}
    with TLogClient(url, timeout=10, max_body=1 << 20) as client:
        for name, run in (
            ("v1", lambda: _v1(client, sample)),
            ("tiles", lambda: _tiles(client, sample, log.vkey)),
        ):
            before = log.requests[name]
            start = time.perf_counter()
            run()
            results[name] = (log.requests[name] - before, time.perf_counter() - start)
    print(
        f"{len(sample)} inclusion proofs, {what}, {log.tree.size} entries, "
        f"+{delay * 1000:g} ms per request, sequential:"
    )
    for name, (requests, seconds) in results.items():
        print(f"  {name:5}  requests {requests:6d}  seconds {seconds:7.2f}")
    v1, tl = results["v1"], results["tiles"]
    print(f"  tiles/v1: requests x{tl[0] / v1[0]:.2f}, seconds x{tl[1] / v1[1]:.2f}")


if __name__ == "__main__":
    main()
