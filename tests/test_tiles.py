"""C2SP tlog-tiles core: paths, known answers (Tessera), a larger fixture, property tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlogcheck import merkle, note, tiles
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.spec import OTHER_DIGITS

VECTORS = Path(__file__).parent / "vectors" / "c2sp-tiles-tessera"
TESSERA_KEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"


def _dir_fetch(root: Path) -> tiles.Fetch:
    def fetch(path: str) -> bytes | None:
        f = root / path
        return f.read_bytes() if f.is_file() else None

    return fetch


def _dict_fetch(files: dict[str, bytes], seen: list[str] | None = None) -> tiles.Fetch:
    def fetch(path: str) -> bytes | None:
        if seen is not None:
            seen.append(path)
        return files.get(path)

    return fetch


# -- paths and arithmetic ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "want"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_encode_index(n: int, want: str) -> None:
    assert tiles.encode_index(n) == want


def test_paths() -> None:
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(1, 3, 17) == "tile/1/003.p/17"
    assert tiles.entries_path(0, 15) == "tile/entries/000.p/15"
    assert tiles.entries_path(1000) == "tile/entries/x001/000"


def test_partial_width() -> None:
    size = 70000  # 273 full level-0 tiles + 112; level 1: 273 nodes = 1 full + 17
    assert tiles.partial_width(0, size) == 70000 % 256
    assert tiles.partial_width(1, size) == (70000 // 256) % 256
    assert tiles.partial_width(2, size) == 1
    assert [t.path for t in tiles.edge_tiles(size)] == [
        "tile/0/273.p/112",
        "tile/1/001.p/17",
        "tile/2/000.p/1",
    ]


def test_bundle_round_trip_and_malformed() -> None:
    entries = [b"", b"a", b"x" * 300]
    data = tiles.format_bundle(entries)
    assert tiles.parse_bundle(data, 3, "b") == entries
    with pytest.raises(FormatError, match="2 entries, the bundle's width is 3"):
        tiles.parse_bundle(tiles.format_bundle(entries[:2]), 3, "b")
    with pytest.raises(FormatError, match="after the 3 entries"):
        tiles.parse_bundle(data + b"\x00\x00", 3, "b")
    with pytest.raises(FormatError, match="says 300 bytes"):
        tiles.parse_bundle(data[:-1], 3, "b")
    with pytest.raises(FormatError, match="truncated length prefix"):
        tiles.parse_bundle(b"\x00", 1, "b")


def test_tile_length_is_checked() -> None:
    with pytest.raises(FormatError, match="tile/0/000.p/2: 63 bytes"):
        tiles.parse_tile(b"\x00" * 63, 2, "tile/0/000.p/2")


# -- known answers: Tessera's 15-entry log ------------------------------------------------


@pytest.mark.parametrize("size", range(16))
def test_tessera_every_size_verifies(size: int) -> None:
    verifier = note.parse_verifier_key(TESSERA_KEY)
    cp = note.verify_checkpoint((VECTORS / f"checkpoint.{size}").read_bytes(), [verifier])
    assert cp.tree_size == size
    tree = tiles.TiledTree(_dir_fetch(VECTORS), cp.tree_size, cp.root_hash)
    tree.check_root()
    for i in range(size):
        tree.verify_entry(i)
    for old in range(size + 1):
        old_cp = note.parse_checkpoint(
            note.verify_note((VECTORS / f"checkpoint.{old}").read_bytes(), [verifier]).text
        )
        tree.verify_extends(old_cp.tree_size, old_cp.root_hash)


def test_tessera_root_at_15_is_the_readmes() -> None:
    import base64

    tree = tiles.TiledTree(_dir_fetch(VECTORS), 15, b"")
    assert base64.b64encode(tree.rebuilt_root()).decode() == (
        "rKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs="
    )


# -- a larger fixture: full tiles, x groups, three levels --------------------------------

# 1000 full level-0 tiles (so bundle/tile 1000 is x001/000) and a partial one; level 1 has
# 3 full tiles and a partial; level 2 one partial tile of 3 hashes.
BIG = 256 * 1000 + 77


@pytest.fixture(scope="module")
def big() -> tuple[list[bytes], dict[str, bytes], bytes]:
    entries = [b"entry %d" % i for i in range(BIG)]
    files = tiles.build_tiles(entries)
    return entries, files, merkle.root_of(entries)


def test_big_fixture_layout(big: tuple[list[bytes], dict[str, bytes], bytes]) -> None:
    _, files, _ = big
    assert "tile/0/x001/000.p/77" in files
    assert "tile/entries/x001/000.p/77" in files
    assert "tile/0/999" in files and "tile/1/002" in files
    assert "tile/1/003.p/232" in files and "tile/2/000.p/3" in files
    assert len(files["tile/0/999"]) == 256 * 32


def test_big_fixture_proofs(big: tuple[list[bytes], dict[str, bytes], bytes]) -> None:
    entries, files, root = big
    stored = merkle.StoredTree.from_entries(entries)
    tree = tiles.TiledTree(_dict_fetch(files), BIG, root)
    tree.check_root()
    for i in (0, 255, 256, 65535, 65536, 255999, 256000, BIG - 1):
        assert tree.inclusion_proof(i) == stored.inclusion_proof(i)
        assert tree.verify_entry(i) == entries[i]
    for old in (1, 255, 256, 65536, 100001, BIG - 1, BIG):
        assert tree.consistency_proof(old) == stored.consistency_proof(old, BIG)
        tree.verify_extends(old, stored.root(old))


def test_big_fixture_one_tile_serves_256_leaves(
    big: tuple[list[bytes], dict[str, bytes], bytes],
) -> None:
    _, files, root = big
    seen: list[str] = []
    tree = tiles.TiledTree(_dict_fetch(files, seen), BIG, root)
    for i in range(512, 768):
        tree.verify_entry(i)
    assert seen.count("tile/entries/002") == 1
    assert seen.count("tile/0/002") == 1


def _corrupt(files: dict[str, bytes], path: str, offset: int) -> dict[str, bytes]:
    bad = dict(files)
    data = bytearray(bad[path])
    data[offset] ^= 1
    bad[path] = bytes(data)
    return bad


def test_corrupt_full_level0_tile_names_it(
    big: tuple[list[bytes], dict[str, bytes], bytes],
) -> None:
    _, files, root = big
    tree = tiles.TiledTree(_dict_fetch(_corrupt(files, "tile/0/005", 40)), BIG, root)
    with pytest.raises(ProofError, match=r"tile/0/005 hashes to .* tile/1/000 holds"):
        tree.verify_entry(5 * 256 + 3)


def test_corrupt_bundle_entry_names_it(big: tuple[list[bytes], dict[str, bytes], bytes]) -> None:
    _, files, root = big
    tree = tiles.TiledTree(_dict_fetch(_corrupt(files, "tile/entries/007", 5)), BIG, root)
    with pytest.raises(ProofError, match=r"tile/entries/007: entry 0 \(leaf 1792\)"):
        tree.verify_entry(7 * 256 + 9)


def test_corrupt_level1_hash_is_caught(big: tuple[list[bytes], dict[str, bytes], bytes]) -> None:
    _, files, root = big
    tree = tiles.TiledTree(_dict_fetch(_corrupt(files, "tile/1/001", 0)), BIG, root)
    with pytest.raises(ProofError, match=r"tile/1/001 hashes to .* tile/2/000.p/3 holds"):
        tree.verify_entry(256 * 256 + 1)


def test_short_partial_tile_and_wrong_root(
    big: tuple[list[bytes], dict[str, bytes], bytes],
) -> None:
    _, files, root = big
    short = dict(files)
    short["tile/0/x001/000.p/77"] = files["tile/0/x001/000.p/77"][:-32]
    with pytest.raises(FormatError, match=r"tile/0/x001/000.p/77: 2432 bytes"):
        tiles.TiledTree(_dict_fetch(short), BIG, root).check_root()
    with pytest.raises(ProofError, match="root rebuilt from the tiles"):
        tiles.TiledTree(_dict_fetch(files), BIG, b"\x00" * 32).check_root()


def test_checkpoint_ahead_of_tiles_is_a_missing_tile(
    big: tuple[list[bytes], dict[str, bytes], bytes],
) -> None:
    _, files, root = big
    with pytest.raises(
        FormatError,
        match=r"000.p/78: HTTP 404, but the checkpoint at size 256078",
    ):
        tiles.TiledTree(_dict_fetch(files), BIG + 1, root).check_root()


def test_deleted_partial_is_read_from_its_full_tile(
    big: tuple[list[bytes], dict[str, bytes], bytes],
) -> None:
    entries, files, _ = big
    old = 256 * 3 + 10
    later = {p: d for p, d in files.items() if ".p/" not in p}
    tree = tiles.TiledTree(_dict_fetch(later), old, merkle.root_of(entries[:old]))
    tree.check_root()
    assert tree.verify_entry(old - 1) == entries[old - 1]
    assert "tile/0/003" in tree.paths_read and "tile/entries/003" in tree.paths_read


def test_old_tree_read_from_the_latest_tiles(
    big: tuple[list[bytes], dict[str, bytes], bytes],
) -> None:
    entries, files, _ = big
    for old in (1, 300, 65536 + 700, 200001):
        tree = tiles.TiledTree(_dict_fetch(files), old, merkle.root_of(entries[:old]), BIG)
        tree.check_root()
        assert tree.verify_entry(old - 1) == entries[old - 1]
        assert tree.verify_entry(0) == entries[0]


# -- property tests against tlogcheck.merkle --------------------------------------------


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 3 * 256 + 5), data=st.data())
def test_tiles_agree_with_merkle(size: int, data: st.DataObject) -> None:
    entries = [b"%d" % i for i in range(size)]
    stored = merkle.StoredTree.from_entries(entries)
    tree = tiles.TiledTree(_dict_fetch(tiles.build_tiles(entries)), size, stored.root())
    tree.check_root()
    index = data.draw(st.integers(0, size - 1))
    assert tree.inclusion_proof(index) == stored.inclusion_proof(index)
    assert tree.verify_entry(index) == entries[index]
    old = data.draw(st.integers(1, size))
    assert tree.consistency_proof(old) == stored.consistency_proof(old)
    tree.verify_extends(old, stored.root(old))


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 600), data=st.data())
def test_any_flipped_hash_byte_is_caught(size: int, data: st.DataObject) -> None:
    """Flip one byte of any tile or bundle: some read of the whole tree fails."""
    entries = [b"%d" % i for i in range(size)]
    files = tiles.build_tiles(entries)
    path = data.draw(st.sampled_from(sorted(p for p in files if files[p])))
    offset = data.draw(st.integers(0, len(files[path]) - 1))
    bad = _corrupt(files, path, offset)
    tree = tiles.TiledTree(_dict_fetch(bad), size, merkle.root_of(entries))
    with pytest.raises((ProofError, FormatError)):
        tree.check_root()
        for i in range(size):
            tree.verify_entry(i)


# --- paths read back and cache rules (the serving side and the suite) ---------------------


@given(st.integers(0, 5), st.integers(0, 10**12), st.integers(1, 256))
def test_tile_paths_read_back(level: int, index: int, width: int) -> None:
    assert tiles.parse_tile_path(tiles.tile_path(level, index, width)) == tiles.TilePath(
        level, index, width
    )
    bundle = tiles.parse_tile_path(tiles.entries_path(index, width))
    assert bundle == tiles.TilePath(tiles.ENTRIES_LEVEL, index, width) and bundle.is_bundle


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/x000/003",  # not the one spelling of 3
        "tile/0/3",
        "tile/0/0003",
        "tile/0/003.p/0",
        "tile/0/003.p/256",
        "tile/0/003.p/01",
        "tile/00/000",
        "tile/-1/000",
        "tile/x/000",
        "tile/0/x1/000",
        "tile/0/001/000",  # a group without x before the last
        "tile/entries",
        "tiles/0/000",
        "tile/0/٣٣٣",
    ],
)
def test_paths_not_spelled_as_the_spec_spells_them_are_refused(path: str) -> None:
    assert tiles.parse_tile_path(path) is None


@pytest.mark.parametrize(
    "path, value, ok",
    [
        ("tile/0/000", "public, max-age=31536000, immutable", True),
        ("tile/entries/x001/000", "max-age=86400, immutable", True),
        ("tile/0/000", "public, max-age=31536000", False),  # not immutable
        ("tile/0/000", "max-age=3600, immutable", False),  # not long-lived
        ("tile/0/000", None, False),
        ("tile/0/003.p/5", "public, max-age=60", True),
        ("tile/0/003.p/5", "public, max-age=31536000, immutable", False),
        ("tile/0/003.p/5", "no-store", False),
        ("checkpoint", "public, max-age=300", True),
        ("/checkpoint", "max-age=301", False),
        ("checkpoint", None, False),
        # What C2SP asks of a checkpoint and Tessera's buckets serve: revalidate every time.
        ("checkpoint", "no-cache", True),
        ("checkpoint", "public, no-cache, max-age=0", True),
        ("checkpoint", "max-age=5", True),
        ("checkpoint", "no-store", False),
        ("checkpoint", "max-age=60, stale-while-revalidate=31536000", False),
        ("checkpoint", "max-age=60, s-maxage=3600", False),
    ],
)
def test_cache_rules_of_a_tiled_log(path: str, value: str | None, ok: bool) -> None:
    assert (tiles.cache_problem(path, value) is None) == ok, tiles.cache_problem(path, value)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 1300), st.data())
def test_paths_for_entry_are_read_by_verifying_it(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    entries = [b"e%d" % i for i in range(size)]
    seen: list[str] = []
    tree = tiles.TiledTree(
        _dict_fetch(tiles.build_tiles(entries), seen), size, merkle.root_of(entries)
    )
    tree.verify_entry(index)
    want = tiles.paths_for_entry(index, size)
    # Nothing read ahead is wasted: the checked read asks for every one of them.
    assert set(want) <= set(seen) and len(set(want)) == len(want)


def test_paths_for_entry_of_a_three_level_log(
    big: tuple[list[bytes], dict[str, bytes], bytes],
) -> None:
    _, files, root = big
    for index in (0, 65535, 256000, BIG - 1):
        seen: list[str] = []
        tiles.TiledTree(_dict_fetch(files, seen), BIG, root).verify_entry(index)
        assert set(tiles.paths_for_entry(index, BIG)) <= set(seen)
    assert tiles.paths_for_entry(256000, BIG) == [
        "tile/entries/x001/000.p/77", "tile/0/x001/000.p/77", "tile/1/003.p/232",
        "tile/2/000.p/3",
    ]  # fmt: skip
    assert tiles.paths_for_entry(BIG, BIG) == []


@pytest.mark.parametrize(
    "path", ["tile/0/000", "tile/0/003.p/232", "tile/entries/x001/234", "tile/2/000.p/1"]
)
def test_malformed_spellings_of_a_tile_never_parse(path: str) -> None:
    assert tiles.parse_tile_path(path) is not None
    bad = tiles.malformed_tile_paths(path, OTHER_DIGITS)
    assert len(bad) >= 8 and path not in bad
    assert any(not b.isascii() for b in bad)
    for spelling in bad:
        assert tiles.parse_tile_path(spelling) is None, spelling
