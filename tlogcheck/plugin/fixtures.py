"""The session fixtures the checks of tests_synthetic ask for: the target, one client
(edge and origin views), the served root of each view, the checkpoint, the sample, the
stable side of a canary, and the db.jsonl audit. Each is fetched once per process and
shared; what a view served goes into the report's "served" section."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tlogcheck.client.purpose import READ, asking
from tlogcheck.errors import ConfigError, DbError, FormatError
from tlogcheck.plugin import report
from tlogcheck.plugin.suite import make_client, target
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail
from tlogcheck.verify import sampling

if TYPE_CHECKING:
    from tlogcheck import verify
    from tlogcheck.client import Response, TLogClient
    from tlogcheck.db import DbAudit


@pytest.fixture(scope="session")
def tlog_target(request: pytest.FixtureRequest) -> Target:
    """The deployment under test (see `Target`)."""
    try:
        return target(request.config)
    except ConfigError as exc:
        pytest.fail(f"tlogcheck: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def tlog_client(request: pytest.FixtureRequest, tlog_target: Target) -> Iterator[TLogClient]:
    """One client for the session: the edge view and the origin view of the target."""
    try:
        client = make_client(request.config, tlog_target)
    except ConfigError as exc:
        pytest.fail(f"tlogcheck: {exc}", pytrace=False)
    try:
        yield client
    finally:
        report.add_releases(request.config, client.releases_seen())
        report.add_cache_statuses(request.config, client.cache_seen())
        client.close()


def _served_root(client: TLogClient, view: str) -> verify.ServedRoot:
    from tlogcheck import spec, verify

    with asking(READ, f"the root the {view} serves"):
        response = client.get(spec.PATH_ROOT, view=view, shared=True)
    try:
        return verify.ServedRoot(verify.read_root(response), response)
    except FormatError as exc:
        fail(
            "root",
            expected=f"a well-formed root on the {view} view to check the log against",
            served=f"{exc}\n          {response.describe()}",
        )


def _note_served(config: pytest.Config, view: str, served: verify.ServedRoot) -> verify.ServedRoot:
    note_served(config, view, served.tree, served.response)
    return served


def note_served(config: pytest.Config, view: str, tree: verify.Tree, r: Response) -> None:
    """What a view served, in the report's "served" section."""
    report.add_served(
        config,
        view,
        {
            "tree_size": tree.tree_size,
            "root_hash": tree.root_hash.hex(),
            "release": r.release,
            "etag": r.etag,
            "cache_status": r.cache_status,
            "url": r.url,
            "fetched_at": report.iso_time(time.time()),
        },
    )


@pytest.fixture(scope="session")
def served_root(request: pytest.FixtureRequest, tlog_client: TLogClient) -> verify.ServedRoot:
    """The root the edge serves, fetched once per process: what clients verify against."""
    return _note_served(request.config, "edge", _served_root(tlog_client, "edge"))


@pytest.fixture(scope="session")
def origin_root(request: pytest.FixtureRequest, tlog_client: TLogClient) -> verify.ServedRoot:
    """The root the origin serves (X-Bypass: 1 or the origin URL), fetched once."""
    return _note_served(request.config, "origin", _served_root(tlog_client, "origin"))


@pytest.fixture(scope="session")
def served_checkpoint(tlog_client: TLogClient, tlog_target: Target) -> Response:
    """The edge's checkpoint response, fetched once: /v1/log/checkpoint, or a tiled log's
    <prefix>/checkpoint with --tlog-api tiles."""
    from tlogcheck import spec
    from tlogcheck.verify import tiles as tiled

    path = tiled.PATH_CHECKPOINT if tlog_target.api == "tiles" else spec.PATH_CHECKPOINT
    with asking(READ, "the checkpoint the edge serves"):
        return tlog_client.get(path, shared=True)


@pytest.fixture(scope="session")
def sample_indices(tlog_target: Target, served_root: verify.ServedRoot) -> list[int]:
    """The run's indices: edges + seeded uniform sample of the served tree, or --tlog-index."""
    if tlog_target.indices:
        return sorted(set(tlog_target.indices))
    return sampling.sample_indices(served_root.root.tree_size, tlog_target.sample, tlog_target.seed)


@pytest.fixture(scope="session")
def stable_client(request: pytest.FixtureRequest, tlog_target: Target) -> Iterator[TLogClient]:
    """A client of the stable side (--tlog-stable-url), apart from the target's: its
    answers are not the target's and do not count in the target's release mix."""
    if tlog_target.stable_url is None:
        pytest.skip("no --tlog-stable-url given: the target is not compared with a stable side")
    client = make_client(request.config, tlog_target, tlog_target.stable_url, stable=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def stable_root(request: pytest.FixtureRequest, stable_client: TLogClient) -> verify.ServedRoot:
    """The root the stable side serves, fetched once per process."""
    from tlogcheck import spec, verify

    with asking(READ, "the stable side's root"):
        response = stable_client.get(spec.PATH_ROOT, shared=True)
    try:
        served = verify.ServedRoot(verify.read_root(response), response)
    except FormatError as exc:
        fail(
            "canary",
            expected="a well-formed root on the stable side (--tlog-stable-url) to compare with",
            served=f"{exc}\n          stable side: {response.describe()}",
        )
    report.summary_line(
        request.config,
        f"stable side {stable_client.edge_url}: {served.tree.describe()} "
        f"(release {served.response.release})",
    )
    return served


@pytest.fixture(scope="session")
def db_audit(request: pytest.FixtureRequest, tlog_target: Target) -> DbAudit:
    """One streaming pass over --tlog-db: its SHA-256, size, root, and the served-size prefix."""
    found = _db_audit(request, tlog_target)
    report.record(
        request.config,
        "db",
        {
            "path": str(tlog_target.db),
            "sha256": found.sha256.hex(),
            "tree_size": found.tree_size,
            "root_hash": found.root_hash.hex(),
        },
    )
    return found


def served_by(
    request: pytest.FixtureRequest, tlog_target: Target, view: str = "edge"
) -> verify.ServedRoot | verify.ServedCheckpoint:
    """What a view says it serves: its root under API v1, a tiled log's checkpoint."""
    tiles = tlog_target.api == "tiles"
    if view == "origin":
        return request.getfixturevalue("origin_tiles_checkpoint" if tiles else "origin_root")  # type: ignore[no-any-return]
    return request.getfixturevalue("tiles_checkpoint" if tiles else "served_root")  # type: ignore[no-any-return]


def _db_audit(request: pytest.FixtureRequest, tlog_target: Target) -> DbAudit:
    from tlogcheck.verify.release import audit_against

    if tlog_target.db is None:
        pytest.skip("no --tlog-db given: db.jsonl is not checked")
    served = served_by(request, tlog_target)
    try:
        return audit_against(tlog_target.db, served.tree.tree_size)
    except DbError as exc:
        fail(
            "db",
            expected=f"{tlog_target.db} to be a well-formed db.jsonl",
            served=str(exc),
        )


# --- hooks ------------------------------------------------------------------------------
