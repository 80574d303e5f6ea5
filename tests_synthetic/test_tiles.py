"""A tiled log (C2SP tlog-tiles) — the playbook's checks with `--tlog-api tiles`.

`--tlog-url` is the log's prefix: `<prefix>/checkpoint` is its signed checkpoint,
`<prefix>/tile/<L>/<N>[.p/<W>]` its hash tiles, `<prefix>/tile/entries/<N>[.p/<W>]` its
entry bundles. A tiled log serves no proofs: they are computed from tiles (read ahead
concurrently, then checked one by one), and every tile read is checked first — 32 bytes
a hash, its hash in the tile above, every bundle entry against its level-0 hash — so a
wrong byte anywhere fails naming the tile's path. In the playbook's order:

- health (§0, §3.1): the checkpoint answers 200 within the timeout on the edge and the
  origin; `/healthz` is checked where it is served (a tiled log need not serve one).
- checkpoint (§3.2): a signed note that verifies with `--tlog-vkey` (test_checkpoint.py,
  which holds for both APIs).
- root (§0): the root rebuilt from the right-edge tiles is the checkpoint's.
- inclusion (§0, §3.2): the edge indices and the seeded sample, read from their bundles,
  proven included in the checkpoint's tree.
- consistency (§5): the checkpoint's tree extends every `--tlog-known-root` and the
  `--tlog-state` tree; a fully passing run records it there.
- parity (§2.3, §3.2): edge and origin (X-Bypass: 1) serve one log: the same checkpoint
  with byte-identical tiles, or an older edge tree the origin's tiles prove a prefix of,
  within what the origin's Cache-Control allows; and every client (curl, requests, Go's
  net/http, a browser, tlogcheck asking for gzip) reads the same checkpoint and tiles.
- cache (§3.3): full tiles and bundles long-lived and immutable, partial tiles and the
  checkpoint short; full tiles, once read, are served from the edge's cache.
- etag (§4): an ETag is not required of a tiled log; one in the spec's SHA-256 form must
  be the body's, and any ETag revalidates on the checkpoint and every kind of tile
  (If-None-Match: 304 with no body; a validator that does not match, also beside an
  If-Modified-Since: the whole body).
- db (§4): db.jsonl's hash, the checkpoint's root rebuilt from it, the origin's
  checkpoint covering it (test_db.py, which holds for both APIs).

The API v1 checks skip under `--tlog-api tiles`, saying why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

import pytest

from tlogcheck import tiles
from tlogcheck.client import Response, TLogClient
from tlogcheck.client.profiles import CLIENT_PROFILES, TLOGCHECK_GZIP
from tlogcheck.client.purpose import CACHE, HEALTH, PROBE, READ, asking
from tlogcheck.errors import FormatError, ProofError
from tlogcheck.playbook.checks import TILES
from tlogcheck.plugin.hits import judge_hit_rate
from tlogcheck.plugin.report import add_count, add_fact
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail, render
from tlogcheck.plugin.witness import offer_verified, state_to_prove_from
from tlogcheck.spec import OTHER_DIGITS, PATH_HEALTH, etag_problem
from tlogcheck.tiles import TiledTree
from tlogcheck.verify import (
    NO_EDGE,
    ServedCheckpoint,
    Tree,
    answered_by,
    read_as_every_client,
)
from tlogcheck.verify.cache import cache_control_problems
from tlogcheck.verify.conditional import revalidation_problems
from tlogcheck.verify.served import asked_once_more, server_error, server_errors
from tlogcheck.verify.tiles import PATH_CHECKPOINT, TileReader
from tlogcheck.verify.tiles_rules import (
    judge_checkpoint_answers,
    judge_extends,
    judge_healthz_where_served,
    judge_one_log,
    one_log,
)

pytestmark = pytest.mark.api("tiles")

SHOWN = 3
READ_TILES = 16  # full tiles and bundles compared across views and read for the hit rate
_SHA256_ETAG = re.compile(r'(W/)?"[0-9a-f]{64}"')


def _paths(size: int) -> list[str]:
    """The checkpoint, the right-edge tiles and bundle of `size`, and up to READ_TILES
    full tiles and bundles: one of every kind the log serves."""
    paths = [PATH_CHECKPOINT]
    edge = tiles.edge_tiles(size)
    paths += ["/" + t.path for t in edge]
    if size:
        last = (size - 1) // tiles.TILE_WIDTH
        paths.append("/" + tiles.entries_path(last, tiles.tile_width(0, last, size)))
    return paths + ["/" + p for p in _full_paths(size)]


def _full_paths(size: int) -> list[str]:
    """Full level-0 tiles and bundles, spread over the log (at most READ_TILES)."""
    full = size // tiles.TILE_WIDTH
    if not full:
        return []
    step = max(1, full // (READ_TILES // 2))
    chosen = list(range(0, full, step))[: READ_TILES // 2]
    return [p for n in chosen for p in (tiles.tile_path(0, n), tiles.entries_path(n))]


# --- health: playbook §0, §3.1 ----------------------------------------------------------


@pytest.mark.health
@pytest.mark.parametrize("view", ["edge", "origin"])
def test_checkpoint_answers_200_within_the_timeout(
    tlog_client: TLogClient, tlog_target: Target, view: str, request: pytest.FixtureRequest
) -> None:
    with asking(READ, f"the checkpoint the {view} serves"):
        response = tlog_client.get(PATH_CHECKPOINT, view=view, shared=True)
    add_fact(request.config, f"checkpoint_status.{view}", response.status)
    # The rule is verify.tiles_rules' (the exporter's tiles health check judges by it too).
    render(judge_checkpoint_answers(response, tlog_target.timeout))


@pytest.mark.health
@pytest.mark.parametrize("view", ["edge", "origin"])
def test_healthz_answers_where_it_is_served(tlog_client: TLogClient, view: str) -> None:
    with asking(HEALTH, "the §3.1 health check, where it is served"):
        response = tlog_client.get(PATH_HEALTH, view=view)
    render(judge_healthz_where_served(response))


# --- root: playbook §0 ------------------------------------------------------------------


@pytest.mark.root
def test_root_rebuilt_from_the_right_edge_tiles_is_the_checkpoints(
    tiled_tree: TiledTree, tiles_checkpoint: ServedCheckpoint
) -> None:
    try:
        tiled_tree.check_root()
        return
    except (ProofError, FormatError) as exc:
        problem = str(exc)
    fail(
        TILES["root"],
        expected=f"the root rebuilt from the right-edge tiles equals the checkpoint's "
        f"{tiles_checkpoint.tree.describe()}",
        served=problem,
    )


@pytest.mark.root
def test_tile_paths_not_spelled_as_c2sp_spells_them_are_refused(
    tlog_client: TLogClient, tiles_checkpoint: ServedCheckpoint
) -> None:
    """Each kind of tile the log has, spelled otherwise (`tiles.malformed_tile_paths`:
    digits of other scripts, signs, spaces, padding): never 200, on both views."""
    kinds = _one_of_each_kind(tiles_checkpoint.tree.tree_size)[1:]
    bad = [b for k in kinds for b in tiles.malformed_tile_paths(k.lstrip("/"), OTHER_DIGITS)]
    asks = [("/" + quote(b, safe="/"), v) for b in bad for v in ("edge", "origin")]
    with asking(PROBE, "a tile path spelled otherwise than C2SP spells it: must be 4xx"):
        answers = tlog_client.map(lambda pv: tlog_client.get(pv[0], view=pv[1]), asks)
        answers = asked_once_more(tlog_client, answers)
    # A 5xx is what was answered (Ingress5xxHigh), not a tile under another name.
    unanswered = [e for e in map(server_error, answers) if e is not None]
    wrong = [r.describe() for r in answers if r.status < 400]
    if not wrong and unanswered:
        raise server_errors(unanswered, len(asks), "misspelled tile paths")
    if wrong:
        fail(
            TILES["root"],
            expected=f"4xx for each of {len(asks)} tile paths spelled otherwise than C2SP "
            "spells them (a digit of another script, a sign, a space, other padding), on "
            "both views: one tile, one name",
            served=f"{len(wrong)} were not:\n          " + "\n          ".join(wrong[:6]),
        )


# --- inclusion: playbook §0, §3.2 -------------------------------------------------------


@pytest.mark.inclusion
def test_sampled_entries_are_included_in_the_checkpoint(
    tiled_tree: TiledTree,
    tile_reader: TileReader,
    tiles_checkpoint: ServedCheckpoint,
    tiles_sample: list[int],
    tlog_target: Target,
    request: pytest.FixtureRequest,
) -> None:
    size = tiles_checkpoint.tree.tree_size
    tile_reader.prefetch(p for i in tiles_sample for p in tiles.paths_for_entry(i, size))
    failures: list[tuple[int, str]] = []
    for i in tiles_sample:
        try:
            tiled_tree.verify_entry(i)
        except (ProofError, FormatError) as exc:
            failures.append((i, str(exc)))
    add_count(request.config, "entries_verified", len(tiles_sample) - len(failures))
    add_count(request.config, "entries_failed", len(failures))
    if not failures:
        return
    first = failures[0][0]
    shown = "\n".join(f"          index {i}: {problem}" for i, problem in failures[:SHOWN])
    if len(failures) > SHOWN:
        shown += f"\n          ... and {len(failures) - SHOWN} more"
    rerun = {"re-run one": tlog_target.replay_command(check="inclusion", index=first)}
    if not tlog_target.embedded:
        rerun["or"] = (
            f"tlogcheck verify {tlog_target.url} {first}{tlog_target.verify_args()} "
            "--tlog-api tiles"
        )
    fail(
        TILES["inclusion"],
        expected=f"each of {len(tiles_sample)} sampled entries, read from its bundle, is "
        f"included in the checkpoint's {tiles_checkpoint.tree.describe()}",
        served=f"{len(failures)} failed: {', '.join(str(i) for i, _ in failures)}\n{shown}",
        extra={"seed": str(tlog_target.seed), **rerun},
        facts={"indices": [i for i, _ in failures]},
    )


# --- consistency: playbook §5 -----------------------------------------------------------


def _origin_tree(request: pytest.FixtureRequest) -> Callable[[], TiledTree]:
    def read() -> TiledTree:
        reader: TileReader = request.getfixturevalue("origin_tile_reader")
        served: ServedCheckpoint = request.getfixturevalue("origin_tiles_checkpoint")
        reader.release = served.tree.release
        return reader.tree(served.tree.tree_size, served.tree.root_hash)

    return read


@pytest.mark.consistency
def test_log_extends_every_known_root(
    tiled_tree: TiledTree,
    tiles_checkpoint: ServedCheckpoint,
    tlog_target: Target,
    request: pytest.FixtureRequest,
) -> None:
    if not tlog_target.known_roots:
        pytest.skip("no --tlog-known-root given: no recorded tree to prove from")
    render(
        judge_extends(
            tiled_tree,
            [Tree(known.tree_size, known.root_hash) for known in tlog_target.known_roots],
            _origin_tree(request),
            tiles_checkpoint.tree,
            "every --tlog-known-root (consistency from the tiles)",
        )
    )


@pytest.mark.consistency
def test_log_extends_the_state_tree(
    tiled_tree: TiledTree,
    tiles_checkpoint: ServedCheckpoint,
    tlog_target: Target,
    request: pytest.FixtureRequest,
) -> None:
    served = tiles_checkpoint.tree
    state = state_to_prove_from(request, tlog_target, served)
    recorded = Tree(state.tree_size, state.root_hash)
    what = f"the last verified tree ({tlog_target.state_path})"
    render(judge_extends(tiled_tree, [recorded], _origin_tree(request), served, what))
    offer_verified(request, max(served, recorded, key=lambda t: t.tree_size))


# --- parity: playbook §2.3, §3.2 --------------------------------------------------------


def _answer(response: Response) -> tuple[int, bytes]:
    return response.status, response.body


@pytest.mark.parity
def test_edge_and_origin_serve_one_log(
    tlog_client: TLogClient,
    tlog_target: Target,
    tiles_checkpoint: ServedCheckpoint,
    origin_tiles_checkpoint: ServedCheckpoint,
    tiled_tree: TiledTree,
    origin_tile_reader: TileReader,
) -> None:
    edge, origin = tiles_checkpoint.tree, origin_tiles_checkpoint.tree
    if edge != origin or tiles_checkpoint.response.body != origin_tiles_checkpoint.response.body:

        def origin_tree() -> TiledTree:
            origin_tile_reader.release = origin.release
            return origin_tile_reader.tree(origin.tree_size, origin.root_hash)

        # The rule is verify.tiles_rules' (the exporter's tiles parity judges by it too);
        # rendered under the tiled log's next step.
        verdict = judge_one_log(
            tlog_client, tiles_checkpoint.response, origin_tiles_checkpoint.response, edge,
            origin, tiled_tree, origin_tree,
        )  # fmt: skip
        for found in verdict.findings[:1]:
            fail(TILES["parity"], expected=found.expected, served=found.served)
        if edge != origin:
            return
    paths = _paths(edge.tree_size)[1:]
    asks = [(p, v) for p in paths for v in ("edge", "origin")]
    by_path: dict[str, dict[str, Response]] = {}
    release = edge.release

    def ask(pv: tuple[str, str]) -> Response:
        return answered_by(tlog_client, pv[0], view=pv[1], release=release)

    with asking(READ, "tiles and bundles on both views"):
        answers = asked_once_more(tlog_client, tlog_client.map(ask, asks))
    for response in answers:
        by_path.setdefault(response.path, {})[response.view] = response
    # A 5xx on either view is what was answered (Ingress5xxHigh), not a difference.
    unanswered = [e for e in map(server_error, answers) if e is not None]
    problems = [
        f"{path}: edge {v['edge'].describe()}\n            origin {v['origin'].describe()}"
        for path, v in by_path.items()
        if max(v["edge"].status, v["origin"].status) < 500
        and _answer(v["edge"]) != _answer(v["origin"])
    ]
    if unanswered and not problems:
        raise server_errors(unanswered, len(asks), "tile and bundle reads")
    if problems:
        fail(
            TILES["parity"],
            expected=f"{one_log(tlog_target.origin_view)}: byte-identical tiles and bundles "
            f"of {edge.describe()}",
            served=f"{len(problems)} of {len(by_path)} paths differ:\n          "
            + "\n          ".join(problems[:SHOWN]),
        )


@pytest.mark.parity
def test_every_client_reads_the_same_tiled_log(
    tlog_client: TLogClient, tiles_checkpoint: ServedCheckpoint
) -> None:
    """The checkpoint and the tiles read as each client asks, gzip included (C2SP tells
    clients to ask for it), are the bytes tlogcheck reads with identity."""
    paths = _paths(tiles_checkpoint.tree.tree_size)[: 2 + READ_TILES // 2]
    clients = (*CLIENT_PROFILES, TLOGCHECK_GZIP)
    problems = read_as_every_client(
        tlog_client, paths, release=tiles_checkpoint.tree.release, profiles=clients
    )
    if problems:
        fail(
            TILES["parity"],
            expected=f"the same bytes for {len(paths)} reads of the checkpoint and tiles "
            f"whichever client asks ({', '.join(p.name for p in clients)} and tlogcheck)",
            served=f"{len(problems)} differ:\n          " + "\n          ".join(problems[:6]),
        )


# --- cache: playbook §3.3 ---------------------------------------------------------------


@pytest.mark.cache
def test_cache_control_of_tiles_and_checkpoint(
    tlog_client: TLogClient, tiles_checkpoint: ServedCheckpoint
) -> None:
    paths = _paths(tiles_checkpoint.tree.tree_size)
    asks = [(p, v) for p in paths for v in ("edge", "origin")]
    with asking(READ, "tiles and the checkpoint, for their Cache-Control"):
        responses = tlog_client.map(lambda pv: tlog_client.get(pv[0], view=pv[1]), asks)
    problems = cache_control_problems(responses, tiles.cache_problem)
    if problems:
        fail(
            "cache",
            expected="full tiles and bundles immutable with a max-age of a day or more; "
            "partial tiles and the checkpoint a short max-age or no-cache, never immutable; "
            "passed through by the edge",
            served="\n          ".join(problems),
        )


@pytest.mark.cache
def test_full_tiles_hit_the_edge_cache(
    tlog_client: TLogClient,
    tlog_target: Target,
    tiles_checkpoint: ServedCheckpoint,
    request: pytest.FixtureRequest,
) -> None:
    if tlog_target.has_edge is False:
        pytest.skip(NO_EDGE)
    paths = ["/" + p for p in _full_paths(tiles_checkpoint.tree.tree_size)]
    if not paths:
        pytest.skip(f"no full tile yet ({tiles_checkpoint.tree.describe()}): nothing immutable")
    release = tiles_checkpoint.tree.release
    with asking(CACHE, "the first read of each full tile, which may fill the cache"):
        tlog_client.map(lambda p: answered_by(tlog_client, p, release=release), paths)
    judge_hit_rate(request.config, tlog_client, paths)


# --- etag: playbook §4 ------------------------------------------------------------------


def _etag_problems(client: TLogClient, response: Response) -> list[str]:
    etag = response.etag
    if response.status != 200 or etag is None:
        return []
    problems = []
    if _SHA256_ETAG.fullmatch(etag):
        problem = etag_problem(etag, response.body)
        if problem is not None:
            problems.append(f"{response.view} {response.path}: {problem}")
    # A tiled log need not revalidate, but never strands a client (verify.conditional).
    return problems + revalidation_problems(client, response, strict_304=False)


def _one_of_each_kind(size: int) -> list[str]:
    """The checkpoint and the first of each kind of tile `_paths` lists: a full and a
    partial hash tile, a full and a partial entry bundle (those the log has)."""
    chosen: dict[tuple[bool, bool] | None, str] = {}
    for path in _paths(size):
        where = tiles.parse_tile_path(path.lstrip("/"))
        chosen.setdefault(None if where is None else (where.is_bundle, where.full), path)
    return list(chosen.values())


@pytest.mark.etag
def test_etags_hash_and_revalidate(
    tlog_client: TLogClient, tiles_checkpoint: ServedCheckpoint
) -> None:
    paths = _one_of_each_kind(tiles_checkpoint.tree.tree_size)
    asks = [(p, v) for p in paths for v in ("edge", "origin")]
    with asking(READ, "tiles and the checkpoint, for their ETag"):
        responses = tlog_client.map(lambda pv: tlog_client.get(pv[0], view=pv[1]), asks)
    tagged = [r for r in responses if r.etag is not None]
    if not tagged:
        pytest.skip("no ETag on the checkpoint, tiles or bundles: nothing to check")
    # A 5xx to a revalidation is what was answered (`verify.conditional`: Ingress5xxHigh).
    problems = [p for ps in tlog_client.map(lambda r: _etag_problems(tlog_client, r), tagged)
                for p in ps]  # fmt: skip
    if problems:
        fail(
            TILES["etag"],
            expected='an ETag of the form "<SHA-256>" is the body\'s; If-None-Match with the '
            "ETag gets 304 and no body (or the same bytes), with another validator the whole "
            "body, also beside an If-Modified-Since (RFC 9110 §13.2.2)",
            served=f"{len(problems)} problems:\n          " + "\n          ".join(problems[:8]),
        )
