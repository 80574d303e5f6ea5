"""Root — playbook §0 (`curl -s $URL/v1/log/root | jq .`); spec items 2 and "Headers".

The root is what every client verifies against, so it must be served exactly as the
spec fixes, on the edge and on the origin (X-Bypass: 1):

- 200 and a well-formed body: tree_size, root_hash in lowercase hex, an RFC 3339
  timestamp, the release;
- `X-TLog-Release` names the release that produced it, the same as the body's;
- it announces only entries that are served: entry tree_size-1 answers 200, and the
  origin answers 404 for entry tree_size;
- the API's errors are the spec's: 400 for a malformed request, 404 out of range, both
  with a JSON `{"error": ...}` body. Malformed means anything but canonical ASCII decimal
  — a sign, a leading zero, a space, a digit of another script (`５`), not a number — in
  the path and in the query of every endpoint, generated, not listed (each form of
  `spec.malformed_forms`, then seeded Hypothesis batches of `spec.malformed_numbers`); a
  number past uint64 is 400 or 404, never 200: a server that reads `+5`, `05` or `５` as
  5 answers questions nobody asked.
- every 200, of every kind of path, on both views, says which release produced it
  (`X-TLog-Release`) and is of the spec's type: application/json, the checkpoint
  text/plain in UTF-8.

Whether the root's hash is right is for the checks that can tell: inclusion (proofs),
consistency (checkpoint, recorded trees), db (db.jsonl).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tlogcheck import spec
from tlogcheck.client import TLogClient
from tlogcheck.client.purpose import PROBE, READ, asking
from tlogcheck.errors import FormatError, ServerError
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail
from tlogcheck.spec import PATH_ROOT, entry_path
from tlogcheck.verify import ServedRoot, answered_by, read_root
from tlogcheck.verify.served import answered, asked_once_more, server_error, server_errors

pytestmark = pytest.mark.root

MALFORMED_BATCHES = 4  # Hypothesis batches of generated malformed numbers


@pytest.mark.parametrize("view", ["edge", "origin"])
def test_root_is_well_formed(tlog_client: TLogClient, view: str) -> None:
    with asking(READ, f"the root the {view} serves"):
        response = tlog_client.get(PATH_ROOT, view=view)
    try:
        root = read_root(response)
    except FormatError as exc:
        fail(
            "root",
            expected=f"GET /v1/log/root on the {view} view: 200 and the spec's JSON body",
            served=f"{exc}\n          {response.describe()}",
        )
    if response.release is None:
        fail(
            "root",
            expected="an X-TLog-Release header on every response (spec: Headers)",
            served=response.describe(),
        )
    if root.release is not None and root.release != response.release:
        fail(
            "root",
            expected=f"the body's release {root.release!r} in X-TLog-Release: the pod "
            "that produced the root is of the release the root describes",
            served=f"X-TLog-Release: {response.release}; {response.describe()}",
        )


@pytest.mark.parametrize("view", ["edge", "origin"])
def test_root_announces_only_served_entries(
    tlog_client: TLogClient, served_root: ServedRoot, origin_root: ServedRoot, view: str
) -> None:
    root = served_root if view == "edge" else origin_root
    last = root.root.tree_size - 1
    with asking(READ, f"the last entry the {view}'s root announces"):
        response = answered_by(
            tlog_client, entry_path(last), view=view, release=root.response.release
        )
    answered(response)  # a 5xx is what was answered (Ingress5xxHigh), not a root verdict
    # During a canary another release's pod may answer; it does not speak for this root.
    if response.status != 200 and response.release in (None, root.response.release):
        fail(
            "root",
            expected=f"entry {last}, the last of the {root.tree.describe()} the {view} "
            "announces, answers 200",
            served=response.describe(),
        )


def test_origin_serves_no_entry_beyond_its_root(
    tlog_client: TLogClient, origin_root: ServedRoot
) -> None:
    size = origin_root.root.tree_size
    with asking(PROBE, f"entry {size}, just past the origin's tree: must be 404"):
        response = tlog_client.get(entry_path(size), view="origin")
    answered(response)
    if response.status != 404 and response.release in (None, origin_root.response.release):
        fail(
            "root",
            expected=f"404 for entry {size}: the origin's root says the log has {size} entries",
            served=response.describe(),
        )


def test_every_answer_names_its_release_and_type(
    tlog_client: TLogClient, served_root: ServedRoot, sample_indices: list[int]
) -> None:
    n = served_root.root.tree_size
    i = sample_indices[len(sample_indices) // 2]
    paths = [
        PATH_ROOT,
        spec.PATH_CHECKPOINT,
        spec.PATH_HEALTH,
        entry_path(i),
        spec.proof_path(i, n),
        spec.proof_path(i),
        spec.consistency_path(1, n),
    ]
    requests = [(p, v) for p in paths for v in ("edge", "origin")]
    with asking(READ, "every kind of answer, for its X-TLog-Release and Content-Type"):
        responses = tlog_client.map(lambda pv: tlog_client.get(pv[0], view=pv[1]), requests)
    problems = []
    for r in responses:
        if r.status != 200:
            continue  # whether it should be 200 is for the other tests
        if r.release is None:
            problems.append(f"{r.view} {r.path}: no X-TLog-Release")
        problem = spec.content_type_problem(r.served_path, r.header("content-type"))
        if problem is not None:
            problems.append(f"{r.view} {r.path}: {problem}")
    if problems:
        fail(
            "root",
            expected="every 200 carries X-TLog-Release and the spec's Content-Type "
            "(spec: Endpoints, Headers)",
            served="\n          ".join(problems[:10]),
        )


def test_malformed_requests_of_every_endpoint_are_400(
    tlog_client: TLogClient, tlog_target: Target, origin_root: ServedRoot
) -> None:
    """Every index and size of every endpoint, in the path and in the query, written as
    anything but canonical ASCII decimal: each listed form of `spec.malformed_forms`, then
    Hypothesis batches of `spec.malformed_numbers` (digits of other scripts, signs,
    spaces, leading zeros, overflow), seeded, on both views."""
    slots = spec.number_slots(origin_root.root.tree_size)
    wrong: list[str] = []
    unanswered: list[ServerError] = []  # 5xx: what was answered, not how numbers are read
    asked: list[int] = [0]

    def ask(cases: list[tuple[str, str]]) -> None:
        requests = [(t.format(quote(text, safe="")), text, v) for t, text in cases
                    for v in ("edge", "origin")]  # fmt: skip
        with asking(PROBE, "a malformed index or size: must be 400"):
            answers = tlog_client.map(lambda r: tlog_client.get(r[0], view=r[2]), requests)
            answers = asked_once_more(tlog_client, answers)
        asked[0] += len(requests)
        for (_, text, _), response in zip(requests, answers, strict=True):
            error = server_error(response)
            if error is not None:
                unanswered.append(error)
            elif response.status not in spec.refused_statuses(text):
                wrong.append(f"{text!r}: {response.describe()}")

    listed = [(t, form) for t, valid in slots for form in spec.malformed_forms(valid)]
    ask(listed)
    missing = [f"{spec.PATH_CONSISTENCY}?first=1", f"{spec.PATH_CONSISTENCY}?second=1"]
    with asking(PROBE, "a size missing: must be 400"):
        answers = tlog_client.map(tlog_client.get, missing)
    asked[0] += len(missing)
    for response in answers:
        error = server_error(response)
        if error is not None:
            unanswered.append(error)
        elif response.status != 400:
            wrong.append(f"a size missing: {response.describe()}")

    @settings(
        database=None,
        deadline=None,
        max_examples=MALFORMED_BATCHES,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @seed(tlog_target.seed)
    @given(st.lists(st.tuples(st.sampled_from(slots), spec.malformed_numbers()), min_size=8,
                    max_size=16))  # fmt: skip
    def batch(drawn: list[tuple[tuple[str, str], str]]) -> None:
        ask([(template, text) for (template, _), text in drawn])

    # Raised here, not inside Hypothesis' batches: a 5xx is no falsifying example.
    batch()
    if not wrong and unanswered:
        raise server_errors(unanswered, asked[0], "malformed requests")
    if wrong:
        fail(
            "root",
            expected=f"400 for each of {asked[0]} requests on both views with an index or "
            "size that is not canonical ASCII decimal (a sign, a leading zero, a space, a "
            "digit of another script, not a number), in the path and in the query of every "
            "endpoint; 400 or 404 for one past uint64 (spec: Endpoints)",
            served=f"{len(wrong)} were not:\n          " + "\n          ".join(wrong[:8]),
            extra={"seed": str(tlog_target.seed)},
        )


@pytest.mark.parametrize(
    "path, status",
    [
        ("/v1/log/entry/abc", 400),
        ("/v1/log/entry/01", 400),
        ("/v1/log/entry/-1", 400),
        ("/v1/log/consistency?first=1", 400),
        ("/v1/log/entry/{beyond}", 404),
        ("/v1/log/proof/0?tree_size={beyond}", 404),
    ],
)
def test_errors_are_the_specs(
    tlog_client: TLogClient, origin_root: ServedRoot, path: str, status: int
) -> None:
    # Far beyond any tree either release could serve during a canary.
    path = path.format(beyond=origin_root.root.tree_size + 2**32)
    with asking(PROBE, f"an error the spec fixes: must be {status}"):
        response = tlog_client.get(path)
    answered(response)
    expected = f'GET {path}: {status} with a JSON {{"error": ...}} body (spec: Endpoints)'
    if response.status != status:
        fail("root", expected=expected, served=response.describe())
    try:
        spec.parse_error(response.body)
    except FormatError as exc:
        fail("root", expected=expected, served=f"{exc}; {response.describe()}")
