"""`tlogcheck root`: the playbook §4 root rebuild, as users run it."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tlogcheck import cli
from tlogcheck.cli import root as cmd_root
from tlogcheck.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tlogcheck.merkle import EMPTY_ROOT, StoredTree

ENTRIES = [json.dumps({"seq": i, "digest": f"sha256:{i:064x}"}).encode() for i in range(300)]
TREE = StoredTree.from_entries(ENTRIES)
DATA = b"".join(e + b"\n" for e in ENTRIES)
SHA = hashlib.sha256(DATA).hexdigest()
REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def tlogcheck(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [PY, "-m", "tlogcheck", "root", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "db.jsonl"
    path.write_bytes(DATA)
    return path


def expected(size: int = len(ENTRIES)) -> dict[str, object]:
    return {"tree_size": size, "root_hash": TREE.root(size).hex(), "sha256": SHA}


def test_prints_size_root_and_sha256(db_path: Path) -> None:
    proc = tlogcheck(str(db_path))
    assert (proc.returncode, proc.stderr) == (EXIT_OK, b"")
    assert proc.stdout.count(b"\n") == 1
    assert json.loads(proc.stdout) == expected()


def test_stdin_dash() -> None:
    proc = tlogcheck("-", stdin=DATA)
    assert (proc.returncode, proc.stderr) == (EXIT_OK, b"")
    assert json.loads(proc.stdout) == expected()


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "db.jsonl"
    path.write_bytes(b"")
    proc = tlogcheck(str(path), "--prefix", "0")
    assert json.loads(proc.stdout) == {
        "tree_size": 0,
        "root_hash": EMPTY_ROOT.hex(),
        "sha256": hashlib.sha256(b"").hexdigest(),
        "prefix_roots": {"0": EMPTY_ROOT.hex()},
    }


def test_prefix_roots(db_path: Path) -> None:
    proc = tlogcheck(str(db_path), "--prefix", "255", "--prefix", "1", "--prefix", "300")
    assert proc.returncode == EXIT_OK
    out = json.loads(proc.stdout)
    assert out["prefix_roots"] == {str(s): TREE.root(s).hex() for s in (1, 255, 300)}
    assert list(out["prefix_roots"]) == ["1", "255", "300"]


def test_sha256_file_match(db_path: Path, tmp_path: Path) -> None:
    for line in (f"{SHA}  db.jsonl\n", f"{SHA} *db.jsonl\n"):
        sha_path = tmp_path / "db.jsonl.sha256"
        sha_path.write_text(line)
        proc = tlogcheck(str(db_path), "--sha256-file", str(sha_path))
        assert (proc.returncode, proc.stderr) == (EXIT_OK, b"")
        assert json.loads(proc.stdout) == expected()


def test_sha256_file_written_by_sha256sum(db_path: Path) -> None:
    sha256sum = "/usr/bin/sha256sum"
    if not os.path.exists(sha256sum):
        pytest.skip("no sha256sum here")
    made = subprocess.run(
        [sha256sum, "db.jsonl"], cwd=db_path.parent, capture_output=True, check=True
    )
    (db_path.parent / "db.jsonl.sha256").write_bytes(made.stdout)
    proc = tlogcheck(str(db_path), "--sha256-file", str(db_path.parent / "db.jsonl.sha256"))
    assert proc.returncode == EXIT_OK


def test_sha256_file_mismatch_exits_1_naming_both(db_path: Path, tmp_path: Path) -> None:
    other = hashlib.sha256(b"release").hexdigest()
    sha_path = tmp_path / "db.jsonl.sha256"
    sha_path.write_text(f"{other}  db.jsonl\n")
    proc = tlogcheck(str(db_path), "--sha256-file", str(sha_path))
    assert proc.returncode == EXIT_FAILED
    assert json.loads(proc.stdout) == expected()
    message = proc.stderr.decode()
    assert message.count("\n") == 1
    assert SHA in message and other in message and str(sha_path) in message


def test_malformed_sha256_file_exits_2(db_path: Path, tmp_path: Path) -> None:
    sha_path = tmp_path / "db.jsonl.sha256"
    sha_path.write_text(f"{SHA.upper()}  db.jsonl\n")
    proc = tlogcheck(str(db_path), "--sha256-file", str(sha_path))
    assert proc.returncode == EXIT_USAGE
    assert proc.stdout == b""
    assert proc.stderr.decode().startswith(f"tlogcheck root: error: {sha_path}:1: expected 64")


@pytest.mark.parametrize(
    ("data", "line", "what"),
    [
        (DATA + b"\n", 301, "empty line"),
        (DATA[:-1], 300, "no final newline"),
        (b'{"a":1}\r\n', 1, "CRLF line ending"),
        (DATA + b'{"a":"\xfe"}\n', 301, "invalid UTF-8"),
        (b"{}\n[]\n", 2, "not a JSON object"),
        (b'{}\n{"a" 1}\n', 2, "not valid JSON"),
    ],
)
def test_malformed_db_exits_2_with_one_line(
    tmp_path: Path, data: bytes, line: int, what: str
) -> None:
    path = tmp_path / "db.jsonl"
    path.write_bytes(data)
    proc = tlogcheck(str(path), "--strict")
    assert proc.returncode == EXIT_USAGE
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert err.startswith(f"tlogcheck root: error: {path}:{line}: {what}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_malformed_stdin_names_stdin() -> None:
    proc = tlogcheck("-", stdin=b"{}\n\n")
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr == b"tlogcheck root: error: <stdin>:2: empty line\n"


def test_missing_file_and_prefix_too_large(db_path: Path) -> None:
    proc = tlogcheck(str(db_path.parent / "absent.jsonl"))
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.decode().startswith("tlogcheck root: error: ")
    assert proc.stderr.count(b"\n") == 1
    proc = tlogcheck(str(db_path), "--prefix", "301")
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.decode() == (
        f"tlogcheck root: error: {db_path}: prefix size 301 is larger than the tree size 300\n"
    )


def test_bad_prefix_is_a_usage_error(db_path: Path) -> None:
    for value in ("-1", "x", "1.5"):
        proc = tlogcheck(str(db_path), "--prefix", value)
        assert proc.returncode == EXIT_USAGE
        assert b"argument --prefix" in proc.stderr and b"Traceback" not in proc.stderr


def test_strict_and_no_strict(tmp_path: Path) -> None:
    path = tmp_path / "db.jsonl"
    path.write_bytes(b'{"a" 1}\n')
    assert tlogcheck(str(path), "--no-strict").returncode == EXIT_OK
    assert tlogcheck(str(path), "--strict").returncode == EXIT_USAGE
    default = tlogcheck(str(path)).returncode
    assert default == (EXIT_USAGE if cmd_root.STRICT_DEFAULT else EXIT_OK)


def test_reader_gone_is_no_traceback(db_path: Path) -> None:
    proc = subprocess.Popen(
        [PY, "-m", "tlogcheck", "root", str(db_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the child writes its one line
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == EXIT_FAILED
    assert err == b""


# --- in process ---------------------------------------------------------------------


def test_in_process(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["root", str(db_path), "--prefix", "7"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert json.loads(out) == {**expected(), "prefix_roots": {"7": TREE.root(7).hex()}}
    assert err == ""  # pytest's stderr is no terminal: no progress line


def test_in_process_errors(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"{}\n{}\r\n")
    assert cli.main(["root", str(bad)]) == EXIT_USAGE
    assert capsys.readouterr() == (
        "",
        f"tlogcheck root: error: {bad}:2: CRLF line ending; lines must end with \\n alone\n",
    )
    sha_path = tmp_path / "db.jsonl.sha256"
    sha_path.write_text(f"{'0' * 64}  db.jsonl\n")
    assert cli.main(["root", str(db_path), "--sha256-file", str(sha_path)]) == EXIT_FAILED
    out, err = capsys.readouterr()
    assert json.loads(out) == expected()
    assert f"SHA-256 {SHA} does not match {'0' * 64}" in err


# --- progress on a terminal ---------------------------------------------------------


def _read_all(fd: int, deadline: float) -> bytes:
    chunks = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal (EIO on Linux)
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_progress_line_on_a_terminal_is_cleared() -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [PY, "-m", "tlogcheck", "root", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=REPO,
    )
    os.close(slave)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        # Entries arrive slowly, so the audit outlives the progress line's delay.
        for _ in range(8):
            proc.stdin.write(DATA)
            proc.stdin.flush()
            time.sleep(0.25)
        proc.stdin.close()
        out = proc.stdout.read()
        assert proc.wait(timeout=30) == EXIT_OK
        err = _read_all(master, time.monotonic() + 5)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(out)["tree_size"] == 8 * len(ENTRIES)
    assert b"<stdin>: " in err and b" entries, " in err and b"MiB/s" in err
    assert err.endswith(b"\r\x1b[K")  # the line is erased: nothing is left behind
