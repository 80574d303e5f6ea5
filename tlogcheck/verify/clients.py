"""One log for every client: what each client a log's users read it with is served, read
as that client asks (`client.profiles`: the whole request, not only the User-Agent),
compared with what tlogcheck is served.

A log that shows its monitor one thing and its users another is what transparency
exists to catch. Two reads of a path may differ only because the log moved on between
them (`judge_two_reads`): the root or checkpoint of an older tree that is a proven
prefix of the other, or an older copy of the same signed tree with fewer cosignatures,
each within what the origin's Cache-Control allows. Everything else — entries, proofs
at a size, tiles, bundles — never changes and must be the same bytes. The check runs
with or without an edge: pods can tell clients apart as well as a CDN can.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tlogcheck import spec, tiles
from tlogcheck.client.profiles import CLIENT_PROFILES, ClientProfile
from tlogcheck.client.purpose import READ, asking
from tlogcheck.errors import FormatError
from tlogcheck.verify.lag import fewer_cosignatures, judge_lag, judge_same_tree
from tlogcheck.verify.served import answered
from tlogcheck.verify.views import from_release, mixed, served_tree

if TYPE_CHECKING:
    from tlogcheck.client import Response, TLogClient

__all__ = ["MOVING_PATHS", "judge_two_reads", "read_as_every_client"]

# The paths whose bytes change as the log grows: a root and a checkpoint, of either API.
MOVING_PATHS = frozenset({spec.PATH_ROOT, spec.PATH_CHECKPOINT, "/" + tiles.PATH_CHECKPOINT})


def judge_two_reads(client: TLogClient, ours: Response, theirs: Response) -> str | None:
    """Why two reads of one path differ, or None when they do not, or when the log only
    moved on between them (see the module docstring)."""
    if (ours.status, ours.body) == (theirs.status, theirs.body):
        return None
    path = ours.served_path.partition("?")[0]
    if path not in MOVING_PATHS or ours.status != 200 or theirs.status != 200:
        return "different status or bytes"
    try:
        a, b = served_tree(ours), served_tree(theirs)
    except FormatError as exc:
        return f"unreadable: {exc}"
    if a == b:
        fewer = ours if fewer_cosignatures(ours.body, theirs.body) is None else theirs
        return judge_same_tree(client, fewer, theirs if fewer is ours else ours)
    (older, older_response), (newer, _) = sorted(
        ((a, ours), (b, theirs)), key=lambda pair: pair[0].tree_size
    )
    return judge_lag(client, older=older, newer=newer, older_response=older_response)


def read_as_every_client(
    client: TLogClient,
    paths: Sequence[str],
    *,
    release: str | None,
    profiles: Sequence[ClientProfile] = CLIENT_PROFILES,
) -> list[str]:
    """Read each of `paths` through the edge as tlogcheck does and as each of `profiles`
    does; the differences that are not the log moving on, one text each naming the client
    and both answers. During a canary each read is asked until a pod of `release` (or of
    the release tlogcheck's read came from) answers; one that never does is not compared.
    A 5xx on either read raises `ServerError` (`verify.served.answered`): what was
    answered (Ingress5xxHigh), never a difference between clients."""

    def compare(path: str) -> list[str]:
        with asking(READ, "a read as tlogcheck, to compare other clients' with"):
            ours = from_release(client, path, release=release)
        differ = []
        for profile in profiles:
            # Recorded as a read as that client (`client.purpose`), whatever is in force.
            theirs = from_release(client, path, release=ours.release, as_client=profile)
            if mixed(theirs.release, ours.release):
                continue  # no pod of that release answered: nothing to compare
            answered(ours, theirs)
            problem = judge_two_reads(client, ours, theirs)
            if problem is not None:
                differ.append(
                    f"{path} as {profile.name} ({profile.user_agent!r}): {problem}\n"
                    f"            as {profile.name}: {theirs.describe()}\n"
                    f"            as tlogcheck: {ours.describe()}"
                )
        return differ

    return [line for lines in client.map(compare, list(paths)) for line in lines]
