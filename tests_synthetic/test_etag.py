"""ETag — playbook §4 (compare the root/entry ETag with the body's hash), spec "Headers".

Every 200 of the log's paths carries a strong ETag, `"<lowercase hex SHA-256 of the body
as sent, no content coding>"`; every response that has an ETag is checked, on the edge
and on the origin. A weak ETag (`W/"..."`) fails: it promises only semantic equality,
which a cache may not rely on for these bytes. `/healthz` is not a log path: whatever
ETag a web framework puts on it is not checked.

Conditional requests, on every kind of path (root, checkpoint — what witnesses
revalidate —, entry, proofs with and without tree_size, consistency) and on both views
(`verify.conditional`): `If-None-Match` with the ETag gets 304 and no body; a validator
that does not match — another path's, a made-up one, weak or strong — gets 200 and the
whole body, and so it does beside an `If-Modified-Since` the copy would satisfy (RFC 9110
§13.2.2: with If-None-Match the date is ignored). A server that answers 304 to a
validator that does not match strands every revalidating client on the copy it has.
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
from tlogcheck.verify import ServedRoot
from tlogcheck.verify.conditional import revalidation_problems
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


def test_conditional_requests_on_every_kind_of_path(
    tlog_client: TLogClient, served_root: ServedRoot, sample_indices: list[int]
) -> None:
    n = served_root.root.tree_size
    i = sample_indices[len(sample_indices) // 2]
    paths = [
        PATH_ROOT,
        PATH_CHECKPOINT,
        entry_path(i),
        proof_path(i, n),
        proof_path(i),
        consistency_path(1, n),
    ]
    with asking(READ, "a read whose ETag is then revalidated"):
        firsts = tlog_client.map(
            lambda pv: tlog_client.get(pv[0], view=pv[1]),
            [(p, v) for p in paths for v in ("edge", "origin")],
        )
    answered(*firsts)  # a 5xx is what was answered (Ingress5xxHigh), not a validator verdict
    # Stale validators a client may hold: the ETags of the other kinds of path.
    etags = {r.etag for r in firsts if r.etag is not None}

    def judge(first: Response) -> list[str]:
        if first.status == 200 and first.etag is None:
            return [f"no ETag to revalidate with: {first.describe()}"]
        others = sorted(etags - {first.etag})
        return revalidation_problems(tlog_client, first, others=others)

    # The conditional requests say they are (`client.purpose`: their validators).
    problems = [p for ps in tlog_client.map(judge, firsts) for p in ps]
    if problems:
        fail(
            "etag",
            expected="on every kind of path, both views: If-None-Match with the ETag gets 304 "
            "and no body; one that does not match (another path's, made up, weak) gets 200 "
            "and the whole body, also beside an If-Modified-Since (RFC 9110 §13.1.2, "
            "§13.2.2)",
            served=f"{len(problems)} problems:\n          " + "\n          ".join(problems[:8]),
        )
