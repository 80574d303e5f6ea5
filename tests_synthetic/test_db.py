"""db.jsonl — playbook §4 (`sha256sum db.jsonl`, rebuild the TLog root) and §3.2 step 2.

With `--tlog-db`, the release's db.jsonl is read once (streaming):

- its SHA-256 equals the release's (`--tlog-db-sha256`, hex or a sha256sum file);
- the Merkle root rebuilt from it equals the served root at the served size, on the edge
  and on the origin (`verify.release.release_problem`). An edge that lags behind the
  file is compared with the file's prefix of that size; a served tree larger than the
  file fails, on either view: it announces entries the release does not have — pods
  doing so are caught even while the edge lags legitimately.
- the origin (X-Bypass: 1) serves the whole file: only a cache may lag, never the pods
  that run the release. During a canary the origin Service mixes the older release's
  pods with the newer's, so the origin is asked until a pod serving the file's size
  answers (bounded); none in the bounded asks is an origin behind its release.

All three hold for a tiled log too (`--tlog-api tiles`): its served tree is the
checkpoint's.

Without `--tlog-db` they are skipped with the reason.
"""

from __future__ import annotations

import pytest

from tlogcheck.client import TLogClient
from tlogcheck.client.purpose import READ, asking
from tlogcheck.db import DbAudit
from tlogcheck.errors import FormatError
from tlogcheck.plugin.fixtures import served_by
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail, render
from tlogcheck.verify import origin_serving, served_tree
from tlogcheck.verify.release import judge_db_hash, judge_db_root

pytestmark = pytest.mark.db


@pytest.mark.api("v1", "tiles")
def test_db_jsonl_matches_the_release_hash(tlog_target: Target, db_audit: DbAudit) -> None:
    # The rules are verify.release's: triage's §3.2 step 2 and the quarterly audit too.
    render(
        judge_db_hash(
            db_audit, tlog_target.db_sha256, str(tlog_target.db_sha256_source), str(tlog_target.db)
        )
    )


@pytest.mark.api("v1", "tiles")
def test_db_jsonl_rebuilds_the_served_root(
    tlog_target: Target, db_audit: DbAudit, request: pytest.FixtureRequest
) -> None:
    served = served_by(request, tlog_target)
    render(judge_db_root(db_audit, served.tree, served.response, str(tlog_target.db)))


@pytest.mark.api("v1", "tiles")
def test_db_jsonl_rebuilds_the_origins_root(
    tlog_target: Target, db_audit: DbAudit, request: pytest.FixtureRequest
) -> None:
    # However the edge looks (a lagging edge hides a newer tree), the pods serve nothing
    # their release does not hold.
    served = served_by(request, tlog_target, "origin")
    render(judge_db_root(db_audit, served.tree, served.response, str(tlog_target.db)))


@pytest.mark.api("v1", "tiles")
def test_origin_serves_the_whole_release(
    tlog_client: TLogClient,
    tlog_target: Target,
    db_audit: DbAudit,
    request: pytest.FixtureRequest,
) -> None:
    origin = served_by(request, tlog_target, "origin")
    want = db_audit.tree_size
    with asking(READ, "the origin's tree, from a pod that serves the whole release"):
        response = origin_serving(tlog_client, want, origin.response)
    try:
        served = served_tree(response).tree_size
    except FormatError as exc:
        fail(
            "db",
            expected=f"the origin's {response.path}, to compare with {tlog_target.db}",
            served=f"{exc}\n          {response.describe()}",
        )
    if served < want:
        fail(
            "db",
            expected=f"the origin ({tlog_target.origin_view}) serves all {want} entries of "
            f"{tlog_target.db}: only a cache may lag behind the release",
            served=f"the origin serves a tree of {served} entries, {want - served} behind\n"
            f"          {response.describe()}",
        )
