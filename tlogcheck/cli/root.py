"""`tlogcheck root PATH`: rebuild the Merkle root of a db.jsonl (playbook §4).

Prints one JSON object on stdout:

    {"tree_size": N, "root_hash": "<hex>", "sha256": "<hex>"}

plus `"prefix_roots": {"<size>": "<hex>", ...}` for each `--prefix`. With
`--sha256-file` the file's SHA-256 is compared with a release's db.jsonl.sha256:
exit 1 on a mismatch, naming both hashes. A malformed file exits 2 with
`tlogcheck root: error: <path>:<line>: <what>`.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from typing import TextIO

from tlogcheck import db
from tlogcheck.errors import EXIT_FAILED, EXIT_OK

# Default validation level; see the module docstring of tlogcheck.db and
# benchmarks/bench_root.py for what strict costs.
STRICT_DEFAULT = True


def _prefix_size(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a tree size: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a tree size is not negative: {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="the db.jsonl to audit, or - for stdin")
    parser.add_argument(
        "--sha256-file",
        metavar="PATH",
        help="a release's db.jsonl.sha256 (sha256sum format): exit 1 unless it matches",
    )
    parser.add_argument(
        "--prefix",
        metavar="N",
        type=_prefix_size,
        action="append",
        default=[],
        help="also print the root of the first N entries (repeatable), e.g. the size an "
        "edge serves; larger than the file is an error",
    )
    parser.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=STRICT_DEFAULT,
        help="parse every line as one JSON object (--no-strict: only check UTF-8 and that "
        "each line starts with '{' and ends with '}')",
    )


class _Progress:
    """A self-erasing progress line on a terminal: bytes, entries, rate.

    Silent for the first half second, so small files print nothing, and redrawn at
    most four times a second.
    """

    DELAY = 0.5
    INTERVAL = 0.25

    def __init__(self, stream: TextIO, name: str, total: int | None) -> None:
        self.stream = stream
        self.name = name
        self.total = total
        self.start = time.monotonic()
        self.next_draw = self.start + self.DELAY
        self.shown = False

    def __call__(self, bytes_done: int, entries: int) -> None:
        now = time.monotonic()
        if now < self.next_draw:
            return
        self.next_draw = now + self.INTERVAL
        mib = bytes_done / 2**20
        rate = mib / max(now - self.start, 1e-9)
        if self.total:
            done = f"{mib:,.1f}/{self.total / 2**20:,.1f} MiB ({100 * bytes_done // self.total}%)"
        else:
            done = f"{mib:,.1f} MiB"
        self.stream.write(f"\r\x1b[K{self.name}: {done}, {entries:,} entries, {rate:,.1f} MiB/s")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _file_size(path: str) -> int | None:
    """Size of a regular file, None for stdin, pipes and the like (no total to show)."""
    if path == "-":
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # audit reports the error with the path
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def run(args: argparse.Namespace) -> int:
    path: str = args.path
    # A malformed release hash file is found before the long pass, not after it.
    expected = db.read_sha256_file(args.sha256_file) if args.sha256_file else None
    progress = None
    if sys.stderr.isatty():
        name = "<stdin>" if path == "-" else path
        progress = _Progress(sys.stderr, name, _file_size(path))
    try:
        result = db.audit(path, prefix_sizes=args.prefix, progress=progress, strict=args.strict)
    finally:
        if progress is not None:
            progress.clear()
    out: dict[str, object] = {
        "tree_size": result.tree_size,
        "root_hash": result.root_hash.hex(),
        "sha256": result.sha256.hex(),
    }
    if args.prefix:
        out["prefix_roots"] = {str(size): root.hex() for size, root in result.prefix_roots.items()}
    try:
        print(json.dumps(out), flush=True)
    except BrokenPipeError:
        # The reader went away (`| head -c 10`): no traceback, and none at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    if expected is not None and expected != result.sha256:
        print(
            f"tlogcheck root: {path}: SHA-256 {result.sha256.hex()} does not match "
            f"{expected.hex()} in {args.sha256_file}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK
