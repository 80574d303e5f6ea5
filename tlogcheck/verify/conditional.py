"""Conditional requests (RFC 9110 §13): how a revalidating client — a cache, a witness
re-reading the checkpoint — is answered, on every kind of path the log serves.

- `If-None-Match` with the answer's own ETag: `304` and no body (API v1: the spec says
  so; a tiled log need not revalidate, but must not answer with other bytes);
- a validator that does not match — another path's ETag, a made-up one, weak or strong —
  gets `200` and the whole body: a `304` would strand the client on what it has;
- and so does that validator beside an `If-Modified-Since` the copy would satisfy: when
  If-None-Match is present, If-Modified-Since is ignored (RFC 9110 §13.2.2). A server
  that lets the date win strands every cache that sends both — most do.

A root, a checkpoint or a latest proof may move on between two reads; their "whole
body" is any body whose ETag is its hash. Anything else must be the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.utils import formatdate
from typing import TYPE_CHECKING

from tlogcheck import spec, tiles
from tlogcheck.verify.served import answered
from tlogcheck.verify.views import from_release

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = ["MADE_UP", "moves", "revalidation_problems"]

# A validator no body has: what a client that never saw this path might send.
MADE_UP = '"' + "0" * 64 + '"'
# An ETag in the spec's form; a tiled log may use others (a bucket's MD5).
_SHA256_ETAG = re.compile(r'(W/)?"[0-9a-f]{64}"')


def _whole(answer: Response, first: Response) -> bool:
    """Whether `answer` is the whole answer to `first`'s question: the same bytes, or for
    a path that moves on, any body whose ETag (in the spec's form) is its hash."""
    if not moves(answer.served_path):
        return answer.body == first.body
    etag = answer.etag
    if etag is not None and _SHA256_ETAG.fullmatch(etag):
        return bool(answer.body) and spec.etag_problem(etag, answer.body) is None
    return bool(answer.body)


def moves(path: str) -> bool:
    """Whether the body at `path` changes as the log grows (root, checkpoint, a proof
    without tree_size), so two reads may differ."""
    if path.partition("?")[0] == "/" + tiles.PATH_CHECKPOINT:
        return True
    try:
        return spec.path_kind(path) == "short"
    except ValueError:
        return False  # a tile or bundle: immutable at its path


def revalidation_problems(
    client: TLogClient,
    first: Response,
    *,
    others: Sequence[str] = (),
    strict_304: bool = True,
) -> list[str]:
    """What is wrong with how `first`'s path (a 200 with an ETag) answers conditional
    requests on `first`'s view, asked of a pod of `first`'s release; a 5xx to any of them
    raises `ServerError` (`verify.served.answered`: what was answered, Ingress5xxHigh,
    never a verdict on validators). `others`: ETags of other paths, stale validators.
    `strict_304`: a matching validator must get 304 (API v1), or may get the same bytes
    (a tiled log)."""
    etag = first.etag
    if first.status != 200 or etag is None:
        return []
    path, view = first.path, first.view

    def ask(headers: dict[str, str]) -> Response:
        return from_release(client, path, view=view, release=first.release, headers=headers)

    again = ask({"If-None-Match": etag})
    stale = [v for v in (*others, MADE_UP, "W/" + MADE_UP) if v.removeprefix("W/") != etag]
    # A date the copy it came with satisfies: its Last-Modified, else now.
    since = first.header("last-modified") or formatdate(usegmt=True)
    asks = [({"If-None-Match": v}, f"If-None-Match: {v}") for v in stale]
    asks.append(
        (
            {"If-None-Match": MADE_UP, "If-Modified-Since": since},
            f"If-None-Match: {MADE_UP} and If-Modified-Since: {since} (RFC 9110 §13.2.2: "
            "the date is ignored)",
        )
    )
    answers = [(ask(headers), said) for headers, said in asks]
    answered(again, *(a for a, _ in answers))
    problems = []
    same = again.status == 200 and again.body == first.body and not strict_304
    if not same and (again.status != 304 or again.body):
        problems.append(
            f"{view} {path} with If-None-Match: {etag} (its own ETag): expected 304 and no "
            f"body, got {again.describe()}"
        )
    for answer, said in answers:
        if answer.status != 200 or not _whole(answer, first):
            problems.append(f"{view} {path} with {said}: expected 200 and the whole body, got "
                            f"{answer.describe()}")  # fmt: skip
    return problems
