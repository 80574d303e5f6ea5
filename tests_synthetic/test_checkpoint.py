"""Checkpoint — playbook §0 and §3.2, alert TLogInclusionProofFail.

The checkpoint is the log's signed statement of its tree (C2SP tlog-checkpoint): a
well-formed signed note whose signature verifies with the configured verifier key
(`--tlog-vkey`). Without a key the signature is not verified, and the run says so: the
test is skipped with the reason, never a silent pass.

That the checkpoint and the root describe the same tree is the consistency check's.
A tiled log (`--tlog-api tiles`) is held to the same rules at `<prefix>/checkpoint`.
"""

from __future__ import annotations

import pytest

from tlogcheck import note
from tlogcheck.client import Response
from tlogcheck.errors import FormatError
from tlogcheck.playbook.checks import TILES, Check
from tlogcheck.plugin.target import Target
from tlogcheck.plugin.verdicts import fail
from tlogcheck.verify import read_checkpoint

pytestmark = [pytest.mark.checkpoint, pytest.mark.api("v1", "tiles")]


def _check(target: Target) -> str | Check:
    return TILES["checkpoint"] if target.api == "tiles" else "checkpoint"


def test_checkpoint_is_a_well_formed_signed_note(
    served_checkpoint: Response, tlog_target: Target
) -> None:
    try:
        read_checkpoint(served_checkpoint)
    except FormatError as exc:
        fail(
            _check(tlog_target),
            expected=f"GET {served_checkpoint.path}: 200 and a C2SP signed note "
            "(origin line, tree size, base64 root hash, blank line, signature lines)",
            served=f"{exc}\n          {served_checkpoint.describe()}",
        )


def test_checkpoint_signature_verifies(served_checkpoint: Response, tlog_target: Target) -> None:
    if not tlog_target.vkeys:
        pytest.skip("no --tlog-vkey given: the checkpoint's signature is NOT verified")
    verifiers = tlog_target.verifiers()
    keys = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in verifiers)
    try:
        note.verify_note(served_checkpoint.body, verifiers)
    except FormatError as exc:
        try:
            signed = note.parse_note(served_checkpoint.body)
            signers = ", ".join(f"{s.key_name}+{s.key_id.hex()}" for s in signed.signatures)
        except FormatError:
            signers = "none readable"
        fail(
            _check(tlog_target),
            expected=f"a signature that verifies with {keys} (--tlog-vkey)",
            served=f"{exc}; signatures by: {signers}\n          {served_checkpoint.describe()}",
        )
