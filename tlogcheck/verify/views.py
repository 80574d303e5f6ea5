"""What each view served: the trees, the edge, and the releases behind the target.

During a canary the target is answered by pods of two releases (`X-TLog-Release`), and
the newer one's tree extends the older one's. A pod of the older release answers 404
for an entry or proof of the newer tree only: it does not have that tree, which says
nothing about it. `answered_by` asks such a request again until a pod of the tree's
release answers (bounded). Any answer a pod does give, of whatever release, is verified
like every other.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tlogcheck import note, spec, tiles
from tlogcheck.client.cdn import cache_signs
from tlogcheck.client.purpose import READ, asking
from tlogcheck.errors import FormatError, TLogCheckError
from tlogcheck.spec import entry_path
from tlogcheck.verify.served import answered

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient
    from tlogcheck.client.profiles import ClientProfile

__all__ = [
    "MIX_ATTEMPTS",
    "NO_EDGE",
    "EdgeProbe",
    "ServedCheckpoint",
    "ServedRoot",
    "Tree",
    "answered_by",
    "from_release",
    "mixed",
    "origin_serving",
    "probe_edge",
    "read_checkpoint",
    "read_root",
    "release_mix",
    "served_tree",
]


@dataclass(frozen=True)
class Tree:
    """A tree: its size and root hash (and the release whose pod described it)."""

    tree_size: int
    root_hash: bytes
    # Not part of the tree's identity: two releases describe the same tree alike.
    release: str | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"tree {self.tree_size}:{self.root_hash.hex()}"


@dataclass(frozen=True)
class ServedRoot:
    """The root a view served, parsed, with the response that carried it."""

    root: spec.Root
    response: Response

    @property
    def tree(self) -> Tree:
        return Tree(self.root.tree_size, self.root.root_hash, self.response.release)


_TILES_CHECKPOINT = "/" + tiles.PATH_CHECKPOINT


@dataclass(frozen=True)
class ServedCheckpoint:
    """A checkpoint as one view served it, with the tree it describes (signature not
    verified here)."""

    tree: Tree
    response: Response


# --- the edge and the releases behind the target --------------------------------------

NO_EDGE = (
    "target has no edge (no Age, Via or cache-status header on its answers): the cache hit "
    "rate is not measured"
)
# Requests `answered_by` may spend on one path during a canary: at a 10 % canary step
# the chance that none reaches a canary pod is 0.9**128, about 1e-6.
MIX_ATTEMPTS = 128


@dataclass(frozen=True)
class EdgeProbe:
    """What the first requests to the target said about what answers there."""

    has_edge: bool | None  # None: no answer to tell by
    evidence: str
    releases: dict[str, int]


def probe_edge(client: TLogClient, api: str = "v1") -> EdgeProbe:
    """Whether a cache answers at the target: any sign a cache leaves on an answer of the
    edge view (`Age`, `Via`, any cache-status header: `client.cdn.cache_signs`), whoever
    made it and whatever words it speaks. A Service URL, or pods reached directly, leaves
    none. Stops at the first request that gets no answer. A tiled log (`api="tiles"`) is
    asked for its checkpoint.

    Only the hit rate needs an edge: the two views are compared whatever this says."""
    asks = [
        (spec.PATH_ROOT, "edge"),
        (entry_path(0), "edge"),
        (entry_path(0), "edge"),
        (spec.PATH_ROOT, "origin"),
        (entry_path(0), "origin"),
    ]
    if api == "tiles":
        cp = _TILES_CHECKPOINT
        asks = [(cp, "edge"), (cp, "edge"), (cp, "origin")]
    releases: Counter[str] = Counter()
    edge_answers: list[Response] = []
    problem = ""
    for path, view in asks:
        try:
            with asking(READ, "first reads: does a cache answer at the target"):
                response = client.get(path, view=view)
        except TLogCheckError as exc:
            problem = str(exc)
            break
        if response.release is not None:
            releases[response.release] += 1
        if view == "edge":
            edge_answers.append(response)
    for r in edge_answers:
        signs = cache_signs(r.headers)
        if signs:
            shown = ", ".join(f"{name}: {value[:80]}" for name, value in signs[:3])
            return EdgeProbe(True, f"{shown} on GET {r.path}", dict(releases))
    if edge_answers:
        paths = ", ".join(sorted({r.path for r in edge_answers}))
        evidence = f"no Age, Via or cache-status header on {len(edge_answers)} answers ({paths})"
        return EdgeProbe(False, evidence, dict(releases))
    return EdgeProbe(None, f"the first requests got no answer: {problem}", dict(releases))


def release_mix(counts: Mapping[str, int]) -> str:
    """`v2.7.1: 57, v2.7.0: 7`: responses per release, most first."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{release}: {n}" for release, n in ordered) or "no responses"


def mixed(a: str | None, b: str | None) -> bool:
    """Whether two answers come from pods of two different releases (a canary running)."""
    return a is not None and b is not None and a != b


def _ask_until(
    client: TLogClient,
    path: str,
    *,
    view: str,
    done: Callable[[Response], bool],
    first: Response | None,
    headers: Mapping[str, str] | None = None,
    as_client: ClientProfile | None = None,
) -> Response:
    def ask() -> Response:
        return client.get(path, view=view, headers=headers, as_client=as_client)

    response = first if first is not None else ask()
    attempts = 1
    end = time.monotonic() + client.deadline
    while not done(response) and attempts < MIX_ATTEMPTS and time.monotonic() < end:
        response = ask()
        attempts += 1
    return response


def origin_serving(client: TLogClient, size: int, first: Response) -> Response:
    """The origin's root (or checkpoint: `first`'s path), asked again (bounded as
    `answered_by`) until a pod serving at least `size` entries answers: during a canary,
    the newer release's pods are a few of the origin Service's. The last answer when none
    did; `first`: the answer already had."""

    def done(r: Response) -> bool:
        try:
            return served_tree(r).tree_size >= size
        except FormatError:
            return True  # not a root at all: asking again will not make it one

    path = first.path.partition("?")[0]
    return _ask_until(client, path, view="origin", done=done, first=first)


def answered_by(
    client: TLogClient,
    path: str,
    *,
    view: str = "edge",
    release: str | None,
    first: Response | None = None,
) -> Response:
    """GET `path` for a tree of `release`: a 404 from a pod of another release (it does
    not have that tree) is asked again, at most MIX_ATTEMPTS requests and the client's
    deadline; any other answer is returned as it is. `first`: an answer already had."""

    def done(r: Response) -> bool:
        return not (r.status == 404 and mixed(r.release, release))

    return _ask_until(client, path, view=view, done=done, first=first)


def from_release(
    client: TLogClient,
    path: str,
    *,
    view: str = "edge",
    release: str | None,
    headers: Mapping[str, str] | None = None,
    as_client: ClientProfile | None = None,
) -> Response:
    """GET `path` until a pod of `release` answers (bounded as `answered_by`); the last
    answer when none did. `as_client`: asked as that client asks (`client.profiles`)."""
    return _ask_until(
        client,
        path,
        view=view,
        done=lambda r: not mixed(r.release, release),
        first=None,
        headers=headers,
        as_client=as_client,
    )


# --- root and checkpoint -------------------------------------------------------------


def read_root(response: Response) -> spec.Root:
    """The root in a `/v1/log/root` response; FormatError naming what is wrong
    (`ServerError` for a 5xx: what was answered, not a malformed root)."""
    answered(response)
    if response.status != 200:
        raise FormatError(f"{response.path} answered {response.status}, not 200")
    root = spec.parse_root(response.body)
    if root.tree_size < 1:
        raise FormatError(f"tree_size {root.tree_size}: a served log is never empty")
    return root


def read_checkpoint(response: Response) -> tuple[note.SignedNote, note.Checkpoint]:
    """The signed note and checkpoint in a `/v1/log/checkpoint` response (unverified);
    `ServerError` for a 5xx."""
    answered(response)
    if response.status != 200:
        raise FormatError(f"{response.path} answered {response.status}, not 200")
    signed = note.parse_note(response.body)
    return signed, note.parse_checkpoint(signed.text)


def served_tree(response: Response) -> Tree:
    """The tree a root or checkpoint response describes (unverified); FormatError if none."""
    if response.path.partition("?")[0] in (spec.PATH_CHECKPOINT, _TILES_CHECKPOINT):
        _, cp = read_checkpoint(response)
        return Tree(cp.tree_size, cp.root_hash, response.release)
    root = read_root(response)
    return Tree(root.tree_size, root.root_hash, response.release)
