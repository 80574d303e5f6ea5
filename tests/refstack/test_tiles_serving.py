"""The reference deployment serves its log as C2SP tiles beside API v1, behind both edges.

Expected bytes come from db.jsonl (`tlogcheck.tiles.build_tiles` of its lines), not from
the server; then the tiles faults, each read through `tlogcheck.tiles.TiledTree`, which
must refuse them naming the tile.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.refstack.edges import EDGES
from tlogcheck import note, tiles
from tlogcheck.errors import FormatError, NoteError, ProofError
from tlogcheck.merkle import root_of
from tlogcheck.refstack.data import demo_entries, demo_signer
from tlogcheck.refstack.log import Log
from tlogcheck.refstack.stack import RunningStack, start_stack
from tlogcheck.tiles import TiledTree

ENTRIES = 1000  # 3 full tiles, partial tiles at levels 0 and 1, a partial bundle
BYPASS = {"X-Bypass": "1"}


@pytest.fixture(scope="module", params=EDGES)
def stack(request: pytest.FixtureRequest) -> Iterator[RunningStack]:
    with start_stack(entries=ENTRIES, edge=request.param, subprocess=False) as running:
        yield running


@pytest.fixture(scope="module")
def http(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.info.edge_url, timeout=10) as client:
        yield client


def _entries() -> list[bytes]:
    return list(demo_entries(0, ENTRIES))


def test_every_tile_and_bundle_is_db_jsonl_as_tiles(http: httpx.Client) -> None:
    want = tiles.build_tiles(_entries())
    for path, body in want.items():
        for headers in ({}, BYPASS):
            r = http.get("/" + path, headers=headers)
            assert r.status_code == 200, (path, headers, r.status_code)
            assert r.content == body, path
            assert r.headers["content-type"] == "application/octet-stream"
            assert tiles.cache_problem(path, r.headers["cache-control"]) is None, path


def test_checkpoint_is_signed_and_is_the_db_root(http: httpx.Client, stack: RunningStack) -> None:
    r = http.get("/checkpoint")
    assert r.status_code == 200
    signed = note.verify_note(r.content, [note.parse_verifier_key(stack.info.vkey)])
    cp = note.parse_checkpoint(signed.text)
    assert (cp.tree_size, cp.root_hash) == (ENTRIES, root_of(_entries()))
    assert tiles.cache_problem("checkpoint", r.headers["cache-control"]) is None
    # The same tree as API v1's checkpoint: one log, two APIs.
    assert http.get("/v1/log/checkpoint").content == r.content


def test_full_tiles_hit_the_edge_once_read(http: httpx.Client) -> None:
    http.get("/tile/0/001")
    second = http.get("/tile/0/001")
    status = second.headers.get("x-cache") or second.headers.get("x-cache-status")
    assert status == "HIT", dict(second.headers)


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/004",  # beyond the tree
        "/tile/0/003",  # full tile of a partial
        "/tile/0/003.p/233",  # wider than the tree holds
        "/tile/0/x000/003",  # not the one spelling of 3
        "/tile/0/003.p/0",
        "/tile/0/003.p/256",
        "/tile/00/000",
        "/tile/2/000",  # no level 2 yet
        "/tile/entries/004",
        "/tile/entries/3",
    ],
)
def test_what_the_tree_does_not_hold_is_404(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 404


def test_an_older_partial_tile_is_a_prefix_of_todays(http: httpx.Client) -> None:
    today = http.get("/tile/0/003.p/232").content
    assert http.get("/tile/0/003.p/100").content == today[: 100 * 32]


# --- the tiles faults, read as a client would -------------------------------------------


def _tree(faults: list[str]) -> tuple[TiledTree, Log]:
    signer, _ = demo_signer()
    log = Log(_entries(), "v1.0.0", signer)
    active = {f.partition(":")[0]: f.partition(":")[2] for f in faults}

    def fetch(path: str) -> bytes | None:
        status, _, body = log.respond("GET", "/" + path, "", {}, active)
        return body if status == 200 else None

    _, _, body = log.respond("GET", "/checkpoint", "", {}, active)
    cp = note.parse_checkpoint(note.parse_note(body).text)
    return TiledTree(fetch, cp.tree_size, cp.root_hash), log


def test_healthy_tiles_verify_every_entry() -> None:
    tree, _ = _tree([])
    tree.check_root()
    for i in range(ENTRIES):
        tree.verify_entry(i)


@pytest.mark.parametrize(
    "fault, read, words",
    [
        ("tiles-corrupt-hash", "entry:0", "tile/0/000 hashes to"),
        ("tiles-corrupt-entry", "entry:0", "tile/entries/000: entry 0"),
        ("tiles-corrupt-level1", "root", "root rebuilt from the tiles"),
        ("tiles-partial-short", "root", "tile/1/000.p/3: 64 bytes, a tile of width 3 is 96"),
        ("tiles-partial-short", "entry:999", "tile/0/003.p/232: 7392 bytes"),
        ("tiles-checkpoint-ahead", "root", "tile/0/003.p/248: HTTP 404"),
    ],
)
def test_each_tiles_fault_is_refused_naming_the_tile(fault: str, read: str, words: str) -> None:
    tree, _ = _tree([fault])
    with pytest.raises((ProofError, FormatError)) as info:
        if read == "root":
            tree.check_root()
        else:
            tree.verify_entry(int(read.partition(":")[2]))
    assert words in str(info.value)


def test_checkpoint_of_another_key_does_not_verify() -> None:
    _, vkey = demo_signer()
    signer, _ = demo_signer()
    log = Log(_entries(), "v1.0.0", signer)
    _, _, body = log.respond("GET", "/checkpoint", "", {}, {"tiles-checkpoint-other-key": ""})
    with pytest.raises(NoteError):
        note.verify_note(body, [note.parse_verifier_key(vkey)])
    # Same tree, same key name: only the signature gives it away.
    cp = note.parse_checkpoint(note.parse_note(body).text)
    assert (cp.tree_size, cp.root_hash) == (ENTRIES, log.root)


def test_checkpoint_no_cache_is_only_the_checkpoints_cache_control() -> None:
    signer, _ = demo_signer()
    log = Log(_entries(), "v1.0.0", signer)
    fault = {"tiles-checkpoint-no-cache": ""}
    _, headers, body = log.respond("GET", "/checkpoint", "", {}, fault)
    assert dict(headers)["cache-control"] == "no-cache"
    assert body == log.respond("GET", "/checkpoint", "", {}, {})[2]
    _, headers, _ = log.respond("GET", "/tile/0/000", "", {}, fault)
    assert "immutable" in dict(headers)["cache-control"]
    _, headers, _ = log.respond("GET", "/v1/log/checkpoint", "", {}, fault)
    assert dict(headers)["cache-control"] == log.short


def test_tiles_unicode_index_serves_a_tile_under_other_names() -> None:
    signer, _ = demo_signer()
    log = Log(_entries(), "v1.0.0", signer)
    assert log.respond("GET", "/tile/0/00٢", "", {}, {})[0] == 404
    fault = {"tiles-unicode-index": ""}
    status, _, body = log.respond("GET", "/tile/0/00٢", "", {}, fault)
    assert status == 200 and body == log.respond("GET", "/tile/0/002", "", {}, {})[2]
    assert log.respond("GET", "/tile/entries/٠٠٠", "", {}, fault)[0] == 200
