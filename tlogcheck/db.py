"""db.jsonl: one streaming pass gives its SHA-256, tree size, Merkle root and prefix roots.

The log (spec "The log") is UTF-8, one JSON object a line, every line ended by `\\n`;
entry `i` is line `i + 1` without its `\\n`. `audit` reads the file once, in 1 MiB
binary chunks, and keeps O(log n) hashes (a `merkle.RootBuilder`) plus one chunk, so
a log of any size is audited in constant memory.

Validation has two levels:

- cheap (`strict=False`, the library default): every line is valid UTF-8, starts with
  `{` and ends with `}`. Checked with a few C scans of each chunk (`bytes.count`,
  `bytes.isascii`), a small fraction of the hashing.
- strict (`strict=True`, the `tlogcheck root` default): every line is also exactly one
  JSON object (RFC 8259, no NaN/Infinity). The json C scanner parses each line of the
  decoded chunk; the whole audit takes 1.6-1.9x the time of the cheap level
  (benchmarks/bench_root.py).

Both levels reject surrounding whitespace on a line: an entry is hashed byte for byte,
so a line that only a lenient parser would accept is a defect worth naming.

Every error is a `DbError` whose message starts with `<name>:<line>:` (1-based line),
and names the first offending line of the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from json.scanner import make_scanner
from typing import BinaryIO, NoReturn, TypeAlias

from tlogcheck.errors import ConfigError, DbError
from tlogcheck.merkle import EMPTY_ROOT, RootBuilder

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINE_BYTES",
    "DbAudit",
    "DbError",
    "audit",
    "iter_entries",
    "read_sha256_file",
]

CHUNK_SIZE = 1 << 20
# A line longer than this is a corrupt file, not an entry: without a cap a file with
# no newline would be buffered whole.
MAX_LINE_BYTES = 16 << 20
# Leaves handed to RootBuilder at once: a power of two, so that an aligned batch
# collapses level by level in list comprehensions (RootBuilder._extend_leaves).
_BATCH = 1 << 12
# A .sha256 file is one short line; anything bigger is not one.
_MAX_SHA256_FILE = 4096

_sha256 = hashlib.sha256
_LEAF = b"\x00"
_BOM = b"\xef\xbb\xbf"
_HEX = frozenset("0123456789abcdef")

Source: TypeAlias = "str | os.PathLike[str] | BinaryIO"
Progress: TypeAlias = Callable[[int, int], None]


@dataclass(frozen=True)
class DbAudit:
    """What one pass over db.jsonl found."""

    tree_size: int
    root_hash: bytes
    sha256: bytes
    prefix_roots: dict[int, bytes] = field(default_factory=dict)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# The C scanner parses one value at a given index of a str: one call per line over a
# whole decoded chunk, without json.loads' per-call wrappers and whitespace regexes.
# typeshed types the argument as a scanner context object; a JSONDecoder is one.
_scan_once: Callable[[str, int], tuple[object, int]] = make_scanner(_DECODER)  # type: ignore[arg-type]


def _describe_bad_line(line: bytes, *, strict: bool, max_line: int) -> str | None:
    """Why `line` (without its newline) is not an entry, or None when it is one."""
    if not line:
        return "empty line"
    if line.endswith(b"\r"):
        return "CRLF line ending; lines must end with \\n alone"
    if len(line) > max_line:
        return f"line is longer than the {_size_text(max_line)} cap ({len(line)} bytes)"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start + 1} of the line ({exc.reason})"
    if line.startswith(_BOM):
        return "line starts with a UTF-8 byte order mark"
    if not line.startswith(b"{") or not line.endswith(b"}"):
        shown = (
            f"the line is {_excerpt(text)}"
            if len(text) <= 40
            else f"it starts {_excerpt(text[:16])} and ends {_excerpt(text[-16:])}"
        )
        return f"not a JSON object: a line must start with '{{' and end with '}}' ({shown})"
    if strict:
        try:
            end = _scan_once(text, 0)[1]
        except StopIteration:
            return "not valid JSON"
        except json.JSONDecodeError as exc:
            return f"not valid JSON: {exc.msg} at column {exc.colno}"
        except ValueError as exc:
            return f"not valid JSON: {exc}"
        except RecursionError:
            return "not valid JSON: nested too deeply"
        # The value starts with "{", so it is an object; it must also end the line.
        if end != len(text):
            return f"not one JSON object: extra data at column {end + 1}"
    return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _excerpt(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def _size_text(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


class _Lines:
    """Reads a stream in chunks and yields its validated lines, a chunk's worth at a time."""

    def __init__(
        self,
        stream: BinaryIO,
        name: str,
        *,
        strict: bool,
        max_line: int,
        file_hash: hashlib._Hash | None,
        progress: Progress | None,
    ) -> None:
        if max_line < 1:
            raise ConfigError(f"the line length cap must be positive, got {max_line}")
        self.stream = stream
        self.name = name
        self.strict = strict
        self.max_line = max_line
        self.file_hash = file_hash
        self.progress = progress
        self.lines_done = 0
        self.bytes_done = 0

    def _error(self, line_no: int, what: str) -> DbError:
        return DbError(f"{self.name}:{line_no}: {what}")

    def __iter__(self) -> Iterator[list[bytes]]:
        read: Callable[[int], bytes] = getattr(self.stream, "read1", self.stream.read)
        # With a chunk no longer than the cap, only a line spanning chunks can exceed it.
        chunk_size = min(CHUNK_SIZE, self.max_line)
        file_hash = self.file_hash
        progress = self.progress
        max_line = self.max_line
        # The start of a line whose end is in a later chunk.
        carry: list[bytes] = []
        carry_len = 0
        while True:
            chunk = read(chunk_size)
            if not chunk:
                break
            if file_hash is not None:
                file_hash.update(chunk)
            self.bytes_done += len(chunk)
            last = chunk.rfind(b"\n")
            if last < 0:
                carry.append(chunk)
                carry_len += len(chunk)
                if carry_len > max_line:
                    raise self._too_long(self.lines_done + 1, carry_len)
                continue
            lines = chunk.split(b"\n")
            tail = lines.pop()
            carried = bool(carry)
            if carried:
                if carry_len + len(lines[0]) > max_line:
                    raise self._too_long(self.lines_done + 1, carry_len + len(lines[0]))
                carry.append(lines[0])
                lines[0] = b"".join(carry)
            carry = [tail] if tail else []
            carry_len = len(tail)
            if not self._chunk_ok(chunk, last, lines, carried):
                self._check_each(lines)
            self.lines_done += len(lines)
            yield lines
            if progress is not None:
                progress(self.bytes_done, self.lines_done)
        if carry:
            tail = b"".join(carry)
            line_no = self.lines_done + 1
            problem = _describe_bad_line(tail, strict=self.strict, max_line=max_line)
            what = "no final newline: the file must end with \\n"
            raise self._error(line_no, what if problem is None else f"{problem}; and {what}")
        if progress is not None:
            progress(self.bytes_done, self.lines_done)

    def _too_long(self, line_no: int, length: int) -> DbError:
        return self._error(
            line_no,
            f"line is longer than the {_size_text(self.max_line)} cap (at least {length} bytes)",
        )

    def _chunk_ok(self, chunk: bytes, last: int, lines: list[bytes], carried: bool) -> bool:
        """A sufficient check of the chunk's whole lines, in a few C scans of the chunk.

        `lines` are the lines ending in `chunk[:last + 1]`, the first one joined with
        its start from earlier chunks when `carried`. False means "look line by line",
        not "invalid": the rare chunk starting with the newline of a carried line fails
        here and passes line by line.
        """
        k = len(lines)
        first = lines[0]
        # Every line starts with "{" and ends with "}": the outer ends directly, and
        # each of the k-1 newlines inside the chunk is the middle of one "}\n{".
        if not (
            first[:1] == b"{" and lines[-1][-1:] == b"}" and chunk.count(b"}\n{", 0, last) == k - 1
        ):
            return False
        # A multi-byte UTF-8 sequence never contains a newline, so lines decode alone.
        rest = chunk.find(b"\n") + 1 if carried else 0
        if not self.strict:
            if chunk.isascii() and (not carried or first.isascii()):
                return True
            return (not carried or _is_utf8(first)) and _is_utf8(chunk[rest : last + 1])
        try:
            text = chunk[rest : last + 1].decode("utf-8")
            first_text = first.decode("utf-8") + "\n" if carried else ""
        except UnicodeDecodeError:
            return False
        return (not carried or _each_one_object(first_text, 1)) and _each_one_object(
            text, k - carried
        )

    def _check_each(self, lines: list[bytes]) -> None:
        """Validate line by line: raise for the first bad line, naming it."""
        for offset, line in enumerate(lines):
            problem = _describe_bad_line(line, strict=self.strict, max_line=self.max_line)
            if problem is not None:
                raise self._error(self.lines_done + offset + 1, problem)


def _each_one_object(text: str, n: int) -> bool:
    """True when `text` is n lines, each exactly one JSON object and its newline."""
    scan = _scan_once
    i = 0
    try:
        for _ in range(n):
            end = scan(text, i)[1]
            if text[end] != "\n":
                return False
            i = end + 1
    except (StopIteration, ValueError, RecursionError, IndexError):
        return False
    return i == len(text)


class _Tree:
    """Leaf-hashes lines and feeds RootBuilder in aligned power-of-two batches.

    Batches stop exactly at each requested prefix size so its root is read there.
    """

    def __init__(self, prefix_sizes: Iterable[int]) -> None:
        self.builder = RootBuilder()
        self.pending: list[bytes] = []
        self.prefix_roots: dict[int, bytes] = {}
        self.stops = sorted(set(prefix_sizes), reverse=True)
        while self.stops and self.stops[-1] == 0:
            self.prefix_roots[self.stops.pop()] = EMPTY_ROOT

    def add(self, lines: list[bytes]) -> None:
        sha = _sha256
        leaf = _LEAF
        self.pending += [sha(leaf + line).digest() for line in lines]
        if len(self.pending) >= _BATCH or (
            self.stops and self.builder.size + len(self.pending) >= self.stops[-1]
        ):
            self._drain(final=False)

    def finish(self) -> bytes:
        self._drain(final=True)
        return self.builder.root()

    def _drain(self, *, final: bool) -> None:
        pending = self.pending
        builder = self.builder
        stops = self.stops
        pos = 0
        n = len(pending)
        while pos < n:
            size = builder.size
            avail = n - pos
            room = stops[-1] - size if stops else _BATCH
            if avail < _BATCH and room > avail and not final:
                break
            limit = min(_BATCH, avail, room)
            block = 1 << (limit.bit_length() - 1)
            # A block collapses in one go only when the tree size is a multiple of it.
            if size and size & -size < block:
                block = size & -size
            builder.extend(pending[pos : pos + block])
            pos += block
            if stops and builder.size == stops[-1]:
                self.prefix_roots[stops.pop()] = builder.root()
        del pending[:pos]


def _open(source: Source) -> tuple[BinaryIO, str, bool]:
    """(stream, name for messages, whether we opened it and must close it)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path == "-":
            return sys.stdin.buffer, "<stdin>", False
        try:
            # Unbuffered: each read is one read(2) of up to CHUNK_SIZE bytes, no copy.
            return open(path, "rb", buffering=0), path, True
        except OSError as exc:
            raise DbError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    name = getattr(source, "name", None)
    return source, name if isinstance(name, str) else "<stream>", False


def _check_prefix_sizes(prefix_sizes: Iterable[int], name: str) -> list[int]:
    sizes = list(prefix_sizes)
    for size in sizes:
        if size < 0:
            raise DbError(f"{name}: prefix size {size} is negative")
    return sizes


def audit(
    source: Source,
    *,
    prefix_sizes: Iterable[int] = (),
    progress: Progress | None = None,
    strict: bool = False,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> DbAudit:
    """Read db.jsonl once: its SHA-256, tree size, root, and the root of each prefix size.

    `source` is a path, "-" for stdin, or a binary stream. `progress(bytes_done,
    entries_done)` is called after every chunk. A prefix size larger than the tree
    is a DbError naming both sizes (an edge may lag behind the file, never lead it).
    """
    stream, name, owned = _open(source)
    try:
        sizes = _check_prefix_sizes(prefix_sizes, name)
        file_hash = _sha256()
        tree = _Tree(sizes)
        reader = _Lines(
            stream,
            name,
            strict=strict,
            max_line=max_line_bytes,
            file_hash=file_hash,
            progress=progress,
        )
        for lines in reader:
            tree.add(lines)
        root = tree.finish()
        tree_size = tree.builder.size
        missing = sorted(s for s in sizes if s not in tree.prefix_roots)
        if missing:
            raise DbError(
                f"{name}: prefix size {missing[0]} is larger than the tree size {tree_size}"
            )
        return DbAudit(
            tree_size=tree_size,
            root_hash=root,
            sha256=file_hash.digest(),
            prefix_roots={s: tree.prefix_roots[s] for s in sorted(set(sizes))},
        )
    except OSError as exc:
        raise DbError(f"{name}: read error: {exc.strerror or exc}") from exc
    finally:
        if owned:
            stream.close()


def iter_entries(
    source: Source, *, strict: bool = False, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[bytes]:
    """The entries of db.jsonl in order, validated as `audit` does (same DbErrors).

    An error is raised when the reader reaches the bad line: entries before it have
    already been yielded.
    """
    stream, name, owned = _open(source)
    try:
        reader = _Lines(
            stream, name, strict=strict, max_line=max_line_bytes, file_hash=None, progress=None
        )
        for lines in reader:
            yield from lines
    except OSError as exc:
        raise DbError(f"{name}: read error: {exc.strerror or exc}") from exc
    finally:
        if owned:
            stream.close()


def read_sha256_file(path: str | os.PathLike[str]) -> bytes:
    """The digest in a release's db.jsonl.sha256 (`sha256sum` format).

    One line `<64 lowercase hex><space><space or *><file name>\\n`; the `*` is
    sha256sum's binary-mode marker. Anything else is a DbError.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read(_MAX_SHA256_FILE + 1)
    except OSError as exc:
        raise DbError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > _MAX_SHA256_FILE:
        raise DbError(f"{name}:1: not a sha256sum file: over {_MAX_SHA256_FILE} bytes")
    if not data:
        raise DbError(f"{name}:1: empty sha256sum file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DbError(f"{name}:1: invalid UTF-8 at byte {exc.start + 1}") from exc
    if not text.endswith("\n"):
        raise DbError(f"{name}:1: no final newline")
    lines = text[:-1].split("\n")
    if len(lines) != 1:
        raise DbError(f"{name}:2: expected one line, found {len(lines)}")
    line = lines[0]
    if line.endswith("\r"):
        raise DbError(f"{name}:1: CRLF line ending; sha256sum writes \\n alone")
    digest, sep, rest = line[:64], line[64:66], line[66:]
    if len(digest) < 64 or not set(digest) <= _HEX:
        raise DbError(
            f"{name}:1: expected 64 lowercase hex digits at the start, got {_excerpt(line[:64])}"
        )
    if sep not in ("  ", " *"):
        raise DbError(
            f"{name}:1: expected two spaces (or space and '*') after the digest, "
            f"got {_excerpt(sep)}"
        )
    if not rest:
        raise DbError(f"{name}:1: no file name after the digest")
    return bytes.fromhex(digest)
