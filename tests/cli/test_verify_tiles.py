"""`tlogcheck verify URL INDEX --api tiles`: a C2SP tlog-tiles log on loopback, exit 0 / 1 / 2."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tlogcheck import merkle, note, tiles
from tlogcheck.cli import main
from tlogcheck.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

N = 256 * 2 + 40
ORIGIN = "tiles.example/log"
SKEY, VKEY = note.signer_from_seed(ORIGIN, b"\x07" * 32)
OTHER_SKEY, _ = note.signer_from_seed(ORIGIN, b"\x08" * 32)


def _checkpoint(size: int, root: bytes, skey: str = SKEY) -> bytes:
    return note.sign_note(note.format_checkpoint(ORIGIN, size, root), skey)


class _Log:
    def __init__(self) -> None:
        self.entries = [b"tile entry %d" % i for i in range(N)]
        self.files = tiles.build_tiles(self.entries)
        self.files["checkpoint"] = _checkpoint(N, merkle.root_of(self.entries))
        self.gzip = False
        self.paths: list[str] = []


@pytest.fixture
def log() -> Iterator[tuple[_Log, str]]:
    state = _Log()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path = self.path.removeprefix("/log/")
            state.paths.append(path)
            body = state.files.get(path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            if state.gzip:
                body = gzip.compress(body)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/log"
    finally:
        server.shutdown()
        server.server_close()


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv, "--api", "tiles", "--timeout", "5"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize("index", [0, 255, 256, N - 1])
def test_verified(log: tuple[_Log, str], capsys: pytest.CaptureFixture[str], index: int) -> None:
    state, url = log
    code, out, err = verify(capsys, url, str(index), "--vkey", VKEY)
    assert code == EXIT_OK, out + err
    assert out.startswith(f"verified: entry {index} in tree {N} root ")
    assert f"checkpoint signed by {ORIGIN}" in out
    assert state.paths[0] == "checkpoint"


def test_gzip_is_accepted_unasked(
    log: tuple[_Log, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = log
    state.gzip = True
    assert verify(capsys, url, "300")[0] == EXIT_OK


def test_remembered_tree_is_checked_for_consistency(
    log: tuple[_Log, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = log
    old = 300
    root = merkle.root_of(state.entries[:old]).hex()
    # The log has moved on: the partial tiles of size 300 are gone, their full tiles serve.
    code, out, err = verify(capsys, url, "299", "--tree-size", str(old), "--root-hash", root)
    assert code == EXIT_OK, out + err
    assert "consistent with served tree" in out
    code, out, _ = verify(capsys, url, "299", "--tree-size", str(old), "--root-hash", "00" * 32)
    assert code == EXIT_FAILED
    assert "FAILED: remembered tree: root rebuilt from the tiles" in out


def test_checkpoint_signed_by_another_key(
    log: tuple[_Log, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = log
    state.files["checkpoint"] = _checkpoint(N, merkle.root_of(state.entries), OTHER_SKEY)
    code, out, _ = verify(capsys, url, "3", "--vkey", VKEY)
    assert code == EXIT_FAILED
    assert out.startswith("FAILED: checkpoint signature:")


def test_checkpoint_ahead_of_the_tiles(
    log: tuple[_Log, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = log
    entries = [*state.entries, b"not served"]
    state.files["checkpoint"] = _checkpoint(N + 1, merkle.root_of(entries))
    code, out, _ = verify(capsys, url, "3", "--vkey", VKEY)
    assert code == EXIT_FAILED
    assert "FAILED: tiles root: tile/0/002.p/41: HTTP 404" in out


@pytest.mark.parametrize(
    ("path", "offset", "message"),
    [
        ("tile/0/000", 33, "FAILED: inclusion proof: tile/0/000 hashes to"),
        ("tile/entries/000", 4, "FAILED: inclusion proof: tile/entries/000: entry 0 (leaf 0)"),
        ("tile/1/000.p/2", 0, "FAILED: tiles root: root rebuilt from the tiles"),
    ],
)
def test_corrupt_tiles_fail(
    log: tuple[_Log, str],
    capsys: pytest.CaptureFixture[str],
    path: str,
    offset: int,
    message: str,
) -> None:
    state, url = log
    data = bytearray(state.files[path])
    data[offset] ^= 0x40
    state.files[path] = bytes(data)
    code, out, _ = verify(capsys, url, "7")
    assert code == EXIT_FAILED
    assert out.startswith(message), out


def test_partial_tile_one_hash_short(
    log: tuple[_Log, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = log
    state.files["tile/0/002.p/40"] = state.files["tile/0/002.p/40"][:-32]
    code, out, _ = verify(capsys, url, "520")
    assert code == EXIT_FAILED
    assert "tile/0/002.p/40: 1248 bytes, a tile of width 40 is 1280" in out


def test_index_outside_and_unreachable(
    log: tuple[_Log, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = log
    code, _, err = verify(capsys, url, str(N))
    assert code == EXIT_USAGE
    assert f"index {N} is outside the tree" in err
    code, _, err = verify(capsys, "http://127.0.0.1:9/log", "0")
    assert code == EXIT_USAGE
    assert "unreachable" in err
