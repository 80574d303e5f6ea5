"""`TileReader` over HTTP: tiles read ahead concurrently are the bytes read one by one, each
asked once; what goes wrong ahead is met again, in context, when the tile is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.static_tiles import StaticTiles, files_of
from tlogcheck import tiles
from tlogcheck.client import TLogClient
from tlogcheck.errors import TargetUnreachable
from tlogcheck.verify.tiles import TileReader

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "c2sp-tiles-tessera"


def test_read_ahead_serves_each_tile_once_with_the_same_bytes() -> None:
    files = files_of(VECTORS, "checkpoint.15")
    with StaticTiles(files) as server, TLogClient(server.url) as client:
        reader = TileReader(client)
        paths = tiles.paths_for_entry(3, 15)
        reader.prefetch([*paths, *paths])
        assert len(reader.responses) == len(paths)  # asked once each, duplicates dropped
        for path in paths:
            assert reader.fetch(path) == files[path]
        assert len(reader.responses) == len(paths)  # served from what was read ahead
        reader.prefetch(["tile/0/001"])  # not in the log: a 404 read ahead
        assert reader.fetch("tile/0/001") is None


def test_a_failure_ahead_is_met_again_when_the_tile_is_read() -> None:
    with StaticTiles({}) as server:
        url = server.url
    # The server is gone: reading ahead swallows the failure, the checked read raises it.
    with TLogClient(url, timeout=1, retries=0) as client:
        reader = TileReader(client)
        reader.prefetch(["tile/0/000.p/3"])
        with pytest.raises(TargetUnreachable):
            reader.fetch("tile/0/000.p/3")
