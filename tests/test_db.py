"""tlogcheck.db: the db.jsonl audit (playbook §4: file hash and root rebuild)."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tlogcheck import db
from tlogcheck.errors import ConfigError, DbError
from tlogcheck.merkle import EMPTY_ROOT, StoredTree, root_of


def entry(i: int) -> bytes:
    digest = hashlib.sha256(str(i).encode()).hexdigest()
    return (
        f'{{"seq":{i},"subject":"pkg:oci/acme/app-{i % 13}","digest":"sha256:{digest}"}}'.encode()
    )


def jsonl(entries: list[bytes]) -> bytes:
    return b"".join(e + b"\n" for e in entries)


class Trickle(io.RawIOBase):
    """A stream that hands out at most `step` bytes a read: lines cross every chunk edge."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += len(out)
        return out


class Endless(io.RawIOBase):
    """A stream of 'x' without end: only the line cap can stop the reader."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = 1 << 20 if size < 0 else size
        self.served += n
        return b"x" * n


class Failing(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise OSError(5, "Input/output error")


ENTRIES = [entry(i) for i in range(9000)]  # over two RootBuilder batches of 4096
TREE = StoredTree.from_entries(ENTRIES)


# --- roots, sizes, file hash -------------------------------------------------------


def test_empty_file_is_the_empty_tree(tmp_path: Path) -> None:
    path = tmp_path / "db.jsonl"
    path.write_bytes(b"")
    result = db.audit(path, prefix_sizes=[0])
    assert result == db.DbAudit(0, EMPTY_ROOT, hashlib.sha256(b"").digest(), {0: EMPTY_ROOT})


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 4095, 4096, 4097, 8192, 8193, 9000])
@pytest.mark.parametrize("strict", [False, True])
def test_root_and_sha256_equal_stored_tree(n: int, strict: bool) -> None:
    data = jsonl(ENTRIES[:n])
    result = db.audit(io.BytesIO(data), strict=strict)
    assert result.tree_size == n
    assert result.root_hash == TREE.root(n)
    assert result.sha256 == hashlib.sha256(data).digest()
    assert result.prefix_roots == {}


def test_prefix_roots_equal_stored_tree_roots() -> None:
    sizes = [0, 1, 2, 3, 5, 64, 100, 1000, 4095, 4096, 4097, 5000, 8191, 8192, 8193, 8999, 9000]
    result = db.audit(io.BytesIO(jsonl(ENTRIES)), prefix_sizes=reversed(sizes + [3, 4096]))
    assert list(result.prefix_roots) == sizes
    for size in sizes:
        assert result.prefix_roots[size] == TREE.root(size), size
    assert result.root_hash == TREE.root()


@pytest.mark.parametrize("step", [1, 7, 150, 4096, 100_000])
def test_lines_crossing_reads_give_the_same_root(step: int) -> None:
    entries = ENTRIES[:300] if step < 100 else ENTRIES
    data = jsonl(entries)
    result = db.audit(Trickle(data, step), prefix_sizes=[1, 150, len(entries)], strict=True)
    tree = StoredTree.from_entries(entries)
    assert (result.tree_size, result.root_hash) == (len(entries), tree.root())
    assert result.sha256 == hashlib.sha256(data).digest()
    assert result.prefix_roots == {s: tree.root(s) for s in (1, 150, len(entries))}


def test_100k_entries_root_equals_stored_tree(tmp_path: Path) -> None:
    entries = [entry(i) for i in range(100_000)]
    path = tmp_path / "db.jsonl"
    path.write_bytes(jsonl(entries))
    tree = StoredTree.from_entries(entries)
    result = db.audit(str(path), prefix_sizes=[65_536, 99_999])
    assert result.tree_size == 100_000
    assert result.root_hash == tree.root()
    assert result.prefix_roots == {65_536: tree.root(65_536), 99_999: tree.root(99_999)}
    assert result.sha256 == hashlib.sha256(path.read_bytes()).digest()


def test_non_ascii_entries_and_multibyte_at_chunk_edges() -> None:
    # Multi-byte characters land on every read boundary; both levels decode them whole.
    entries = [
        json.dumps({"i": i, "s": "é€😀" * (i % 5)}, ensure_ascii=False).encode() for i in range(400)
    ]
    for strict in (False, True):
        result = db.audit(Trickle(jsonl(entries), 5), strict=strict)
        assert result.root_hash == root_of(entries)


def test_stdin_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    data = jsonl(ENTRIES[:10])
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(data)))
    assert db.audit("-").root_hash == TREE.root(10)
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(b"{}\n\n")))
    with pytest.raises(DbError, match=r"^<stdin>:2: empty line$"):
        db.audit("-")


def test_progress_reports_bytes_and_entries() -> None:
    data = jsonl(ENTRIES)
    calls: list[tuple[int, int]] = []
    db.audit(Trickle(data, 100_000), progress=lambda b, e: calls.append((b, e)))
    assert calls[-1] == (len(data), len(ENTRIES))
    assert calls == sorted(calls)
    assert len(calls) > 2


def test_prefix_larger_than_the_tree_names_both_sizes() -> None:
    with pytest.raises(
        DbError, match=r"^<stream>: prefix size 11 is larger than the tree size 10$"
    ):
        db.audit(io.BytesIO(jsonl(ENTRIES[:10])), prefix_sizes=[5, 11, 12])


def test_negative_prefix_size() -> None:
    with pytest.raises(DbError, match="prefix size -1 is negative"):
        db.audit(io.BytesIO(b""), prefix_sizes=[-1])


# --- malformed files: every error names its 1-based line ----------------------------

GOOD = b'{"a":1}\n'

BAD_LINES = [
    (b"\n", "empty line"),
    (b'{"a":1}\r\n', "CRLF line ending"),
    (b'{"a":"\xff"}\n', r"invalid UTF-8 at byte 7 of the line \(invalid start byte\)"),
    (b'{"a":"\xc0\xaf"}\n', "invalid UTF-8 at byte 7"),  # overlong "/"
    (b'{"a":"\xed\xa0\x80"}\n', "invalid UTF-8 at byte 7"),  # encoded surrogate
    (b'{"a":"\xe2\x82"}\n', "invalid UTF-8 at byte 7"),  # truncated sequence
    (b"[1,2]\n", r"""not a JSON object: .*\(the line is "\[1,2\]"\)"""),
    (b'"text"\n', "not a JSON object"),
    (b"42\n", "not a JSON object"),
    (b'{"a":1} \n', "not a JSON object"),
    (b' {"a":1}\n', "not a JSON object"),
    (b'\xef\xbb\xbf{"a":1}\n', "line starts with a UTF-8 byte order mark"),
]

STRICT_ONLY_BAD = [
    (b'{"a" 1}\n', "not valid JSON: Expecting ':' delimiter at column 6"),
    (b'{"a":NaN}\n', "not valid JSON: NaN is not JSON"),
    (b'{"a":-Infinity}\n', "not valid JSON: -Infinity is not JSON"),
    (b'{"a":1} {"b":2}\n', "not one JSON object: extra data at column 8"),
    (b'{"a":1}}\n', "not one JSON object: extra data at column 8"),
    (b"{" + b'"a":' * 1 + b"[" * 100_000 + b"}\n", "not valid JSON"),
    (b'{"a":"tab\there"}\n', "not valid JSON: Invalid control character"),
]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(("bad", "what"), BAD_LINES)
@pytest.mark.parametrize("line_no", [1, 3, 9000])
def test_bad_line_is_named(strict: bool, bad: bytes, what: str, line_no: int) -> None:
    data = GOOD * (line_no - 1) + bad + GOOD * 5
    with pytest.raises(DbError, match=rf"^<stream>:{line_no}: {what}"):
        db.audit(io.BytesIO(data), strict=strict)


@pytest.mark.parametrize(("bad", "what"), STRICT_ONLY_BAD)
def test_strict_parses_every_line(bad: bytes, what: str) -> None:
    data = GOOD * 4 + bad + GOOD
    with pytest.raises(DbError, match=rf"^<stream>:5: {what}"):
        db.audit(io.BytesIO(data), strict=True)


@pytest.mark.parametrize(("bad", "what"), STRICT_ONLY_BAD[:5])
def test_cheap_level_only_checks_utf8_and_braces(bad: bytes, what: str) -> None:
    # The documented price of the default level: such lines are hashed as they are.
    data = GOOD * 4 + bad + GOOD
    assert db.audit(io.BytesIO(data)).tree_size == 6


@pytest.mark.parametrize("strict", [False, True])
def test_missing_final_newline(strict: bool) -> None:
    with pytest.raises(DbError, match=r"^<stream>:3: no final newline"):
        db.audit(io.BytesIO(GOOD * 2 + b'{"a":1}'), strict=strict)
    with pytest.raises(DbError, match=r"^<stream>:1: not a JSON object.*; and no final newline"):
        db.audit(io.BytesIO(b"[1]"), strict=strict)


def test_first_bad_line_is_reported() -> None:
    data = GOOD * 10 + b'{"a":"\xff"}\n' + GOOD + b"\n" + b"[]\n"
    with pytest.raises(DbError, match=r"^<stream>:11: invalid UTF-8"):
        db.audit(io.BytesIO(data))


@pytest.mark.parametrize("step", [1, 3, 64])
@pytest.mark.parametrize("strict", [False, True])
def test_bad_line_across_reads_keeps_its_number(step: int, strict: bool) -> None:
    data = GOOD * 20 + b'{"a":1}\r\n' + GOOD
    with pytest.raises(DbError, match=r"^<stream>:21: CRLF"):
        db.audit(Trickle(data, step), strict=strict)


def test_bad_line_straddling_a_chunk_edge(tmp_path: Path) -> None:
    # Line 2 starts 5 bytes before the 1 MiB read boundary and is bad after it.
    first = b'{"p":"' + b"x" * (db.CHUNK_SIZE - 5 - 9) + b'"}\n'
    path = tmp_path / "db.jsonl"
    path.write_bytes(first + b'{"a":"\xff"}\n' + GOOD)
    assert len(first) == db.CHUNK_SIZE - 5
    with pytest.raises(DbError, match=rf"^{path}:2: invalid UTF-8 at byte 7"):
        db.audit(path)


def test_line_over_the_cap_is_an_error_not_unbounded_memory() -> None:
    stream = Endless()
    with pytest.raises(DbError, match=r"^<stream>:1: line is longer than the 16 MiB cap"):
        db.audit(stream)
    # The reader stopped right after the cap instead of buffering the whole stream.
    assert stream.served <= db.MAX_LINE_BYTES + db.CHUNK_SIZE


def test_line_cap_counts_a_line_across_chunks(tmp_path: Path) -> None:
    long_line = b'{"p":"' + b"x" * (db.MAX_LINE_BYTES - 8) + b'"}'
    assert len(long_line) == db.MAX_LINE_BYTES
    path = tmp_path / "db.jsonl"
    path.write_bytes(GOOD + long_line + b"\n")
    assert db.audit(path).tree_size == 2  # exactly at the cap is allowed
    path.write_bytes(GOOD + long_line + b"x\n")
    with pytest.raises(DbError, match=rf"^{path}:2: line is longer than the 16 MiB cap"):
        db.audit(path)


@pytest.mark.parametrize("step", [1, 9, 1000])
def test_custom_line_cap(step: int) -> None:
    ok = b'{"a":"' + b"x" * 12 + b'"}'  # 20 bytes
    assert db.audit(Trickle(GOOD + ok + b"\n", step), max_line_bytes=20).tree_size == 2
    with pytest.raises(DbError, match=r"^<stream>:2: line is .*20 bytes cap"):
        db.audit(Trickle(GOOD + ok[:-1] + b'x"}\n' + GOOD, step), max_line_bytes=20)
    with pytest.raises(ConfigError):
        db.audit(io.BytesIO(GOOD), max_line_bytes=0)


def test_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(DbError, match=rf"^{tmp_path / 'nope.jsonl'}: cannot open"):
        db.audit(tmp_path / "nope.jsonl")
    with pytest.raises(DbError, match=rf"^{tmp_path}: cannot open"):
        db.audit(tmp_path)
    with pytest.raises(DbError, match="read error: Input/output error"):
        db.audit(Failing())


# --- iter_entries -------------------------------------------------------------------


def test_iter_entries_yields_lines_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "db.jsonl"
    path.write_bytes(jsonl(ENTRIES))
    assert list(db.iter_entries(path)) == ENTRIES
    assert list(db.iter_entries(Trickle(jsonl(ENTRIES[:50]), 33), strict=True)) == ENTRIES[:50]
    assert list(db.iter_entries(io.BytesIO(b""))) == []


def test_iter_entries_raises_the_same_errors() -> None:
    got: list[bytes] = []
    with pytest.raises(DbError, match=r"^<stream>:3: CRLF"):
        for e in db.iter_entries(Trickle(GOOD * 2 + b"{}\r\n", 4)):
            got.append(e)
    assert got == [b'{"a":1}'] * 2
    with pytest.raises(DbError, match=r"^<stream>:2: not valid JSON"):
        list(db.iter_entries(io.BytesIO(GOOD + b"{x}\n"), strict=True))


# --- the release db.jsonl.sha256 ----------------------------------------------------

HEX = hashlib.sha256(b"db").hexdigest()


@pytest.mark.parametrize(
    "text", [f"{HEX}  db.jsonl\n", f"{HEX} *db.jsonl\n", f"{HEX}  release/v1.2.0/db.jsonl\n"]
)
def test_read_sha256_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "db.jsonl.sha256"
    path.write_text(text)
    assert db.read_sha256_file(path) == bytes.fromhex(HEX)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"", "1: empty"),
        (f"{HEX}  db.jsonl".encode(), "1: no final newline"),
        (f"{HEX}  db.jsonl\n{HEX}  other\n".encode(), "2: expected one line, found 2"),
        (f"{HEX}  db.jsonl\r\n".encode(), "1: CRLF"),
        (f"{HEX.upper()}  db.jsonl\n".encode(), "1: expected 64 lowercase hex"),
        (f"{HEX[:63]}  db.jsonl\n".encode(), "1: expected 64 lowercase hex"),
        (f"{HEX} db.jsonl\n".encode(), "1: expected two spaces"),
        (f"{HEX}\tdb.jsonl\n".encode(), "1: expected two spaces"),
        (f"{HEX}  \n".encode(), "1: no file name"),
        (f"{HEX}\n".encode(), "1: expected two spaces"),
        (b"\xff" * 70 + b"\n", "1: invalid UTF-8"),
        (b"a" * 5000, "1: not a sha256sum file"),
    ],
)
def test_malformed_sha256_file(tmp_path: Path, data: bytes, what: str) -> None:
    path = tmp_path / "db.jsonl.sha256"
    path.write_bytes(data)
    with pytest.raises(DbError, match=rf"^{path}:{what}"):
        db.read_sha256_file(path)


def test_missing_sha256_file(tmp_path: Path) -> None:
    with pytest.raises(DbError, match="cannot read"):
        db.read_sha256_file(tmp_path / "none.sha256")


# --- properties ---------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
OBJECTS = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5)


def _lines(objects: list[dict[str, object]], ascii_only: bool) -> list[bytes]:
    return [json.dumps(o, ensure_ascii=ascii_only).encode() for o in objects]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    objects=st.lists(OBJECTS, max_size=70),
    ascii_only=st.booleans(),
    step=st.integers(1, 600),
    strict=st.booleans(),
)
@example(objects=[], ascii_only=True, step=1, strict=True)
@example(objects=[{}], ascii_only=True, step=1, strict=False)
def test_audit_equals_root_of_and_hashlib(
    objects: list[dict[str, object]], ascii_only: bool, step: int, strict: bool
) -> None:
    entries = _lines(objects, ascii_only)
    data = jsonl(entries)
    result = db.audit(Trickle(data, step), strict=strict)
    assert result.tree_size == len(entries)
    assert result.root_hash == root_of(entries)
    assert result.sha256 == hashlib.sha256(data).digest()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 9000), data=st.data())
def test_any_prefix_roots_equal_stored_tree(n: int, data: st.DataObject) -> None:
    sizes = data.draw(st.lists(st.integers(0, n), max_size=6))
    result = db.audit(io.BytesIO(jsonl(ENTRIES[:n])), prefix_sizes=sizes)
    assert result.root_hash == TREE.root(n)
    assert result.prefix_roots == {s: TREE.root(s) for s in sorted(set(sizes))}
