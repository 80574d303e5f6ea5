"""Faults of the origin pods (API v1): the log they serve, its headers, their health and
speed. The edge passes each on (`log.py`, `origin.py`, `stall.py` act them out)."""

from __future__ import annotations

from tlogcheck.refstack.faults.doc import FUNCTIONAL, READS_ROOT, FaultDoc, by_name

__all__ = ["ORIGIN"]

ORIGIN: dict[str, FaultDoc] = by_name(
    FaultDoc(
        "healthz-5xx",
        "origin",
        "none",
        "",
        "GET /healthz answers 503 with a JSON error; every other path stays healthy.",
        "TLogAvailabilityDown",
        "§1, §3.1",
        ("health",),
    ),
    FaultDoc(
        "healthz-degraded",
        "origin",
        "none",
        "",
        'GET /healthz answers 200 with {"status":"degraded",...}: the pods say they are not '
        "well, with a status code a probe reading only the code takes for healthy.",
        "TLogAvailabilityDown",
        "§1, §3.1",
        ("health",),
    ),
    FaultDoc(
        "wrong-root",
        "origin",
        "none",
        "",
        "/v1/log/root lies: its root_hash has one byte flipped (ETag matches the lying "
        "body). The checkpoint, entries and proofs stay right, so root != checkpoint and "
        "proofs fail against the served root.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion", "consistency", "db"),
    ),
    FaultDoc(
        "corrupt-entry",
        "origin",
        "optional",
        "INDEX (only that entry; default: every entry)",
        "GET /v1/log/entry/{i} serves altered bytes (one hex digit of the entry changed, "
        "still valid JSON of the same length; ETag matches the altered body). Root, "
        "checkpoint and proofs describe the real log, so the leaf hash of the served "
        "entry is not in the tree.",
        "TLogInclusionProofFail",
        "§1, §3.2, §4",
        ("inclusion",),
    ),
    FaultDoc(
        "bad-proof",
        "origin",
        "none",
        "",
        "Inclusion and consistency proofs have their first hash flipped (proofs with an "
        "empty path are unchanged).",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion", "consistency"),
    ),
    FaultDoc(
        "extra-proof-hash",
        "origin",
        "none",
        "",
        "Inclusion and consistency proofs carry one extra hash at the end (RFC 9162 "
        "verification must reject it, not ignore it).",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion", "consistency"),
    ),
    FaultDoc(
        "old-consistency-wrong",
        "origin",
        "none",
        "",
        "Consistency proofs between two older trees (second < the current size) have their "
        "first hash flipped; every proof to the current size stays right, so a client "
        "proving its old checkpoint to today's tree is satisfied and an auditor holding two "
        "old checkpoints is not.",
        "TLogInclusionProofFail",
        "§1, §3.2, §5",
        ("consistency",),
    ),
    FaultDoc(
        "checkpoint-bad-signature",
        "origin",
        "none",
        "",
        "The checkpoint's signature has one byte flipped: same key name and key id, "
        "the Ed25519 signature does not verify.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("checkpoint",),
        also=("consistency",),
    ),
    FaultDoc(
        "checkpoint-root-mismatch",
        "origin",
        "none",
        "",
        "The checkpoint is signed correctly, but over the same tree size with another "
        "root hash: the signature verifies, the tree does not match /v1/log/root.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("consistency",),
    ),
    FaultDoc(
        "etag-mismatch",
        "origin",
        "none",
        "",
        "Every 200 carries a strong ETag that is not the SHA-256 of its body.",
        "TLogCacheMissHigh",
        "§1, §3.3, §4",
        ("etag",),
    ),
    FaultDoc(
        "weak-etag",
        "origin",
        "none",
        "",
        'Every 200 carries a weak ETag W/"<sha256 of the body>" instead of a strong one.',
        "TLogCacheMissHigh",
        "§1, §3.3, §4",
        ("etag",),
    ),
    FaultDoc(
        "missing-immutable",
        "origin",
        "none",
        "",
        "Immutable paths (entries, proofs with tree_size, consistency proofs) are served "
        "with `Cache-Control: public, max-age=60` instead of one year + immutable.",
        "TLogCacheMissHigh",
        "§1, §3.3",
        ("cache",),
    ),
    FaultDoc(
        "root-immutable",
        "origin",
        "none",
        "",
        "Root and checkpoint are served with `public, max-age=31536000, immutable`: a "
        "CDN would pin the tree forever.",
        "TLogCacheMissHigh",
        "§1, §3.3",
        ("cache",),
    ),
    FaultDoc(
        "latency",
        "origin",
        "required",
        "MS (delay of every response, milliseconds)",
        "Every origin response is delayed MS ms (without blocking the server); the edge "
        "delays every response it sends too, cache hits included.",
        "LatencyP95High",
        "§1, §3.4",
        ("load",),
        also=("health",),
    ),
    FaultDoc(
        "error-rate",
        "origin",
        "required",
        "PCT (share of responses that are 500, 0-100)",
        "PCT % of responses are 500 with a JSON error, /healthz included; deterministic: "
        "the first response fails, then one in every 100/PCT (a counter, not chance). "
        "The edge fails the same share of its own responses, cache hits included.",
        "Ingress5xxHigh",
        "§1, §3.4",
        ("load",),
        also=FUNCTIONAL,
    ),
    FaultDoc(
        "proof-5xx",
        "origin",
        "none",
        "",
        "Every GET /v1/log/proof/... (inclusion proofs, with or without tree_size) answers "
        "500 with a JSON error, through the edge too (never cached); entries, root, "
        "checkpoint, consistency proofs and /healthz stay healthy. Nothing about the log is "
        "wrong: the checks that need a proof fail under Ingress5xxHigh, never as a proof "
        "(parity compares proofs across views, etag revalidates one).",
        "Ingress5xxHigh",
        "§1, §3.4",
        ("inclusion", "consistency", "cache", "root", "etag", "parity", "load"),
    ),
    FaultDoc(
        "proof-slow",
        "origin",
        "optional",
        "MS (delay of every proof answer; default 400)",
        "Every GET /v1/log/proof/... is answered MS ms late, on the origin and on the edge "
        "(cache hits included); every other path stays fast. The answers are right: the "
        "functional checks pass, the proof group's p95 breaks the §3.4 line.",
        "LatencyP95High",
        "§1, §3.4",
        ("load",),
    ),
    FaultDoc(
        "slow-body",
        "origin",
        "none",
        "",
        "Every origin body is trickled one byte per 100 ms (for at most 60 s, then the "
        "rest at once); headers come at once. A bounded client stops at its deadline: "
        "the tests that read a body fail under LatencyP95High rather than hanging.",
        "LatencyP95High",
        "§1, §3.4",
        ("load",),
        also=FUNCTIONAL,
    ),
    FaultDoc(
        "oversize-body",
        "origin",
        "optional",
        "MB (body size in MiB; default 64)",
        "GET /v1/log/entry/{i} answers 200 with a body of MB MiB (whitespace then the "
        "entry, streamed, ETag right): far beyond any sane entry; a bounded client "
        "refuses it.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion", "parity"),
        also=("root", "etag", "cache"),
    ),
    FaultDoc(
        "signer-stall",
        "origin",
        "optional",
        "K (entries the signed tree is behind; default 16)",
        "The checkpoint is validly signed, for the tree of the first N-K entries (a proven "
        "prefix), while root, entries and proofs are of N: the signer stopped and the log "
        "grew. Every view serves it, the origin included.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("consistency",),
    ),
    FaultDoc(
        "latest-proof-wrong",
        "origin",
        "none",
        "",
        "GET /v1/log/proof/{i} without tree_size (what verify_client.py URL INDEX reads) "
        "serves an audit path with its first hash flipped; proofs at a given tree_size "
        "stay right.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion",),
    ),
    FaultDoc(
        "inm-always-304",
        "origin",
        "none",
        "",
        "Any If-None-Match, matching or not, is answered 304 without a body: a client "
        "revalidating an old root is stranded on it.",
        "TLogCacheMissHigh",
        "§1, §3.3, §4",
        ("etag",),
    ),
    FaultDoc(
        "checkpoint-inm-304",
        "origin",
        "none",
        "",
        "Any If-None-Match on the checkpoint (of either API), matching or not, is answered "
        "304 without a body: a witness revalidating the checkpoint is stranded on the one "
        "it has. Every other path revalidates right.",
        "TLogCacheMissHigh",
        "§1, §3.3, §4",
        ("etag",),
    ),
    FaultDoc(
        "ims-wins",
        "origin",
        "none",
        "",
        "Answers carry Last-Modified, and any request with If-Modified-Since is answered 304 "
        "without a body, even when its If-None-Match does not match (RFC 9110 §13.2.2: the "
        "date must then be ignored): caches that send both are stranded.",
        "TLogCacheMissHigh",
        "§1, §3.3, §4",
        ("etag",),
    ),
    FaultDoc(
        "no-release-header",
        "origin",
        "none",
        "",
        "Entries and proofs are served without X-TLog-Release: the answer no longer says "
        "which release's pod made it.",
        "TLogInclusionProofFail",
        "§1, §2, §3.2",
        ("root",),
    ),
    FaultDoc(
        "wrong-content-type",
        "origin",
        "none",
        "",
        "Entries are served as `text/html; charset=utf-8` instead of application/json.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root",),
    ),
    FaultDoc(
        "lenient-index",
        "origin",
        "none",
        "",
        "Indices and sizes with a sign, leading zeros or spaces (`+5`, `05`, ` 5`), in the "
        "path and in the query, are read as numbers and answered 200 instead of 400.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root",),
    ),
    FaultDoc(
        "unicode-index",
        "origin",
        "none",
        "",
        "Indices and sizes written with decimal digits of another script (`/v1/log/entry/５`, "
        "`tree_size=２５６`, Arabic-Indic `٥`), in the path and in the query, are read as "
        "numbers (str.isdigit without isascii) and answered 200; signs, spaces and leading "
        "zeros are still refused.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root",),
    ),
    FaultDoc(
        "healthz-weak-etag",
        "origin",
        "none",
        "",
        "/healthz carries a weak ETag, as web frameworks add one: /healthz is not a log "
        "path, its ETag is nobody's business. The suite must pass.",
        "",
        "§0",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "origin-proofs-wrong",
        "origin",
        "none",
        "",
        "The pods serve inclusion and consistency proofs with their first hash flipped to "
        "every request but the edge's own fetches: the edge, warm with the right proofs "
        "cached before the pods went bad, keeps serving them.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion", "consistency", "parity"),
    ),
    FaultDoc(
        "proof-redirect",
        "origin",
        "none",
        "",
        "GET /v1/log/proof/{i} without tree_size answers `302` to its pinned form "
        "`/v1/log/proof/{i}?tree_size=N` (same origin), which is served immutable: what is "
        "finally served is judged, by the class of the path that served it. The suite "
        "must pass.",
        "",
        "§0, §3.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "blip",
        "origin",
        "optional",
        "SECONDS (how long; default 1)",
        "Once, after the origin's 40th request, every origin request is answered 503 for "
        "SECONDS seconds: a healthy target's blip. The suite must not fail (retries carry "
        "it; at worst a test is inconclusive).",
        "",
        "§3.1",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "hang",
        "origin",
        "required",
        "PATH (e.g. /v1/log/root)",
        "A GET of PATH is accepted and never answered (the connection is held until the "
        "client leaves); every other path stays healthy, /healthz included. On both views.",
        "TLogAvailabilityDown",
        "§1, §3.1",
        ("root",),
        also=READS_ROOT,
    ),
    FaultDoc(
        "trickle",
        "origin",
        "required",
        "PATH (e.g. /v1/log/root)",
        "A GET of PATH gets its status line and headers at once, then its body one byte "
        "a second; every other path stays healthy, /healthz included. On both views.",
        "LatencyP95High",
        "§1, §3.4",
        ("root",),
        also=READS_ROOT,
    ),
)
