"""`tlogcheck verify URL INDEX --api tiles`: a C2SP tlog-tiles log on loopback, exit 0 / 1 / 2."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.static_tiles import StaticTiles
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


@pytest.fixture
def log() -> Iterator[tuple[_Log, StaticTiles]]:
    state = _Log()
    with StaticTiles(state.files, prefix="/log", cache=None) as server:
        yield state, server


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv, "--api", "tiles", "--timeout", "5"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize("index", [0, 255, 256, N - 1])
def test_verified(
    log: tuple[_Log, StaticTiles], capsys: pytest.CaptureFixture[str], index: int
) -> None:
    state, server = log
    url = server.url
    code, out, err = verify(capsys, url, str(index), "--vkey", VKEY)
    assert code == EXIT_OK, out + err
    assert out.startswith(f"verified: entry {index} in tree {N} root ")
    assert f"checkpoint signed by {ORIGIN}" in out
    assert server.paths[0] == "checkpoint"


def test_gzip_is_accepted_unasked(
    log: tuple[_Log, StaticTiles], capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = log
    url = server.url
    server.gzip = True
    assert verify(capsys, url, "300")[0] == EXIT_OK


def test_remembered_tree_is_checked_for_consistency(
    log: tuple[_Log, StaticTiles], capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = log
    url = server.url
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
    log: tuple[_Log, StaticTiles], capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = log
    url = server.url
    state.files["checkpoint"] = _checkpoint(N, merkle.root_of(state.entries), OTHER_SKEY)
    code, out, _ = verify(capsys, url, "3", "--vkey", VKEY)
    assert code == EXIT_FAILED
    assert out.startswith("FAILED: checkpoint signature:")


def test_checkpoint_ahead_of_the_tiles(
    log: tuple[_Log, StaticTiles], capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = log
    url = server.url
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
    log: tuple[_Log, StaticTiles],
    capsys: pytest.CaptureFixture[str],
    path: str,
    offset: int,
    message: str,
) -> None:
    state, server = log
    url = server.url
    data = bytearray(state.files[path])
    data[offset] ^= 0x40
    state.files[path] = bytes(data)
    code, out, _ = verify(capsys, url, "7")
    assert code == EXIT_FAILED
    assert out.startswith(message), out


def test_partial_tile_one_hash_short(
    log: tuple[_Log, StaticTiles], capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = log
    url = server.url
    state.files["tile/0/002.p/40"] = state.files["tile/0/002.p/40"][:-32]
    code, out, _ = verify(capsys, url, "520")
    assert code == EXIT_FAILED
    assert "tile/0/002.p/40: 1248 bytes, a tile of width 40 is 1280" in out


def test_index_outside_and_unreachable(
    log: tuple[_Log, StaticTiles], capsys: pytest.CaptureFixture[str]
) -> None:
    url = log[1].url
    code, _, err = verify(capsys, url, str(N))
    assert code == EXIT_USAGE
    assert f"index {N} is outside the tree" in err
    code, _, err = verify(capsys, "http://127.0.0.1:9/log", "0")
    assert code == EXIT_USAGE
    assert "unreachable" in err
