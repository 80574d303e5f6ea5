"""The demo log and db.jsonl loading for the reference stack.

Demo data is deterministic: entry `i` depends on `i` alone, so the first N lines of a
log of M > N entries are the log of N entries (a canary release is the stable one with
entries appended), and the demo signing key comes from a fixed seed, so its verifier
key is the same on every machine:

    db.jsonl          attestation-like records: sequence, subject, digest, timestamp
    db.jsonl.sha256   `sha256sum` format
    signer.key        the C2SP note signer key (mode 0600)
    verifier.vkey     its verifier key

`load_db` reads a db.jsonl through `tlogcheck.db.iter_entries` (same validation and
errors as the audit) into one packed buffer, and returns the leaf hashes beside it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import overload

from tlogcheck import db, note
from tlogcheck.errors import ConfigError, DbError, NoteError

__all__ = [
    "DEMO_KEY_NAME",
    "Chained",
    "DemoData",
    "EntryView",
    "Patched",
    "alter_entry",
    "PackedEntries",
    "demo_entries",
    "demo_entry",
    "demo_signer",
    "append_db",
    "load_db",
    "verifier_for",
    "write_db",
    "write_demo_data",
    "write_key_files",
]

DEMO_KEY_NAME = "tlog.example.com/log"
# Changing either changes every demo entry / the demo verifier key.
_ENTRY_SEED = b"tlogcheck demo log v1"
_KEY_SEED = hashlib.sha256(b"tlogcheck demo signing key v1").digest()
# 2024-01-01T00:00:00Z; consecutive entries are 37 s apart.
_EPOCH = 1_704_067_200
_STEP = 37
_TEAMS = ("payments", "identity", "search", "ledger", "edge", "billing", "ml", "infra")
_SERVICES = ("api", "worker", "gateway", "scheduler", "indexer", "web", "batch")

_LEAF = b"\x00"
_PIECE = 1 << 20
_sha256 = hashlib.sha256


def demo_entry(index: int) -> bytes:
    """Demo entry `index`: one compact JSON object, ASCII, no newline."""
    return _demo_line(index, _sha256(_ENTRY_SEED).copy())


def _demo_line(index: int, seeded: hashlib._Hash) -> bytes:
    seeded.update(index.to_bytes(8, "big"))
    digest = seeded.hexdigest()
    team = _TEAMS[index % len(_TEAMS)]
    service = _SERVICES[(index // len(_TEAMS)) % len(_SERVICES)]
    day, second = divmod(_EPOCH + _STEP * index, 86_400)
    minute, second = divmod(second, 60)
    hour, minute = divmod(minute, 60)
    stamp = f"{_date(day)}T{hour:02d}:{minute:02d}:{second:02d}Z"
    return (
        f'{{"sequence":{index},"subject":"registry.example.com/{team}/{service}",'
        f'"digest":"sha256:{digest}","timestamp":"{stamp}"}}'
    ).encode("ascii")


@functools.lru_cache(maxsize=64)
def _date(day: int) -> str:
    # A few thousand entries share a day: formatting it once each is most of the saving
    # over strftime per entry.
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))


def demo_entries(start: int, stop: int) -> Iterator[bytes]:
    """Demo entries start..stop-1."""
    base = _sha256(_ENTRY_SEED)
    for i in range(start, stop):
        yield _demo_line(i, base.copy())


def demo_signer(name: str = DEMO_KEY_NAME) -> tuple[str, str]:
    """(signer key, verifier key) of the demo key: the same on every run and machine."""
    return note.signer_from_seed(name, _KEY_SEED)


def verifier_for(signer_key: str) -> str:
    """The verifier key of a signer key string; ConfigError when it is not one."""
    try:
        return note.verifier_key_of(signer_key.strip())
    except NoteError as exc:
        raise ConfigError(f"signer key: {exc}") from None


def _write_sha256(path: Path, digest: bytes) -> None:
    """`<path>.sha256` beside it, in `sha256sum` format."""
    line = f"{digest.hex()}  {path.name}\n"
    path.with_name(path.name + ".sha256").write_text(line, encoding="ascii")


def write_db(path: str | os.PathLike[str], entries: Iterable[bytes]) -> tuple[int, bytes]:
    """Write a db.jsonl and its `.sha256` beside it; (tree size, file SHA-256)."""
    path = Path(path)
    file_hash = _sha256()
    count = 0
    chunk: list[bytes] = []
    with open(path, "wb") as f:
        for entry in entries:
            chunk.append(entry)
            count += 1
            if len(chunk) == 4096:
                data = b"\n".join(chunk) + b"\n"
                file_hash.update(data)
                f.write(data)
                chunk = []
        if chunk:
            data = b"\n".join(chunk) + b"\n"
            file_hash.update(data)
            f.write(data)
    digest = file_hash.digest()
    _write_sha256(path, digest)
    return count, digest


def append_db(
    source: str | os.PathLike[str], target: str | os.PathLike[str], extra: Iterable[bytes]
) -> tuple[int, bytes]:
    """`target` = `source` with `extra` entries appended (a newer release), and its
    `.sha256`; (tree size, file SHA-256). `source` is copied as bytes, not re-validated."""
    target = Path(target)
    file_hash = _sha256()
    count = 0
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            file_hash.update(chunk)
            dst.write(chunk)
            count += chunk.count(b"\n")
        for entry in extra:
            line = entry + b"\n"
            file_hash.update(line)
            dst.write(line)
            count += 1
    digest = file_hash.digest()
    _write_sha256(target, digest)
    return count, digest


@dataclass(frozen=True)
class DemoData:
    db_path: Path
    sha256_path: Path
    signer_key_path: Path
    vkey_path: Path
    tree_size: int
    signer_key: str
    vkey: str


def write_key_files(directory: Path, signer_key: str, vkey: str) -> tuple[Path, Path]:
    """signer.key (0600, created so, never readable by others) and verifier.vkey."""
    key_path = directory / "signer.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(signer_key + "\n")
    os.chmod(key_path, 0o600)
    vkey_path = directory / "verifier.vkey"
    vkey_path.write_text(vkey + "\n", encoding="ascii")
    return key_path, vkey_path


def write_demo_data(
    directory: str | os.PathLike[str], entries: int, *, key_name: str = DEMO_KEY_NAME
) -> DemoData:
    """The demo release of `entries` entries in `directory` (created when missing)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    db_path = directory / "db.jsonl"
    size, _ = write_db(db_path, demo_entries(0, entries))
    signer_key, vkey = demo_signer(key_name)
    key_path, vkey_path = write_key_files(directory, signer_key, vkey)
    return DemoData(
        db_path=db_path,
        sha256_path=db_path.with_name("db.jsonl.sha256"),
        signer_key_path=key_path,
        vkey_path=vkey_path,
        tree_size=size,
        signer_key=signer_key,
        vkey=vkey,
    )


class EntryView(Sequence[bytes]):
    """A read-only sequence of entries; a subclass gives `__len__` and `_entry(i)` for
    0 <= i < len, and gets negative indices, slices and range checks from here."""

    __slots__ = ()

    def _entry(self, index: int) -> bytes:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self._entry(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"entry {index} outside 0..{n - 1}")
        return self._entry(index)

    def __iter__(self) -> Iterator[bytes]:
        for i in range(len(self)):
            yield self._entry(i)


class PackedEntries(EntryView):
    """Entries kept in one buffer with an offset table: about 9 bytes of overhead an
    entry instead of a Python object each, which is what keeps a million-entry origin
    well under its memory budget."""

    __slots__ = ("_buf", "_offsets")

    def __init__(self, buf: bytes, offsets: array[int]) -> None:
        # offsets[i] is where entry i starts; entry i ends one byte (its \n) before
        # offsets[i + 1]; the last offset is the buffer's length.
        self._buf = memoryview(buf)
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _entry(self, index: int) -> bytes:
        return self._buf[self._offsets[index] : self._offsets[index + 1] - 1].tobytes()


class _NamedBytes(io.BytesIO):
    """The file's bytes as a stream that db.py names in its messages like the file."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name


def _line_offsets(buf: bytes) -> array[int]:
    """Where each line starts, and the end: in C-speed passes over 1 MiB pieces."""
    offsets = array("Q", [0])
    start, n = 0, len(buf)
    while start < n:
        end = buf.rfind(b"\n", start, start + _PIECE) + 1
        if end <= start:  # one line longer than a piece
            end = buf.find(b"\n", start) + 1 or n
        ends = accumulate(map(len, buf[start:end].splitlines(True)), initial=start)
        next(ends)  # `start` itself, already the last offset
        offsets.extend(ends)
        start = end
    return offsets


def load_db(source: str | os.PathLike[str]) -> tuple[PackedEntries, list[bytes]]:
    """The entries of a db.jsonl, packed, and their leaf hashes; DbError when malformed.

    The file is read once; its bytes are the entries' buffer (each entry followed by its
    newline), validated by `db.iter_entries` and leaf-hashed on the way.
    """
    path = os.fspath(source)
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as exc:
        raise DbError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    sha = _sha256
    leaves = [sha(_LEAF + entry).digest() for entry in db.iter_entries(_NamedBytes(buf, path))]
    offsets = _line_offsets(buf)
    # bytes.splitlines also cuts at a bare \r, which cheap validation lets through inside
    # a line: then the two counts differ, and the offsets cannot be trusted.
    if len(offsets) != len(leaves) + 1 or offsets[-1] != len(buf):
        raise DbError(f"{path}: a line holds a carriage return (\\r): not one JSON object")
    return PackedEntries(buf, offsets), leaves


# --- derived views: what the reference deployment's faults and canary serve -----------

_DIGIT_SWAP = bytes.maketrans(b"0123456789", b"1234567898")


def alter_entry(entry: bytes) -> bytes:
    """A different entry that is still the same JSON shape: its last decimal digit moved
    (0->1 ... 8->9, 9->8: never a new leading zero), or, without digits, a space
    before the closing brace."""
    for pos in range(len(entry) - 1, -1, -1):
        c = entry[pos]
        if 0x30 <= c <= 0x39:
            return entry[:pos] + entry[pos : pos + 1].translate(_DIGIT_SWAP) + entry[pos + 1 :]
    end = entry.rfind(b"}")
    if end < 0:
        return entry + b" "
    return entry[:end] + b" " + entry[end:]


class Patched(EntryView):
    """A view of entries with one of them replaced."""

    __slots__ = ("_base", "_entry_bytes", "_index")

    def __init__(self, base: Sequence[bytes], index: int, entry: bytes) -> None:
        self._base, self._index, self._entry_bytes = base, index, entry

    def __len__(self) -> int:
        return len(self._base)

    def _entry(self, index: int) -> bytes:
        return self._entry_bytes if index == self._index else self._base[index]


class Chained(EntryView):
    """Entries of a log followed by more: the canary release's view of the stable one."""

    __slots__ = ("_base", "_extra")

    def __init__(self, base: Sequence[bytes], extra: Sequence[bytes]) -> None:
        self._base, self._extra = base, extra

    def __len__(self) -> int:
        return len(self._base) + len(self._extra)

    def _entry(self, index: int) -> bytes:
        n = len(self._base)
        return self._base[index] if index < n else self._extra[index - n]
