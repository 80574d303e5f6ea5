"""ETag — playbook §4 (compare the root/entry ETag with the body's hash), spec "Headers".

Every 200 of the log's paths carries a strong ETag, `"<lowercase hex SHA-256 of the body
as sent, no content coding>"`; every response that has an ETag is checked, on the edge
and on the origin. A weak ETag (`W/"..."`) fails: it promises only semantic equality,
which a cache may not rely on for these bytes. `/healthz` is not a log path: whatever
ETag a web framework puts on it is not checked.

Conditional requests, on the edge and on the origin: `If-None-Match` with the ETag gets
304 and no body; a validator that does not match — a stale one, one of another path, a
made-up one — gets 200 and the whole body. A server that answers 304 to any
`If-None-Match` strands every revalidating client on the copy it already has.
"""

from __future__ import annotations

import pytest

from tlogcheck.client import Response, TLogClient
from tlogcheck.client.purpose import READ, asking
from tlogcheck.plugin.verdicts import fail
from tlogcheck.spec import (
    PATH_CHECKPOINT,
    PATH_ROOT,
    consistency_path,
    entry_path,
    etag_problem,
    proof_path,
)
from tlogcheck.verify import ServedRoot, from_release
from tlogcheck.verify.served import answered

pytestmark = pytest.mark.etag

PER_RUN = 8  # sampled indices whose entry and proofs are looked at


def log_paths(tree_size: int, indices: list[int]) -> list[str]:
    """One path of every kind of the API, entries and proofs for some sampled indices."""
    paths = [PATH_ROOT, PATH_CHECKPOINT, consistency_path(1, tree_size)]
    for i in indices[:PER_RUN]:
        paths += [entry_path(i), proof_path(i, tree_size), proof_path(i)]
    return paths


def test_every_etag_is_the_sha256_of_its_body(
    tlog_client: TLogClient, served_root: ServedRoot, sample_indices: list[int]
) -> None:
    n = served_root.root.tree_size
    requests = [(p, v) for p in log_paths(n, sample_indices) for v in ("edge", "origin")]
    with asking(READ, "every kind of answer, for its ETag"):
        responses = tlog_client.map(lambda pv: tlog_client.get(pv[0], view=pv[1]), requests)
    problems = []
    for response in responses:
        problem = etag_problem(response.etag, response.body)
        if problem is None and response.status == 200 and response.etag is None:
            problem = "a 200 without an ETag"
        if problem is not None:
            problems.append(f"{problem}\n            {response.describe()}")
    if problems:
        fail(
            "etag",
            expected='ETag: "<SHA-256 of the body>" (strong) on every 200 of the log\'s paths',
            served=f"{len(problems)} of {len(responses)} responses:\n          "
            + "\n          ".join(problems[:10]),
        )


def _revalidate(client: TLogClient, path: str) -> tuple[Response, Response | None]:
    # The read whose ETag is revalidated; the conditional request says it is one itself.
    with asking(READ, "a read whose ETag is then revalidated"):
        first = client.get(path)
    if first.etag is None:
        return first, None
    # During a canary a pod of another release may answer: its root is another body
    # with another ETag. Revalidate with a pod of the release that gave the ETag.
    headers = {"If-None-Match": first.etag}
    return first, from_release(client, path, release=first.release, headers=headers)


def test_if_none_match_gets_304_without_a_body(
    tlog_client: TLogClient, sample_indices: list[int]
) -> None:
    paths = [PATH_ROOT, entry_path(sample_indices[0])]
    problems = []
    for first, second in tlog_client.map(lambda p: _revalidate(tlog_client, p), paths):
        answered(first, *([second] if second is not None else []))
        if second is None:
            problems.append(f"no ETag to revalidate with: {first.describe()}")
        elif second.status != 304 or second.body:
            problems.append(
                f"If-None-Match: {first.etag} answered {second.status} with "
                f"{len(second.body)} bytes: {second.describe()}"
            )
    if problems:
        fail(
            "etag",
            expected="If-None-Match with the ETag: 304 and no body (spec: Headers)",
            served="\n          ".join(problems),
        )


# A validator no body has: what a client that never saw this path might send.
MADE_UP = '"' + "0" * 64 + '"'


def _stale_validators(client: TLogClient, path: str, view: str) -> list[str]:
    """Who asks with what: the ETag of another path, a made-up one, a weak made-up one."""
    other = PATH_CHECKPOINT if path != PATH_CHECKPOINT else PATH_ROOT
    validators = [MADE_UP, "W/" + MADE_UP]
    with asking(READ, "another path's ETag, to revalidate with"):
        etag = client.get(other, view=view).etag
    if etag is not None:
        validators.insert(0, etag)
    return validators


def test_a_validator_that_does_not_match_gets_the_whole_answer(
    tlog_client: TLogClient, sample_indices: list[int]
) -> None:
    asks = [(p, v) for p in (PATH_ROOT, entry_path(sample_indices[0])) for v in ("edge", "origin")]

    def ask(path_view: tuple[str, str]) -> list[str]:
        path, view = path_view
        with asking(READ, "a plain read to compare conditional answers with"):
            plain = tlog_client.get(path, view=view)
        problems = []
        for validator in _stale_validators(tlog_client, path, view):
            if plain.etag is not None and validator.removeprefix("W/") == plain.etag:
                continue  # the path's own ETag after all: nothing stale about it
            answer = from_release(
                tlog_client,
                path,
                view=view,
                release=plain.release,
                headers={"If-None-Match": validator},
            )
            answered(plain, answer)
            # The root may move on between two reads; an entry never does.
            whole = (
                answer.body == plain.body
                if path != PATH_ROOT
                else bool(answer.body) and etag_problem(answer.etag, answer.body) is None
            )
            if answer.status != 200 or not whole:
                problems.append(
                    f"{view} {path} with If-None-Match: {validator}: {answer.describe()}"
                )
        return problems

    problems = [p for found in tlog_client.map(ask, asks) for p in found]
    if problems:
        fail(
            "etag",
            expected="If-None-Match that does not match the ETag: 200 and the whole body "
            "(RFC 9110 §13.1.2)",
            served="\n          ".join(problems[:8]),
        )
