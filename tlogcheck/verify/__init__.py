"""Verification of a live deployment, without pytest: the rules every part judges by.

The library verifies; callers decide and explain. Functions here fetch what a rule
needs through a `TLogClient`, verify it with `merkle` / `note` / `spec` / `tiles`, and
return evidence (or raise `FormatError` / `ProofError` with it). The suite
(`tests_synthetic`), `tlogcheck verify`, the incident commands and the exporter call
them, so a deployment is judged the same way wherever it is asked.

- `served`: what a rule found, typed (`Finding`, `Verdict`), and what was answered
  before any verdict about the log (a 5xx, a stall: `answered`, `finding_of`);
- `health`, `trees`, `parity`, `release`, `cache`, `probe`: the verdicts of the
  suite's checks as functions (`judge_*`), which triage and the checklists call too;
- `views`: what each view served (root, checkpoint, tree), whether an edge answers,
  and the releases behind the target during a canary (`answered_by`);
- `chain`: the inclusion chain entry -> leaf hash -> proof -> root, and consistency;
- `lag`: may a cache, or the other release of a canary, serve an older tree;
- `release`: a served tree held to its release's db.jsonl, on either view
  (`release_problem`), beside the release check's verdicts;
- `clients`: one log for every client (the whole request of curl, requests, Go, a browser);
- `conditional`: how revalidating clients are answered, on every kind of path;
- `tiles`: a C2SP tiled log read and verified tile by tile; `tiles_rules`: the rules of
  a tiled log where they differ from API v1's (its health, consistency and parity);
- `sampling`: which indices a run verifies.
"""

from __future__ import annotations

from tlogcheck.verify.chain import (
    InclusionResult,
    check_inclusion,
    check_recorded,
    compare_proofs,
    prove_extends,
    root_of_size,
    verify_inclusion_at,
    verify_inclusions,
    verify_latest_proof,
)
from tlogcheck.verify.clients import judge_two_reads, read_as_every_client
from tlogcheck.verify.lag import (
    fewer_cosignatures,
    judge_lag,
    judge_releases,
    judge_same_tree,
    origin_cache_control,
    staleness,
)
from tlogcheck.verify.release import release_problem
from tlogcheck.verify.views import (
    MIX_ATTEMPTS,
    NO_EDGE,
    EdgeProbe,
    ServedCheckpoint,
    ServedRoot,
    Tree,
    answered_by,
    from_release,
    mixed,
    origin_serving,
    probe_edge,
    read_checkpoint,
    read_root,
    release_mix,
    served_tree,
)

__all__ = [
    "MIX_ATTEMPTS",
    "NO_EDGE",
    "EdgeProbe",
    "InclusionResult",
    "ServedCheckpoint",
    "ServedRoot",
    "Tree",
    "answered_by",
    "check_inclusion",
    "check_recorded",
    "compare_proofs",
    "fewer_cosignatures",
    "from_release",
    "judge_lag",
    "judge_releases",
    "judge_same_tree",
    "judge_two_reads",
    "mixed",
    "origin_cache_control",
    "origin_serving",
    "probe_edge",
    "prove_extends",
    "read_as_every_client",
    "read_checkpoint",
    "read_root",
    "release_mix",
    "release_problem",
    "root_of_size",
    "served_tree",
    "staleness",
    "verify_inclusion_at",
    "verify_inclusions",
    "verify_latest_proof",
]
