"""The tiled log's rules (`verify.tiles_rules`) on crafted answers and trees built from
tiles in memory: each verdict both ways, with the alert and the how its finding names.
The suite's tiles checks and the exporter's call these; live deployments exercise them
in tests/synthetic/test_tiles_suite.py and tests/exporter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest

from tlogcheck import tiles
from tlogcheck.client import Response, TLogClient
from tlogcheck.merkle import root_of
from tlogcheck.tiles import TiledTree
from tlogcheck.verify import Tree
from tlogcheck.verify.tiles_rules import (
    judge_checkpoint_answers,
    judge_extends,
    judge_healthz_where_served,
    judge_one_log,
)

ENTRIES = [f'{{"n":{i}}}'.encode() for i in range(600)]
OTHER = [f'{{"other":{i}}}'.encode() for i in range(600)]


def answer(path: str, status: int = 200, *, view: str = "edge", elapsed: float = 0.01,
           **headers: str) -> Response:  # fmt: skip
    return Response(url=f"http://t{path}", path=path, view=view, status=status,
                    headers=httpx.Headers(headers), body=b"x", elapsed=elapsed)  # fmt: skip


def tree_of(entries: list[bytes], size: int) -> TiledTree:
    files = tiles.build_tiles(entries, size)
    return TiledTree(files.get, size, root_of(entries[:size]))


def grown(size: int) -> Tree:
    return Tree(size, root_of(ENTRIES[:size]))


def never() -> TiledTree:
    raise AssertionError("the origin's tiles were read where they prove nothing")


@pytest.fixture
def client() -> Iterator[TLogClient]:
    """A client of nothing: the one-log rule judges what it was given."""
    with TLogClient("http://127.0.0.1:9", timeout=1, retries=0) as c:
        yield c


# --- health ------------------------------------------------------------------------------------


def test_the_checkpoint_answering_in_time_is_a_tiled_logs_health() -> None:
    assert judge_checkpoint_answers(answer("/checkpoint"), 10).status == "passed"
    for failing in (answer("/checkpoint", 503), answer("/checkpoint", elapsed=11.0)):
        verdict = judge_checkpoint_answers(failing, 10)
        (found,) = verdict.findings
        assert verdict.status == "failed" and found.alert == "TLogAvailabilityDown"
        assert found.expected == "GET /checkpoint on the edge view: 200 within 10s"


def test_healthz_is_judged_where_it_is_served() -> None:
    assert judge_healthz_where_served(answer("/healthz", 404)).status == "skipped"
    assert judge_healthz_where_served(answer("/healthz")).status == "passed"
    verdict = judge_healthz_where_served(answer("/healthz", 500, view="origin"))
    assert verdict.status == "failed" and verdict.alerts == {"TLogAvailabilityDown"}


# --- consistency from the tiles ----------------------------------------------------------------


def test_a_served_tree_extends_its_prefixes_and_not_another_log() -> None:
    served = tree_of(ENTRIES, 600)
    passed = judge_extends(served, [grown(1), grown(256), grown(600)], never, grown(600), "w")
    assert passed.status == "passed"
    forked = judge_extends(served, [Tree(300, root_of(OTHER[:300]))], never, grown(600),
                           "every --tlog-known-root")  # fmt: skip
    (found,) = forked.findings
    assert forked.status == "failed" and found.how == "proved"
    assert found.alert == "TLogInclusionProofFail" and found.check == "consistency"
    assert found.expected == f"the checkpoint's {grown(600).describe()} extends every " \
        "--tlog-known-root"  # fmt: skip
    assert judge_extends(served, [], never, grown(600), "w").status == "skipped"


def test_a_recorded_tree_ahead_of_the_edge_is_proved_by_the_origin_or_is_a_rollback() -> None:
    edge = tree_of(ENTRIES, 300)
    origin: Callable[[], TiledTree] = lambda: tree_of(ENTRIES, 600)  # noqa: E731
    assert judge_extends(edge, [grown(500)], origin, grown(300), "w").status == "passed"
    behind: Callable[[], TiledTree] = lambda: tree_of(ENTRIES, 400)  # noqa: E731
    verdict = judge_extends(edge, [grown(500)], behind, grown(300), "w")
    assert verdict.status == "failed" and "the log went back (a rollback)" in \
        verdict.findings[0].served  # fmt: skip


# --- parity: one log on both views -------------------------------------------------------------


def checkpoint(view: str, *, age: int | None = None, release: str = "v1",
               body: bytes | None = None) -> Response:  # fmt: skip
    """A view's checkpoint answer; two views' bodies differ unless `body` says otherwise
    (two different trees are never the same bytes)."""
    headers = {"cache-control": "max-age=60", "x-tlog-release": release}
    if age is not None:
        headers["age"] = str(age)
    return replace(answer("/checkpoint", view=view, **headers), body=body or view.encode())


@pytest.mark.parametrize(("age", "status"), [(10, "passed"), (600, "failed")])
def test_an_older_edge_is_one_log_within_its_max_age(
    client: TLogClient, age: int, status: str
) -> None:
    edge, origin = grown(300), grown(600)
    verdict = judge_one_log(client, checkpoint("edge", age=age), checkpoint("origin"), edge, origin,
                            tree_of(ENTRIES, 300), lambda: tree_of(ENTRIES, 600))  # fmt: skip
    assert verdict.status == status
    if status == "failed":
        (found,) = verdict.findings
        assert found.how == "observed" and found.served.startswith("stale: the older tree 300")


def test_two_trees_that_are_not_one_log_are_a_split_view(client: TLogClient) -> None:
    same_size = judge_one_log(client, checkpoint("edge"), checkpoint("origin"), grown(600),
                              Tree(600, root_of(OTHER)), tree_of(ENTRIES, 600), never)  # fmt: skip
    (found,) = same_size.findings
    assert found.how == "proved" and found.served.startswith("split view")
    assert found.alert == "TLogInclusionProofFail" and "origin: " in found.served
    fork = judge_one_log(client, checkpoint("edge", age=1), checkpoint("origin"),
                         Tree(300, root_of(OTHER[:300])), grown(600), tree_of(OTHER, 300),
                         lambda: tree_of(ENTRIES, 600))  # fmt: skip
    assert fork.status == "failed" and fork.findings[0].served.startswith("split view")
    assert fork.findings[0].how == "proved" and "is not a prefix of tree 600" in fork.findings[
        0].served  # fmt: skip


def test_an_older_origin_is_one_log_only_during_a_canary(client: TLogClient) -> None:
    edge = Tree(600, root_of(ENTRIES), "v2")
    one_release = judge_one_log(client, checkpoint("edge", release="v2"),
                                checkpoint("origin", release="v2"), edge,
                                Tree(300, root_of(ENTRIES[:300]), "v2"),
                                tree_of(ENTRIES, 600), never)  # fmt: skip
    assert one_release.status == "failed"
    assert "pods behind, or a rollback" in one_release.findings[0].served
    canary = judge_one_log(client, checkpoint("edge", release="v2"), checkpoint("origin"), edge,
                           Tree(300, root_of(ENTRIES[:300]), "v1"), tree_of(ENTRIES, 600),
                           never)  # fmt: skip
    assert canary.status == "passed"
    same = judge_one_log(client, checkpoint("edge", body=b"x"), checkpoint("origin", body=b"x"),
                         grown(600), grown(600),
                         tree_of(ENTRIES, 600), never)  # fmt: skip
    assert same.status == "passed"


def test_one_tree_in_other_bytes_is_not_one_log_unless_an_older_copy(client: TLogClient) -> None:
    """The same tree in two checkpoints that differ other than by cosignatures: the edge
    does not pass the origin's bytes through (`verify.lag.judge_same_tree`)."""
    edge = answer("/checkpoint", view="edge", **{"cache-control": "max-age=60"})
    origin = Response(url="http://t/checkpoint", path="/checkpoint", view="origin", status=200,
                      headers=httpx.Headers({"cache-control": "max-age=60"}), body=b"y",
                      elapsed=0.01)  # fmt: skip
    verdict = judge_one_log(client, edge, origin, grown(600), grown(600), tree_of(ENTRIES, 600),
                            never)  # fmt: skip
    (found,) = verdict.findings
    assert verdict.status == "failed" and found.alert == "TLogInclusionProofFail"
    assert found.served.startswith("same tree, different bytes")
    assert found.expected.startswith("the edge's checkpoint identical to the origin's")
    two_releases = judge_one_log(
        client, checkpoint("edge", release="v1"), checkpoint("origin", release="v2"),
        Tree(600, root_of(ENTRIES), "v1"), Tree(600, root_of(ENTRIES), "v2"),
        tree_of(ENTRIES, 600), never,
    )  # fmt: skip
    assert two_releases.status == "passed"


def test_a_canary_pod_answering_the_edge_fresh_with_the_older_tree_is_one_log(
    client: TLogClient,
) -> None:
    """During a canary the edge view may be answered by a pod of the old release, fresh (no
    Age): not a stale cache. The older tree must still be a proven prefix."""
    old, new = Tree(300, root_of(ENTRIES[:300]), "v1"), Tree(600, root_of(ENTRIES), "v2")
    honest = judge_one_log(client, checkpoint("edge", release="v1"), checkpoint("origin"),
                           old, new, tree_of(ENTRIES, 300),
                           lambda: tree_of(ENTRIES, 600))  # fmt: skip
    assert honest.status == "passed"
    forked = judge_one_log(client, checkpoint("edge", release="v1"), checkpoint("origin"),
                           Tree(300, root_of(OTHER[:300]), "v1"), new, tree_of(OTHER, 300),
                           lambda: tree_of(ENTRIES, 600))  # fmt: skip
    (found,) = forked.findings
    assert found.how == "proved" and found.served.startswith("split view")
