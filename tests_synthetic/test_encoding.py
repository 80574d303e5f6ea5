"""Parity across content codings — playbook §2.3 and §3.2 step 1, TLogInclusionProofFail.

Real clients ask for compressed bodies (`Accept-Encoding: gzip`); a CDN keeps one copy
per coding, and a purge that missed one, or a bad transform, serves them other bytes than
the identity reads every other check hashes. The root, the checkpoint and a sample of
entries are read both ways on the edge: the decoded bytes must be identical.

Two answers of different releases (a canary behind the public URL) are not compared:
each release may serve its own root. Whether an edge is seen or not changes nothing: pods
and quiet caches compress too.
"""

from __future__ import annotations

import pytest

from tlogcheck.client import Response, TLogClient
from tlogcheck.client.purpose import READ, asking
from tlogcheck.plugin.verdicts import fail
from tlogcheck.spec import PATH_CHECKPOINT, PATH_ROOT, entry_path

pytestmark = pytest.mark.parity

CODING = "gzip"
ENTRIES = 8


def _both(client: TLogClient, path: str) -> tuple[Response, Response]:
    # The coded read says it is one itself (its Accept-Encoding).
    with asking(READ, "an identity read, to compare a compressed read with"):
        return client.get(path), client.get(path, accept_encoding=CODING)


def _differs(plain: Response, coded: Response) -> bool:
    if plain.status != 200 or coded.status != 200:
        return False  # the other checks judge a non-200
    if plain.release and coded.release and plain.release != coded.release:
        return False
    return plain.body != coded.body


def test_compressed_reads_decode_to_the_identity_bytes(
    tlog_client: TLogClient, sample_indices: list[int]
) -> None:
    paths = [PATH_ROOT, PATH_CHECKPOINT, *(entry_path(i) for i in sample_indices[:ENTRIES])]
    pairs = tlog_client.map(lambda p: _both(tlog_client, p), paths)
    bad = []
    for path, (plain, coded) in zip(paths, pairs, strict=True):
        if _differs(plain, coded):
            # A short-lived path may have moved on between the two reads: read once more.
            plain, coded = _both(tlog_client, path)
        if _differs(plain, coded):
            coding = coded.header("content-encoding") or "identity"
            bad.append(
                f"{path}: Content-Encoding {coding} decodes to sha256 {coded.sha256}, "
                f"identity is {plain.sha256}\n            {coded.describe()}"
                f"\n            {plain.describe()}"
            )
    if bad:
        fail(
            "parity",
            expected=f"Accept-Encoding: {CODING} reads decode to the identity bytes "
            f"({len(paths)} paths)",
            served=f"{len(bad)} differ:\n          " + "\n          ".join(bad),
        )
