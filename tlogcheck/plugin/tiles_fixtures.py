"""The session fixtures of a tiled log's checks (`--tlog-api tiles`): a tile reader per
view, the checkpoint each view serves, the edge's tree read from its tiles, and the run's
indices. Each is fetched once per process and shared, like the API v1 fixtures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tlogcheck.client.purpose import READ, asking
from tlogcheck.errors import FormatError
from tlogcheck.playbook.checks import TILES
from tlogcheck.plugin.fixtures import note_served
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail
from tlogcheck.verify import sampling
from tlogcheck.verify.views import ServedCheckpoint

if TYPE_CHECKING:
    from tlogcheck.client import TLogClient
    from tlogcheck.tiles import TiledTree
    from tlogcheck.verify.tiles import TileReader


def read_served_checkpoint(client: TLogClient, view: str) -> ServedCheckpoint:
    """The checkpoint `view` serves; a check fails (checkpoint) when it is not one."""
    from tlogcheck.verify import served_tree
    from tlogcheck.verify.tiles import PATH_CHECKPOINT

    with asking(READ, f"the checkpoint the {view} serves"):
        response = client.get(PATH_CHECKPOINT, view=view, shared=True)
    try:
        return ServedCheckpoint(served_tree(response), response)
    except FormatError as exc:
        fail(
            TILES["checkpoint"],
            expected=f"a well-formed checkpoint at {PATH_CHECKPOINT} on the {view} view to "
            "read the tiles against",
            served=f"{exc}\n          {response.describe()}",
        )


def _note_served(config: pytest.Config, view: str, served: ServedCheckpoint) -> ServedCheckpoint:
    note_served(config, view, served.tree, served.response)
    return served


@pytest.fixture(scope="session")
def tile_reader(tlog_client: TLogClient) -> TileReader:
    """Tiles through the edge view: what clients of the log read."""
    from tlogcheck.verify.tiles import TileReader

    return TileReader(tlog_client, "edge")


@pytest.fixture(scope="session")
def origin_tile_reader(tlog_client: TLogClient) -> TileReader:
    """Tiles through the origin view (X-Bypass: 1 or --tlog-origin-url)."""
    from tlogcheck.verify.tiles import TileReader

    return TileReader(tlog_client, "origin")


@pytest.fixture(scope="session")
def tiles_checkpoint(request: pytest.FixtureRequest, tlog_client: TLogClient) -> ServedCheckpoint:
    """The checkpoint the edge serves, fetched once: what the tiles are read against."""
    return _note_served(request.config, "edge", read_served_checkpoint(tlog_client, "edge"))


@pytest.fixture(scope="session")
def origin_tiles_checkpoint(
    request: pytest.FixtureRequest, tlog_client: TLogClient
) -> ServedCheckpoint:
    """The checkpoint the origin serves, fetched once."""
    return _note_served(request.config, "origin", read_served_checkpoint(tlog_client, "origin"))


@pytest.fixture(scope="session")
def tiled_tree(tile_reader: TileReader, tiles_checkpoint: ServedCheckpoint) -> TiledTree:
    """The edge checkpoint's tree, read from the edge's tiles as checks ask (each tile once)."""
    tree = tiles_checkpoint.tree
    tile_reader.release = tree.release
    return tile_reader.tree(tree.tree_size, tree.root_hash)


@pytest.fixture(scope="session")
def tiles_sample(tlog_target: Target, tiles_checkpoint: ServedCheckpoint) -> list[int]:
    """The run's indices: edges + seeded uniform sample of the checkpoint's tree, or
    --tlog-index."""
    if tlog_target.indices:
        return sorted(set(tlog_target.indices))
    size = tiles_checkpoint.tree.tree_size
    return sampling.sample_indices(size, tlog_target.sample, tlog_target.seed) if size else []
