"""Faults of the release itself: the log the origin serves is not the one the release's
db.jsonl or the previous release describe (served by the origin, `log.py`)."""

from __future__ import annotations

from tlogcheck.refstack.faults.doc import FaultDoc, by_name

__all__ = ["RELEASE"]

RELEASE: dict[str, FaultDoc] = by_name(
    FaultDoc(
        "history-rewrite",
        "release",
        "none",
        "",
        "The served log (the canary origin when a canary runs, else the origin) has entry "
        "1 changed: same size (or extended, for the canary), consistently signed and "
        "proved, but not an extension of the release's db.jsonl nor of the stable log.",
        "TLogInclusionProofFail",
        "§1, §3.2, §5",
        ("consistency", "db"),
    ),
    FaultDoc(
        "truncated",
        "release",
        "optional",
        "K (extra tree size announced; default 16)",
        "Root and checkpoint (signed) announce tree_size N+K, the root of the log with K "
        "more entries that are never served: /v1/log/entry/{i} for i >= N answers 404 "
        "while proofs up to N+K are served.",
        "TLogInclusionProofFail",
        "§1, §3.2, §4",
        ("root", "inclusion", "db"),
        also=("consistency", "parity"),
    ),
    FaultDoc(
        "origin-behind",
        "release",
        "optional",
        "K (entries of the release's db.jsonl the origin lacks; default 16)",
        "The origin serves the log of the first N-K entries of the release's db.jsonl: "
        "root, checkpoint, entries and proofs of that older tree, consistent and signed. "
        "The pods run the release's image without all of its data.",
        "TLogInclusionProofFail",
        "§1, §3.2, §4",
        ("db",),
    ),
    FaultDoc(
        "origin-ahead",
        "release",
        "optional",
        "K (entries beyond the release's db.jsonl the origin serves; default 16)",
        "The origin serves the log of the release's db.jsonl extended by K entries that "
        "are not in it (root, checkpoint, entries and proofs of that tree, consistent and "
        "signed), while the edge lags legitimately: it serves the release's own tree "
        "within max-age. The pods serve entries that are not their release's.",
        "TLogInclusionProofFail",
        "§1, §3.2, §4",
        ("db",),
    ),
)
