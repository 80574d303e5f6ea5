"""The suite with `--tlog-api tiles` against tiled logs nobody here serves: static files.

Tessera's own 15-entry test log (tests/vectors/c2sp-tiles-tessera, its key) and a
256,077-entry log (full tiles, `x` path groups, three levels), each behind a plain
static file server (tests/static_tiles.py): no edge, no ETag, no /healthz. Set up with
the cache rules a CDN origin should send, every check that applies passes and the rest
skip saying why; without Cache-Control, the cache check — and only it — fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.static_tiles import StaticTiles, files_of
from tlogcheck import note, tiles
from tlogcheck.merkle import root_of
from tlogcheck.refstack.data import demo_signer
from tlogcheck.runs import SuiteRun, run_suite

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "c2sp-tiles-tessera"
TESSERA_KEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
BIG = 256 * 1000 + 77
ARGS = ("--tlog-api=tiles", "-m", "not load", "-rs")


def _why(run: SuiteRun) -> str:
    tail = "\n".join(run.output.splitlines()[-50:])
    return f"exit {run.exitstatus}, verdicts {run.check_verdicts()}\n--- output (tail) ---\n{tail}"


@pytest.fixture(scope="module")
def big_log() -> dict[str, bytes]:
    entries = [b'{"n":%d}' % i for i in range(BIG)]
    files = tiles.build_tiles(entries)
    signer, _ = demo_signer()
    text = note.format_checkpoint("tlog.example.com/big", BIG, root_of(entries))
    files["checkpoint"] = note.sign_note(text, signer)
    return files


def _run(url: str, vkey: str, *extra: str) -> SuiteRun:
    return run_suite([*ARGS, f"--tlog-url={url}", f"--tlog-vkey={vkey}", *extra])


def test_tessera_log_passes_every_check_that_applies() -> None:
    with StaticTiles(files_of(VECTORS, "checkpoint.15")) as server:
        run = _run(server.url, TESSERA_KEY, "--tlog-known-root=8:" + _root_hex(8))
    assert run.exitstatus == 0, _why(run)
    verdicts = run.check_verdicts()
    for check in ("health", "checkpoint", "root", "inclusion", "consistency", "cache"):
        assert verdicts[check] == "passed", _why(run)
    # No ETag: said, not passed. No edge: the two views are one server, which agrees.
    assert verdicts["parity"] == "passed" and verdicts["etag"] == "skipped", _why(run)
    assert "not served on the edge view" in run.output  # /healthz


def _root_hex(size: int) -> str:
    tree = tiles.TiledTree(lambda p: (VECTORS / p).read_bytes(), size, b"")
    return tree.rebuilt_root().hex()


def test_tessera_log_signed_by_another_key_fails_the_checkpoint_check() -> None:
    other = note.verifier_key_of(note.generate_signer("example.com/log/testdata")[0])
    with StaticTiles(files_of(VECTORS, "checkpoint.15")) as server:
        run = _run(server.url, other)
    assert run.exitstatus == 1, _why(run)
    assert run.failed_checks == {"checkpoint"}, _why(run)


def test_a_log_without_cache_control_fails_the_cache_check_only() -> None:
    with StaticTiles(files_of(VECTORS, "checkpoint.15"), cache=None) as server:
        run = _run(server.url, TESSERA_KEY)
    assert run.exitstatus == 1, _why(run)
    assert run.failed_checks == {"cache"}, _why(run)
    assert "/checkpoint: no Cache-Control header" in run.output


@pytest.fixture(scope="module")
def big_server(big_log: dict[str, bytes]) -> Iterator[StaticTiles]:
    with StaticTiles(big_log) as server:
        yield server


def test_three_level_log_with_x_groups_passes(big_server: StaticTiles) -> None:
    _, vkey = demo_signer()
    run = _run(big_server.url, vkey, "--tlog-sample=64", "--tlog-index=256000",
               "--tlog-index=256076", "--tlog-index=65535")  # fmt: skip
    assert run.exitstatus == 0, _why(run)
    assert run.check_verdicts()["inclusion"] == "passed", _why(run)
    assert run.check_verdicts()["root"] == "passed", _why(run)


def test_three_level_log_with_a_bad_deep_tile_fails_naming_it(
    big_log: dict[str, bytes],
) -> None:
    files = dict(big_log)
    bad = bytearray(files["tile/0/x001/000.p/77"])
    bad[32 * 5] ^= 0x01
    files["tile/0/x001/000.p/77"] = bytes(bad)
    _, vkey = demo_signer()
    with StaticTiles(files) as server:
        run = _run(server.url, vkey, "--tlog-index=256005")
    assert run.exitstatus == 1, _why(run)
    assert {"root", "inclusion"} <= run.failed_checks, _why(run)
    assert "tile/0/x001/000.p/77" in run.output
