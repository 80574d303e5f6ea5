"""Faults of the CDN edge: what it caches, for how long, for whom, in which words; the
origin stays healthy (`edge_faults.py`, `variant.py` act them out)."""

from __future__ import annotations

from tlogcheck.refstack.faults.doc import FaultDoc, by_name

__all__ = ["EDGE"]

EDGE: dict[str, FaultDoc] = by_name(
    FaultDoc(
        "stale-edge-root",
        "edge",
        "none",
        "",
        "The edge keeps serving an older, consistent tree (a prefix of the origin's) "
        "past its max-age: root and checkpoint differ from the origin's (X-Bypass: 1) "
        "and the edge's Age exceeds the max-age.",
        "TLogInclusionProofFail",
        "§1, §2.3, §3.2",
        ("parity",),
        also=("consistency", "cache"),
    ),
    FaultDoc(
        "edge-lag",
        "edge",
        "none",
        "",
        "The edge serves an older, consistent tree within its max-age (Age <= max-age): "
        "what any CDN does for up to max-age after a release. The suite must accept it.",
        "",
        "§2.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "split-view",
        "edge",
        "none",
        "",
        "The edge serves a tree of the same size whose entries differ from the "
        "origin's: the edge's tree is not a prefix of the origin's (a split view).",
        "TLogInclusionProofFail",
        "§1, §2.3, §3.2",
        ("parity",),
        also=("consistency", "db"),
    ),
    FaultDoc(
        "cache-always-miss",
        "edge",
        "none",
        "",
        "The edge never caches (X-Cache: MISS on every read, every request reaches the "
        "origin) while the origin's headers stay right: a CDN rule gone wrong.",
        "TLogCacheMissHigh",
        "§1, §3.3",
        ("cache",),
    ),
    FaultDoc(
        "edge-no-query-cache",
        "edge",
        "none",
        "",
        "The edge never caches a URL with a query string (proofs at a tree size, "
        "consistency proofs: X-Cache: MISS every time, each read reaching the origin) while "
        "it caches entries: a CDN rule that leaves query strings out. Every proof a client "
        "verifies misses; a hit rate over entries alone looks fine.",
        "TLogCacheMissHigh",
        "§1, §3.3",
        ("cache",),
    ),
    FaultDoc(
        "ua-split-view",
        "edge",
        "none",
        "",
        "The edge serves clients that do not say they are tlogcheck (curl, Python "
        "requests, browsers) a forked log of the same size (another root, one entry "
        "altered); tlogcheck's own reads and X-Bypass get the honest log: the monitor and "
        "the users see two logs.",
        "TLogInclusionProofFail",
        "§1, §2.3, §3.2",
        ("parity",),
    ),
    FaultDoc(
        "edge-lag-swr",
        "edge",
        "none",
        "",
        "The origin sends `stale-while-revalidate=600` on root and checkpoint, and the "
        "edge serves an older, consistent tree past its max-age but within that window "
        "(Age = max-age + 60): the edge follows the origin's instructions. The suite must "
        "pass, and say so in the run summary.",
        "",
        "§2.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "cdn-dialect",
        "edge",
        "required",
        "VENDOR (cloudfront, akamai, fastly, azure, rfc9211, ats, ats-via, age-only, unknown)",
        "The edge reports its cache status in a vendor's words (`X-Cache: TCP_MEM_HIT from "
        "a23-...` for akamai, `Cache-Status: tlog-edge; hit` for rfc9211, Traffic Server's "
        "`X-Cache: hit-fresh` and `Via: ... [cHs f ]` for ats, ...), or says none and "
        "leaves only the signs a cache leaves (ats-via: Via codes and Age; age-only: the "
        "Age of a hit). The suite must pass (age-only: the hit rate unmeasured, said); with "
        "`unknown` (words no vendor documents) the hit rate is inconclusive, quoting them, "
        "never failed.",
        "",
        "§3.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "multi-node-edge",
        "edge",
        "optional",
        "K (nodes, each with its own cache; default 3)",
        "The edge is K nodes behind one name, each with its own cache, taking requests in "
        "turn: a second read lands on another node and misses. The steady-state miss "
        "ratio stays low; the suite must pass.",
        "",
        "§3.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "gzip-variant",
        "edge",
        "none",
        "",
        "The edge's gzip copies differ from what it serves plain: a request with "
        "Accept-Encoding: gzip gets the identity body with one hex digit changed, gzipped "
        "(ETag unchanged); identity reads and X-Bypass stay right.",
        "TLogInclusionProofFail",
        "§2.3, §3.2",
        ("parity",),
    ),
    FaultDoc(
        "edge-lag-s-maxage",
        "edge",
        "none",
        "",
        "The origin sends `s-maxage=240` beside `max-age=60` on root and checkpoint, and the "
        "edge serves an older, consistent tree 180 s old: past max-age, within the "
        "lifetime the origin gives shared caches. The suite must pass.",
        "",
        "§2.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "edge-cache-control-rewrite",
        "edge",
        "none",
        "",
        "The edge rewrites the Cache-Control of the root and checkpoint it keeps to "
        "`public, max-age=300` (the origin sends max-age=60) and serves an older, "
        "consistent tree 200 s old: within its own rewritten lifetime, past the origin's.",
        "TLogInclusionProofFail",
        "§2.3, §3.2, §3.3",
        ("parity", "cache"),
    ),
    FaultDoc(
        "long-stale-while-revalidate",
        "edge",
        "none",
        "",
        "The origin sends `stale-while-revalidate=31536000` on root and checkpoint, and the "
        "edge, following it, serves an older consistent tree three days old.",
        "TLogInclusionProofFail",
        "§2.3, §3.2, §3.3",
        ("parity", "cache"),
    ),
    FaultDoc(
        "long-s-maxage",
        "edge",
        "none",
        "",
        "The origin sends `s-maxage=900` beside `max-age=60` on root and checkpoint, and the "
        "edge, following it, serves an older consistent tree 600 s old: past what the "
        "spec's table lets any cache keep a root.",
        "TLogInclusionProofFail",
        "§2.3, §3.2, §3.3",
        ("parity", "cache"),
    ),
    FaultDoc(
        "edge-fewer-cosignatures",
        "edge",
        "none",
        "",
        "The origin's checkpoint carries a witness's cosignature after the log's signature; "
        "the edge serves, within max-age, its older copy of the same signed tree without "
        "it (the log's signed text and signature unchanged). The suite must pass.",
        "",
        "§2.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "edge-forged-cosignature",
        "edge",
        "none",
        "",
        "The edge serves the checkpoint with a witness cosignature line the origin never "
        "sent (the log's text and signature unchanged): a CDN vouching for a witness.",
        "TLogInclusionProofFail",
        "§2.3, §3.2",
        ("parity",),
    ),
    FaultDoc(
        "go-split-view",
        "edge",
        "none",
        "",
        "The edge serves Go's net/http clients (User-Agent Go-http-client/..., what "
        "witnesses and sumdb-style verifiers read with) a forked log of the same size; "
        "every other client gets the honest log.",
        "TLogInclusionProofFail",
        "§1, §2.3, §3.2",
        ("parity",),
    ),
    FaultDoc(
        "curl-split-view",
        "edge",
        "none",
        "",
        "The edge serves a forked log of the same size to every request that sends no "
        "Accept-Encoding (curl's default request), whatever its User-Agent; requests that "
        "name a coding, identity or gzip, get the honest log.",
        "TLogInclusionProofFail",
        "§1, §2.3, §3.2",
        ("parity",),
    ),
    FaultDoc(
        "edge-brotli",
        "edge",
        "none",
        "",
        "The edge answers requests that accept br (every browser) with the body "
        "brotli-coded, `Content-Encoding: br`, as CDNs do: the same bytes once decoded. "
        "The suite must pass.",
        "",
        "§2.3",
        (),
        legitimate=True,
    ),
)
